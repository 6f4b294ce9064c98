"""The pictures of docs/presets.md and the README, drawn from the shipped presets on real test
drawings (every input below is a Quick, Draw! test sketch the models never trained on).

    python docs/examples/preset_pictures.py [DATA_DIR] [OUTPUT_DIR]

DATA_DIR holds `<category>.npz` files (default ../shared/data/quickdraw); OUTPUT_DIR defaults to
docs/images. Writes preset_reorganisation.png, preset_completion.png,
preset_interpolation.png and preset_classification.png.
"""

import os
import sys

import numpy as np

from bert_tf2 import SketchBert
from sketch_common.plots import save_figure, sketch_grid
from sketch_common.safe_pickle import load_npz
from sketchgloc_tf2 import SketchGloc
from sketchgloc_tf2.strokes import reorganise

data_dir = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/quickdraw"
output_dir = sys.argv[2] if len(sys.argv) > 2 else "docs/images"
os.makedirs(output_dir, exist_ok=True)


def test_sketches(category, count, first=0):
    return list(load_npz(os.path.join(data_dir, f"{category}.npz"))["test"][first:first + count])


g = SketchGloc.from_preset("sketchgloc_ds3_small")
categories = g.categories
originals = [test_sketches(name, 1)[0] for name in categories]

# Reorganisation: each stroke moved by noise (re_scale 0.3), then encoded and decoded at the
# evaluation's temperature (0.24).
rng = np.random.RandomState(0)
reorganised = [reorganise(sketch, 0.3, rng) for sketch in originals]
rebuilt = g.reconstruct(reorganised, temperature=0.24, seed=0)
save_figure(sketch_grid([originals, reorganised, rebuilt], column_labels=categories,
                        row_labels=["original", "reorganised input", "reconstruction"]),
            os.path.join(output_dir, "preset_reorganisation.png"))

# Completion: the first strokes of a drawing, continued by the decoder (three seeds).
partial = []
for sketch in originals:
    ends = np.flatnonzero(sketch[:, 2] == 1)
    partial.append(sketch[:ends[max(len(ends) // 2 - 1, 0)] + 1])
rows = [originals, partial] + [g.complete(partial, temperature=0.24, seed=seed)
                               for seed in range(3)]
save_figure(sketch_grid(rows, column_labels=categories,
                        row_labels=["original", "partial input", "completion, seed 0",
                                    "seed 1", "seed 2"]),
            os.path.join(output_dir, "preset_completion.png"))

# Interpolation between the codes of two test drawings (greedy decoding).
pairs = [("cat", "pig"), ("bus", "car"), ("flower", "bee")]
strips = [g.interpolate(test_sketches(a, 1)[0], test_sketches(b, 1)[0], steps=8)
          for a, b in pairs]
save_figure(sketch_grid(strips, row_labels=[f"{a} → {b}" for a, b in pairs]),
            os.path.join(output_dir, "preset_interpolation.png"))

# Classification over the 336 categories: the top-3 names of test drawings.
b = SketchBert.from_preset("sketch_bert_qd336_small_cls")
shown = ["bicycle", "castle", "cup", "guitar", "snowman", "cactus", "clock", "bridge"]
drawings = [sketch for name in shown for sketch in test_sketches(name, 1) if len(sketch) < 100]
labels = ["\n".join(f"{name} {p:.2f}" for name, p in top) for top in b.classify(drawings, 3)]
save_figure(sketch_grid(drawings, columns=len(drawings), column_labels=labels),
            os.path.join(output_dir, "preset_classification.png"))
print("wrote", ", ".join(sorted(f for f in os.listdir(output_dir) if f.startswith("preset_"))))
