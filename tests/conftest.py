"""Shared pytest fixtures: paths to the reference bundles and to the shared real drawings."""

import pytest

from helpers.paths import FIXTURES as LOCAL_FIXTURES
from helpers.paths import SHARED


def _bundle(name):
    local = LOCAL_FIXTURES / name
    if local.is_dir():
        return local
    shared = SHARED / "fixtures" / name
    if shared.is_dir():
        return shared
    pytest.skip(f"reference bundle {name} not found in {LOCAL_FIXTURES} or {SHARED / 'fixtures'}")


@pytest.fixture(scope="session")
def gloc_bundle():
    """The SketchGloc reference bundle (tests/fixtures copy, else ../shared/fixtures)."""
    return _bundle("sketchgloc_ref_small")


@pytest.fixture(scope="session")
def bert_bundle():
    """The Sketch-BERT reference bundle (tests/fixtures copy, else ../shared/fixtures)."""
    return _bundle("sketchbert_ref_small")


@pytest.fixture(scope="session")
def quickdraw_dir():
    """`../shared/data/quickdraw` (real drawings); skips the test when it is absent."""
    path = SHARED / "data" / "quickdraw"
    if not path.is_dir():
        pytest.skip(f"real drawings not found at {path} (set SKETCH_SHARED_DIR)")
    return path


@pytest.fixture(scope="session")
def demo_presets(tmp_path_factory):
    """Tiny SketchGloc and Sketch-BERT (classification) preset directories for the demo tests:
    `{"gloc": dir, "bert": dir}`."""
    from helpers.demo import write_tiny_presets

    return write_tiny_presets(tmp_path_factory.mktemp("demo_presets"))


@pytest.fixture(scope="session")
def demo_server(demo_presets):
    """The demo server on `demo_presets`, on a free loopback port (one for the session):
    `{"url": base URL, "models": name -> ServedModel}`."""
    from helpers.demo import running_server
    from sketch_demo import server, signatures

    models = signatures.load_models(demo_presets["gloc"], demo_presets["bert"])
    app = server.create_app(models, {name: model.limits for name, model in models.items()})
    with running_server(app) as url:
        yield {"url": url, "models": models}
