"""Tiny SketchGloc hparams, random batches and recurrent cells shared by the SketchGloc tests."""

import numpy as np

from sketchgloc_tf2.hparams import HParams
from sketchgloc_tf2.layers.cells import HyperLSTMCell


def tiny_hparams(**changes):
    values = dict(enc_rnn_size=4, dec_rnn_size=6, z_size=3, batch_size=2, enc_model="lstm",
                  dec_model="hyper", use_recurrent_dropout=False, num_mixture_components=2)
    values.update(changes)
    return HParams(**values)


def random_batch(rng, batch=2, steps=5, nodes=3, node_len=4):
    """A structurally valid batch: packed node rows, lengths, counts, 0/1 boxes."""
    strokes_num = rng.integers(1, nodes + 1, size=batch).astype(np.int32)
    rows = batch * nodes
    lengths = np.zeros(rows, np.int32)
    lengths[: strokes_num.sum()] = rng.integers(1, node_len + 1, size=strokes_num.sum())
    strokes = rng.normal(size=(rows, node_len, 2)).astype(np.float32)
    strokes *= (np.arange(node_len)[None, :, None] < lengths[:, None, None])
    seqs = np.zeros((batch, steps + 1, 5), np.float32)
    seqs[:, :, :2] = rng.normal(size=(batch, steps + 1, 2))
    seqs[:, 0] = [0, 0, 1, 0, 0]
    pen = rng.integers(0, 3, size=(batch, steps))
    seqs[:, 1:, 2:] = np.eye(3)[pen]
    box = (rng.random((batch, nodes, nodes, 9)) > 0.6).astype(np.float32)
    return dict(input_seqs=seqs, input_strokes=strokes, input_stroke_len=lengths,
                input_strokes_num=strokes_num, input_box=box)


def randomise(layer, rng, scale=0.5):
    """Gives every weight random values (so zero-initialised hyper blocks matter)."""
    for weight in layer.weights:
        if weight.trainable:
            weight.assign(rng.normal(0.0, scale, weight.shape).astype(np.float32))


def make(cell_class, units=5, input_dim=3, **kwargs):
    extra = dict(hyper_num_units=7, hyper_embedding_size=4) if cell_class is HyperLSTMCell else {}
    cell = cell_class(units, **extra, **kwargs)
    cell.build((None, input_dim))
    return cell
