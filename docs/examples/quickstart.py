"""Quick start: the shipped presets on real Quick, Draw! drawings.

    python docs/examples/quickstart.py [DATA_DIR] [OUTPUT_DIR]

DATA_DIR holds `<category>.npz` files (default ../shared/data/quickdraw); the pictures go to
OUTPUT_DIR (default runs/quickstart). The test suite runs this file as it is.
"""

import os
import sys

import numpy as np

from bert_tf2 import SketchBert
from sketch_common.plots import save_figure, sketch_grid
from sketch_common.safe_pickle import load_npz
from sketchgloc_tf2 import SketchGloc

data_dir = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/quickdraw"
output_dir = sys.argv[2] if len(sys.argv) > 2 else "runs/quickstart"
os.makedirs(output_dir, exist_ok=True)
cats = list(load_npz(os.path.join(data_dir, "cat.npz"))["test"][:4])  # [n, 3] stroke-3 arrays

# SketchGloc: encode, sample from the codes, reconstruct a reorganised sketch, complete one.
g = SketchGloc.from_preset("sketchgloc_ds3_small")
mu, logvar = g.encode(cats)                                  # float32 [4, 64] each
samples = g.sample(mu, temperature=0.24, seed=0)             # 4 sketches, original units
reorganised = g.reconstruct(cats, temperature=0.0, re_scale=0.3, seed=0)
completed = g.complete([sketch[:len(sketch) // 2] for sketch in cats], seed=0)
figure = sketch_grid([cats, samples, reorganised, completed],
                     row_labels=["real", "sampled", "reorganised", "completed"])
save_figure(figure, os.path.join(output_dir, "sketchgloc.png"))

# Sketch-BERT: classify over the 336 categories, with names; embed.
b = SketchBert.from_preset("sketch_bert_qd336_small_cls")
for sketch, top in zip(cats, b.classify(cats, top_k=3)):
    print(len(sketch), "points:", ", ".join(f"{name} {p:.2f}" for name, p in top))
embeddings = b.embed(cats)                                   # float32 [4, 128]
print("SketchGloc codes", mu.shape, "Sketch-BERT embeddings", embeddings.shape,
      "cosine(cat 0, cat 1) =", float(np.dot(embeddings[0], embeddings[1]) / np.linalg.norm(
          embeddings[0]) / np.linalg.norm(embeddings[1])))
