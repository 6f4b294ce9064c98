"""Notebook pictures: figures of raw stroke-3 sketches, written by extension."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from sketch_common.errors import ConfigError
from sketch_common.plots import draw_strokes, offsets_to_polylines, save_figure, sketch_grid

SKETCH = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 1], [5, -5, 0], [3, 3, 1]], np.float32)


def test_offsets_become_one_absolute_polyline_per_stroke():
    lines = offsets_to_polylines(SKETCH)
    assert len(lines) == 2
    np.testing.assert_array_equal(lines[0], [[0, 0], [10, 0], [10, 10]])
    np.testing.assert_array_equal(lines[1], [[15, 5], [18, 8]])


def test_grid_lays_out_rows_and_blanks_the_rest():
    flat = sketch_grid([SKETCH] * 5, columns=3)
    assert isinstance(flat, Figure) and len(flat.axes) == 6
    assert sum(axis.axison for axis in flat.axes) == 5
    rows = sketch_grid([[SKETCH, SKETCH], [SKETCH]], row_labels=["a", "b"])
    assert len(rows.axes) == 4
    assert isinstance(draw_strokes(SKETCH), Figure)


@pytest.mark.parametrize("name, magic", [("s.png", b"\x89PNG"), ("s.pdf", b"%PDF"),
                                         ("s.svg", b"<?xml")])
def test_save_figure_writes_the_format_of_the_extension(tmp_path, name, magic):
    path = save_figure(draw_strokes(SKETCH), str(tmp_path / name))
    assert open(path, "rb").read(len(magic)) == magic


def test_save_figure_refuses_an_unknown_extension(tmp_path):
    with pytest.raises(ConfigError, match=r"\.png, \.pdf or \.svg"):
        save_figure(draw_strokes(SKETCH), str(tmp_path / "s.jpg"))
