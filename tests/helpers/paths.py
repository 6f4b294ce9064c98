"""Folders the tests read: the repository, its test fixtures and the shared data."""

import os
import pathlib

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "fixtures"
SHARED = pathlib.Path(os.environ.get("SKETCH_SHARED_DIR", REPO_ROOT.parent / "shared"))
