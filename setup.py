"""Installs the TF2/Keras 3 ports of SketchGloc and Sketch-BERT."""

import pathlib

import setuptools

HERE = pathlib.Path(__file__).parent

# One console script per command-line tool (`flags/<tool>.py`; each `run()` is the entry point).
CONSOLE_SCRIPTS = [
    "sketchgloc-train = flags.gloc_train:run",
    "sketchgloc-sample = flags.gloc_sample:run",
    "sketchgloc-retrieval = flags.gloc_retrieval:run",
    "sketchgloc-export = flags.gloc_export:run",
    "sketchgloc-convert = flags.gloc_convert:run",
    "sketchgloc-ndjson = flags.gloc_ndjson:run",
    "sketchgloc-synthetic = flags.gloc_synthetic:run",
    "sketchgloc-pictures = flags.gloc_pictures:run",
    "sketchgloc-recognition = flags.gloc_recognition:run",
    "sketchgloc-parity = flags.gloc_parity:run",
    "sketchgloc-tune = flags.gloc_tune:run",
    "sketchgloc-build-preset = flags.gloc_build_preset:run",
    "sketch-bert = flags.bert_main:run",
    "sketch-bert-export = flags.bert_export:run",
    "sketch-bert-convert = flags.bert_convert:run",
    "sketch-bert-memmap = flags.bert_memmap:run",
    "sketch-bert-parity = flags.bert_parity:run",
    "sketch-bert-tune = flags.bert_tune:run",
    "sketch-bert-build-preset = flags.bert_build_preset:run",
    "sketch-demo = flags.demo:run",
]

def _requirements():
    lines = (HERE / "requirements.txt").read_text().splitlines()
    return [line for line in lines
            if line and not line.startswith(("#", "pytest", "selenium"))]  # test-only


setuptools.setup(
    name="sketch-tf2",
    version="0.1.0",
    description=(
        "TensorFlow 2 / Keras 3 ports of SketchGloc (stroke-graph sketch VAE) "
        "and Sketch-BERT."
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=setuptools.find_packages(
        include=["sketch_common*", "sketchgloc_tf2*", "bert_tf2*", "flags*", "sketch_demo*"]),
    py_modules=["train", "sample_abs", "retrieval"],
    package_data={"bert_tf2": ["configs/*.yml", "preset_files/*/*"],
                  "sketchgloc_tf2": ["preset_files/*/*"],
                  "sketch_demo": ["static/*"]},
    install_requires=_requirements(),
    extras_require={
        "torch": ["torch>=2.1"],
        "test": ["pytest>=8.0", "pytest-xdist>=3.5", "selenium>=4.20,<5"],
    },
    license="Apache-2.0",
    entry_points={"console_scripts": CONSOLE_SCRIPTS},
)
