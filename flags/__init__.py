"""absl flag definitions mirroring the original hparams of SketchGloc and Sketch-BERT."""
