"""Pieces both model packages share: errors, atomic I/O, drawing, distribution and tuning helpers.

This package imports neither `sketchgloc_tf2` nor `bert_tf2` nor `flags`; both model packages and
the entry points build on it.
"""
