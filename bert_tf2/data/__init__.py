"""Sketch-BERT data: memmap datasets, stroke transforms, masking and tf.data pipelines."""
