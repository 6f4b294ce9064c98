"""`python -m bert_tf2.parity BUNDLE_DIR [--only data|model|train]`: see `flags/bert_parity.py`."""

if __name__ == "__main__":
    from sketch_common.command_line import run_command_line

    run_command_line("flags.bert_parity")
