"""Helpers shared by the model packages; imports neither `sketchgloc_tf2` nor `bert_tf2`."""
