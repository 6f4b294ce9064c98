"""Train SketchGloc: `python train.py --log_root=DIR --data_dir=DIR --hparams="categories=[bee,bus]"`.

The upstream command line; the flags, their help (`python train.py --help`) and the run are in
`flags/gloc_train.py`, the training loop in `sketchgloc_tf2.training`.
"""

from flags.gloc_train import main, run  # noqa: F401  (main: for callers that pass argv)

if __name__ == "__main__":
    run()
