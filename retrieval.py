"""The Ret metric of a `sample_abs.py` folder (upstream `retrieval.py`).

    python retrieval.py SAMPLE_DIR CHECKPOINT_DIR [--data_dir=DIR] [--retrieval_offbyone]

The upstream command line; the flags, their help (`python retrieval.py --help`) and the run are
in `flags/gloc_retrieval.py`, the metric in `sketchgloc_tf2.retrieval`.
"""

from flags.gloc_retrieval import main, run  # noqa: F401  (main: for callers that pass argv)

if __name__ == "__main__":
    run()
