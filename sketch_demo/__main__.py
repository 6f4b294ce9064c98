"""`python -m sketch_demo`: the browser demo; see `flags/demo.py`."""

if __name__ == "__main__":
    from sketch_common.command_line import run_command_line

    run_command_line("flags.demo")
