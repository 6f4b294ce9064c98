"""SketchGloc Keras layers: recurrent cells, stroke encoder, relation GCN, batch norm, mixture head."""
