"""`sketch_common.atomic_io.atomic_directory`: a folder replaced whole, or left as it was."""

import os
import pathlib

import pytest

from sketch_common.atomic_io import TEMPORARY_PREFIX, atomic_directory


def test_a_folder_is_replaced_as_a_whole(tmp_path):
    target = tmp_path / "preset"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_directory(str(target)) as staging:
        assert not os.path.samefile(staging, target)
        pathlib.Path(staging, "new.txt").write_text("new")
    assert sorted(os.listdir(target)) == ["new.txt"]
    assert os.stat(target).st_mode & 0o111
    assert not [name for name in os.listdir(tmp_path) if name.startswith(TEMPORARY_PREFIX)]


def test_a_failed_write_keeps_the_old_folder(tmp_path):
    target = tmp_path / "preset"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_directory(str(target)) as staging:
            pathlib.Path(staging, "half.txt").write_text("half")
            raise RuntimeError("disk full")
    assert sorted(os.listdir(target)) == ["old.txt"]
    assert sorted(os.listdir(tmp_path)) == ["preset"]
