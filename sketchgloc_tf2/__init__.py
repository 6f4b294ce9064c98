"""TensorFlow 2 / Keras 3 port of SketchGloc (stroke-graph sketch representation learning)."""

from sketchgloc_tf2.errors import SketchCheckpointError, SketchConfigError, SketchDataError, SketchError
from sketchgloc_tf2.hparams import HParams

__all__ = [
    "HParams",
    "SketchGloc",
    "SketchCheckpointError",
    "SketchConfigError",
    "SketchDataError",
    "SketchError",
]
__version__ = "0.1.0"


def __getattr__(name):
    """`SketchGloc` is imported on first use: `import sketchgloc_tf2.hparams` (the command
    lines' `--help`) stays free of TensorFlow."""
    if name == "SketchGloc":
        from sketchgloc_tf2.task import SketchGloc

        return SketchGloc
    raise AttributeError(f"module 'sketchgloc_tf2' has no attribute {name!r}")
