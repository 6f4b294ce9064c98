"""TensorFlow 2 / Keras 3 port of Sketch-BERT (CVPR 2020)."""

__all__ = ["SketchBert"]


def __getattr__(name):
    """`SketchBert` is imported on first use: `import bert_tf2.config` (the command lines'
    `--help`) stays free of TensorFlow."""
    if name == "SketchBert":
        from bert_tf2.task import SketchBert

        return SketchBert
    raise AttributeError(f"module 'bert_tf2' has no attribute {name!r}")
