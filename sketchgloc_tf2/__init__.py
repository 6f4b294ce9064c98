"""TensorFlow 2 / Keras 3 port of SketchGloc (stroke-graph sketch representation learning)."""

from sketchgloc_tf2.errors import SketchCheckpointError, SketchConfigError, SketchDataError, SketchError
from sketchgloc_tf2.hparams import HParams

__all__ = [
    "HParams",
    "SketchCheckpointError",
    "SketchConfigError",
    "SketchDataError",
    "SketchError",
]
__version__ = "0.1.0"
