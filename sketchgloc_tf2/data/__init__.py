"""SketchGloc data: Quick, Draw! I/O, batch construction and tf.data pipelines."""
