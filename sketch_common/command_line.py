"""Starting a command-line tool from a module's `if __name__ == "__main__":` block.

The tools' flags and argument parsers live in the top-level `flags` package (the command-line
layer). `python -m package.module` puts the working directory first on `sys.path`, so a user's
own `flags.py` there would hide that package; `run_command_line` makes sure the project's
`flags` package is the one imported.
"""

import importlib
import os
import sys

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _shadows_project(entry: str) -> bool:
    """Whether the `sys.path` entry `entry` holds a `flags` module other than the project's."""
    folder = os.path.abspath(entry or os.curdir)
    if folder == PROJECT_ROOT:
        return False
    return (os.path.exists(os.path.join(folder, "flags.py"))
            or os.path.isdir(os.path.join(folder, "flags")))


def run_command_line(module_name: str) -> None:
    """Imports `module_name` (a module of the `flags` package) and calls its `run()`.

    Entries of `sys.path` that would resolve `flags` to something else than the project's
    package (a `flags.py` or `flags/` in the working directory) are moved behind the project.

    Args:
        module_name: e.g. `"flags.gloc_export"`.
    """
    if "flags" not in sys.modules:
        shadowing = [entry for entry in sys.path if _shadows_project(entry)]
        sys.path[:] = [entry for entry in sys.path if entry not in shadowing]
        if PROJECT_ROOT not in sys.path:
            sys.path.insert(0, PROJECT_ROOT)
        sys.path.extend(shadowing)
    importlib.import_module(module_name).run()
