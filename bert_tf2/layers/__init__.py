"""Sketch-BERT Keras layers: embeddings, attention and transformer blocks."""
