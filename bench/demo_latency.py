"""Benchmark: the browser demo's answer times, over HTTP, as the page sees them.

Starts the demo server (`sketch_demo`) on a free loopback port with the shipped presets and
times, after warm-up, `POST /v1/models/sketch_bert:predict` (`classify`; `serving_default` =
embed when the Sketch-BERT preset has no classification head, said in `config.signature`) and
`POST /v1/models/sketchgloc:predict` (`reconstruct`, temperature 0.24) for one sketch of 100
points (the shared `cat.npz` test drawings joined and cut to 100 points: none has 100; a
synthetic spiral if the data is absent). One JSON line per measurement (DESIGN.md §2); the
1-minute load average is reported as `load_1min` (other jobs share the cores); `compile_s` is the
time to load both presets and warm their signatures up.

Run: `python bench/demo_latency.py [--gloc PRESET] [--bert PRESET] [--runs 20] [--warmup 3]`
(default Sketch-BERT preset: `sketch_bert_qd336_small_cls` when shipped, else
`sketch_bert_qd336_small`).
"""

import argparse
import json
import os
import sys
import time
import urllib.request

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import REPO, SHARED_DATA, emit, time_runs  # noqa: E402

POINTS = 100


def sketch_of(points: int):
    """A `[points, 3]` stroke-3 drawing in original units (real when the data is there)."""
    import numpy as np

    path = os.path.join(SHARED_DATA, "quickdraw", "cat.npz")
    if os.path.exists(path):
        from sketch_common.safe_pickle import load_npz

        # The shared drawings have fewer than 100 points: consecutive ones are joined.
        sketch = np.concatenate(list(load_npz(path)["test"]))[:points].astype(np.float32)
        sketch[-1, 2] = 1
        return sketch, "cat.npz test drawings, joined"
    angles = np.linspace(0, 6 * np.pi, points)
    sketch = np.stack([np.diff(np.cos(angles) * 100, prepend=0),
                       np.diff(np.sin(angles) * 100, prepend=0), np.zeros(points)], 1)
    sketch[::25, 2] = 1
    sketch[-1, 2] = 1
    return sketch.astype(np.float32), "synthetic spiral"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gloc", default="sketchgloc_ds3_small")
    parser.add_argument("--bert", default=None)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)
    sys.path.insert(0, REPO)
    import threading

    from bert_tf2.presets import PRESET_ROOT, PRESETS
    from sketch_common.presets import PresetError, preset_directory
    from sketch_demo import server, signatures

    def shipped(name):
        try:
            return bool(preset_directory(name, PRESETS, PRESET_ROOT))
        except PresetError:
            return False

    bert = args.bert or next(name for name in ("sketch_bert_qd336_small_cls",
                                                "sketch_bert_qd336_small") if shipped(name))
    start = time.perf_counter()
    models = signatures.load_models(args.gloc, bert)
    compile_s = time.perf_counter() - start
    app = server.create_app(models, {name: model.limits for name, model in models.items()})
    http_server = server.make_server(app, "127.0.0.1", 0)
    threading.Thread(target=http_server.run, daemon=True).start()
    url = f"http://127.0.0.1:{http_server.effective_port}/v1/models/"

    sketch, source = sketch_of(POINTS)
    inputs = {"strokes": [sketch.tolist()], "lengths": [len(sketch)]}
    bert_signature = "classify" if models["sketch_bert"].limits["classify"] else "serving_default"
    calls = {
        "demo_classify": ("sketch_bert", bert, {"signature_name": bert_signature,
                                                "inputs": inputs}),
        "demo_reconstruct": ("sketchgloc", args.gloc, {
            "signature_name": "reconstruct",
            "inputs": {**inputs, "temperature": 0.24, "seed": 1}}),
    }
    for bench, (model, preset, body) in calls.items():
        data = json.dumps(body).encode()

        def post():
            request = urllib.request.Request(url + model + ":predict", data=data,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=120) as response:
                response.read()

        times = time_runs(post, runs=args.runs, warmup=args.warmup)
        emit(bench, {"preset": preset, "signature": body["signature_name"], "points": POINTS,
                     "sketch": source, "transport": "HTTP loopback, JSON columnar"}, 1, times,
             compile_s=round(compile_s, 2), load_1min=round(os.getloadavg()[0], 2))


if __name__ == "__main__":
    main()
