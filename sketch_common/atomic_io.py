"""Writes that readers never see half-done: a temporary next to the target, then a rename.

A kill at any moment leaves either the old file or the new one. Temporaries are named
`.tmp_<anything>` in the target's folder (`TEMPORARY_PREFIX`), so what a killed writer left is
recognisable. New files get the usual mode (0666 less the umask, 0644 by default), not the 0600 of
`tempfile.mkstemp`.
"""

import contextlib
import os
import shutil
import tempfile

TEMPORARY_PREFIX = ".tmp_"


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str):
    """Yields a temporary file path next to `path`; on success it replaces `path`.

    The temporary has `path`'s suffix (some writers choose the format by it, e.g.
    `.weights.h5`, `.npz`). On an exception it is removed and `path` is left as it was.

    Args:
        path: the file to write.

    Yields:
        The temporary path to write to.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    name = os.path.basename(path)
    suffix = name[name.index("."):] if "." in name.lstrip(".") else ""
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=TEMPORARY_PREFIX, suffix=suffix)
    os.close(handle)
    try:
        os.chmod(temporary, _default_mode())
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


def write_text(path: str, text: str) -> None:
    """Writes `text` (UTF-8) to `path` atomically."""
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(text)


def write_bytes(path: str, data: bytes) -> None:
    """Writes `data` to `path` atomically."""
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as stream:
            stream.write(data)


@contextlib.contextmanager
def atomic_directory(path: str):
    """Yields a staging folder next to `path`; on success it replaces `path` as a whole.

    On an exception the staging folder is removed and `path` is left as it was. Between the
    removal of the old folder and the rename of the new one a kill leaves the staging folder
    (`.tmp_<name>.<random>`) complete, never a half-written `path`.

    Args:
        path: the folder to write.

    Yields:
        The staging folder to fill.
    """
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    staging = tempfile.mkdtemp(dir=os.path.dirname(path),
                               prefix=f"{TEMPORARY_PREFIX}{os.path.basename(path)}.")
    try:
        os.chmod(staging, _default_mode() | 0o111)  # a folder: searchable
        yield staging
        if os.path.isdir(path):
            shutil.rmtree(path)
        os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
