"""`python -m sketchgloc_tf2.parity BUNDLE_DIR [--only data|model|sample]`: see
`flags/gloc_parity.py` (the command line) and `sketchgloc_tf2.parity.compare_bundle`."""

from sketch_common.command_line import run_command_line

run_command_line("flags.gloc_parity")
