"""`python -m bert_tf2 train|test CONFIG.yml [--key=value ...]`: see `flags/bert_main.py`."""

if __name__ == "__main__":
    from sketch_common.command_line import run_command_line

    run_command_line("flags.bert_main")
