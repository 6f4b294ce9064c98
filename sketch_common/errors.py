"""The error base every tool prints as one line, and the tool runner that does it.

Each model package derives its own error types from `UserError` (`SketchError`, `BertError`);
code in `sketch_common` raises the neutral subclasses below.
"""

import sys


class UserError(Exception):
    """An error the user caused and can fix (bad input, settings or files).

    The message says what is wrong, where (file, sketch index, flag) and what to do, on one line.
    """


class ConfigError(UserError, ValueError):
    """Bad flags or settings."""


class SketchInputError(UserError, ValueError):
    """Raw sketches handed to a Python API that are not valid stroke-3 (names the sketch)."""


class FileFormatError(UserError, ValueError):
    """A file that cannot be read safely or is not in the expected format."""


class ExportError(UserError, ValueError):
    """An export that cannot be written where asked: `EXPORT_BASE` is not a writable folder, or
    `--version` is not positive or already exists (`sketch_common.serving`)."""


def one_line(error: BaseException) -> str:
    """The message of `error` with its white space (newlines included) collapsed."""
    return " ".join(str(error).split())


def error_message(error: BaseException) -> str:
    """What a tool prints for `error`: `error: <message>`, one line.

    An `OSError` (a missing, unreadable or unwritable path, a full disk) gets a hint: it comes
    from the file system, not from this project's checks.
    """
    if isinstance(error, OSError) and not isinstance(error, UserError):
        return f"error: {one_line(error)}; check that the path exists, is writable and has room"
    return f"error: {one_line(error)}"


def run_tool(main, handled=(UserError, OSError), exit_code=1):
    """Runs a command-line tool's `main()` and exits with its return value.

    An exception of a `handled` type is printed as `error_message(error)` on stderr, without a
    traceback, and exits with `exit_code`.

    Args:
        main: callable returning the exit status (None counts as 0).
        handled: exception type or tuple of types that are the user's to fix.
        exit_code: exit status for those errors.
    """
    try:
        status = main()
    except handled as error:
        print(error_message(error), file=sys.stderr)
        status = exit_code
    sys.exit(status)
