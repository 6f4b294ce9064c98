"""Parsing helpers of the argparse-based command lines in `flags/` (no TensorFlow import)."""

import argparse


def parse_or_status(parser: argparse.ArgumentParser, argv):
    """`parser.parse_args(argv)`, with help and usage errors turned into an exit status.

    argparse prints `--help` (to stdout) or the usage and the error (to stderr, status 2) and
    calls `sys.exit`; a tool's `main(argv) -> int` returns that status instead.

    Returns:
        `(namespace, None)` when the command line parsed, else `(None, exit status)`.
    """
    try:
        return parser.parse_args(argv), None
    except SystemExit as exit_request:
        code = exit_request.code
        return None, code if isinstance(code, int) else (0 if code is None else 2)


def add_tolerance_arguments(parser: argparse.ArgumentParser) -> None:
    """`--rtol` / `--atol` of the parity tools (DESIGN.md: default 1e-4 / 1e-5)."""
    parser.add_argument("--rtol", type=float, default=1e-4,
                        help="relative tolerance (default 1e-4)")
    parser.add_argument("--atol", type=float, default=1e-5,
                        help="absolute tolerance (default 1e-5)")


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value
