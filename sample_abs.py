"""Generate sketches from test sketches (upstream `sample_abs.py`).

    python sample_abs.py SAMPLE_SIZE DATASET_ID OUTPUT_DIR RE_SCALE CHECKPOINT_DIR [CKPT_ID]

The upstream command line; the flags, their help (`python sample_abs.py --help`) and the run are
in `flags/gloc_sample.py`, the procedure in `sketchgloc_tf2.sample_folder`.
"""

from flags.gloc_sample import main, run  # noqa: F401  (main: for callers that pass argv)

if __name__ == "__main__":
    run()
