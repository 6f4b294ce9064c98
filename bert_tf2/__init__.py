"""TensorFlow 2 / Keras 3 port of Sketch-BERT (CVPR 2020)."""
