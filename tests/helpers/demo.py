"""Tiny SketchGloc and Sketch-BERT presets (random weights) and a background server for the
browser demo's tests."""

import contextlib
import threading

import tensorflow as tf

from bert_tf2 import SketchBert
from bert_tf2.config import load_config
from bert_tf2.model import build_model
from helpers.bert_data import tiny_config
from helpers.raw_sketches import random_sketches
from sketchgloc_tf2 import SketchGloc
from sketchgloc_tf2.hparams import HParams
from sketch_demo.server import make_server
from sketchgloc_tf2.model import SketchGlocModel

CLASS_NAMES = ["apple", "bee", "cat", "dog", "eye", "fish"]
GLOC_SIZES = dict(max_seq_len=48, max_stroke_len=12, max_strokes_num=8,
                  normalizing_scale_factor=20.0)
BERT_MAX_LENGTH = 40
Z_SIZE = 4


def write_tiny_presets(root) -> dict:
    """Writes `root/gloc` and `root/bert` (a classification head over `CLASS_NAMES`).

    Returns:
        `{"gloc": directory, "bert": directory}` (str), for `--gloc` / `--bert`.
    """
    tf.keras.utils.set_random_seed(0)
    hparams = HParams(categories=["circle", "star"], enc_rnn_size=8, dec_rnn_size=16,
                      dec_model="lstm", z_size=Z_SIZE, num_mixture_components=3,
                      use_recurrent_dropout=False, **GLOC_SIZES)
    SketchGloc(SketchGlocModel.from_hparams(hparams), hparams).save_to_preset(
        str(root / "gloc"), {"description": "tiny test preset"})
    config = load_config(tiny_config(root, "demo", task_types=["sketchclsinput"],
                                     cls_dim=len(CLASS_NAMES), max_length=BERT_MAX_LENGTH))
    SketchBert(build_model(config), config, CLASS_NAMES).save_to_preset(
        str(root / "bert"), {"description": "tiny test preset"})
    return {"gloc": str(root / "gloc"), "bert": str(root / "bert")}


def sample_sketches() -> list:
    """Three hand-made stroke-3 sketches (original units) of 7, 12 and 20 points."""
    return random_sketches((7, 12, 20), spread=15)


@contextlib.contextmanager
def running_server(app):
    """Serves the WSGI `app` with the demo's waitress server on a free loopback port in a
    background thread; yields its base URL (`http://127.0.0.1:PORT`)."""
    http_server = make_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=http_server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http_server.effective_port}"
    finally:
        http_server.close()
        thread.join(timeout=10)
