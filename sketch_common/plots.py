"""Sketch pictures for notebooks and papers: matplotlib `Figure`s of raw stroke-3 sketches.

    from sketch_common.plots import draw_strokes, sketch_grid, save_figure
    draw_strokes(sketch)                                   # one sketch (shown inline in Jupyter)
    sketch_grid([originals, reconstructions], row_labels=["input", "output"])
    save_figure(figure, "grid.pdf")                        # .pdf / .svg vector, .png raster

Figures are `matplotlib.figure.Figure` objects built without pyplot: importing or using this
module never switches the matplotlib backend, and Jupyter displays a returned figure inline.
Coordinates follow Quick, Draw! (y grows downwards).
"""

import os

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from sketch_common.atomic_io import atomic_path
from sketch_common.errors import ConfigError

PANEL_INCHES = 1.1
LINE_WIDTH = 1.2
PALETTE_COLORS = 64
NODE_COLORS = matplotlib.colormaps["tab10"].colors
VECTOR_FORMATS = ("pdf", "svg")


def offsets_to_polylines(sketch) -> list:
    """Raw stroke-3 `[n, 3]` (dx, dy, pen_lift offsets) -> list of `[m, 2]` absolute polylines."""
    sketch = np.asarray(sketch, dtype=np.float64)
    if len(sketch) == 0:
        return []
    absolute = np.concatenate([np.cumsum(sketch[:, :2], axis=0), sketch[:, 2:3]], axis=1)
    return absolute_to_polylines(absolute)


def absolute_to_polylines(absolute) -> list:
    """Absolute stroke-3 `[n, 3]` (x, y, pen_up) -> list of `[m, 2]` polylines, one per stroke."""
    absolute = np.asarray(absolute, dtype=np.float64)
    if len(absolute) == 0:
        return []
    ends = np.flatnonzero(absolute[:, 2] == 1) + 1
    return [part[:, :2] for part in np.split(absolute, ends) if len(part)]


def draw_polylines(axis, polylines, colors=("black",), line_width=LINE_WIDTH) -> None:
    """Draws polylines `[m, 2]` (y down, as in Quick, Draw!) on a bare, square axis."""
    for number, line in enumerate(polylines):
        color = colors[number % len(colors)]
        if len(line) == 1:
            axis.plot(line[:, 0], line[:, 1], ".", color=color, markersize=line_width * 2)
        else:
            axis.plot(line[:, 0], line[:, 1], "-", color=color, linewidth=line_width,
                      solid_capstyle="round")
    axis.set_aspect("equal", adjustable="datalim")
    axis.invert_yaxis()
    axis.set_xticks([])
    axis.set_yticks([])
    for spine in axis.spines.values():
        spine.set_visible(False)


def panel_grid(rows: int, columns: int, row_labels=(), column_labels=(), title=None):
    """`(figure, axes [rows, columns])` of square panels with optional labels."""
    label_lines = max((str(label).count("\n") + 1 for label in column_labels), default=0)
    top = 0.05 + 0.16 * label_lines + (0.25 if title else 0.0)
    left = 0.3 if row_labels else 0.05
    width, height = PANEL_INCHES * columns + left + 0.05, PANEL_INCHES * rows + top + 0.05
    figure = Figure(figsize=(width, height))
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis, label in zip(axes[:, 0], row_labels):
        axis.set_ylabel(label, fontsize=8)
    for axis, label in zip(axes[0], column_labels):
        axis.set_title(label, fontsize=8)
    if title:
        figure.suptitle(title, fontsize=9, y=1.0 - 0.05 / height, va="top")
    figure.subplots_adjust(left=left / width, right=1.0 - 0.05 / width, top=1.0 - top / height,
                           bottom=0.05 / height, wspace=0.08, hspace=0.08)
    return figure, axes


def draw_strokes(sketch, color="black", line_width=LINE_WIDTH, inches=2.0) -> Figure:
    """One raw stroke-3 sketch as a figure (magenta's `draw_strokes`, as a Figure)."""
    figure = Figure(figsize=(inches, inches))
    axis = figure.subplots()
    draw_polylines(axis, offsets_to_polylines(sketch), (color,), line_width)
    figure.subplots_adjust(left=0.02, right=0.98, top=0.98, bottom=0.02)
    return figure


def sketch_grid(sketches, columns: int = 8, row_labels=(), column_labels=(),
                title=None) -> Figure:
    """Raw stroke-3 sketches in a grid.

    Args:
        sketches: a list of sketches (laid out `columns` to a row), or a list of rows (lists).
        columns: panels per row when `sketches` is a flat list.
        row_labels, column_labels: optional labels; title: optional figure title.
    """
    if sketches and isinstance(sketches[0], (list, tuple)):
        rows = [list(row) for row in sketches]
    else:
        rows = [list(sketches[start:start + columns])
                for start in range(0, len(sketches), columns)]
    width = max(len(row) for row in rows) if rows else 1
    figure, axes = panel_grid(max(len(rows), 1), width, row_labels, column_labels, title)
    for axis_row, row in zip(axes, rows):
        for axis, sketch in zip(axis_row, row):
            draw_polylines(axis, offsets_to_polylines(sketch))
        for axis in axis_row[len(row):]:
            axis.set_axis_off()
    return figure


def save_figure(figure, path: str, dpi: int = 100, colors: int = PALETTE_COLORS) -> str:
    """Writes a figure by `path`'s extension (through a temporary file); returns `path`.

    `.pdf` and `.svg` are vector; `.png` is a palette PNG (line drawings need few colours:
    `colors` entries keep them sharp and the files several times smaller than RGBA).

    Raises:
        ConfigError: another extension.
    """
    extension = os.path.splitext(path)[1].lower().lstrip(".")
    if extension not in VECTOR_FORMATS + ("png",):
        raise ConfigError(f"{path}: pictures are written as .png, .pdf or .svg; pick one of "
                          "these extensions")
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=dpi, format=extension)
        if extension == "png":
            with Image.open(temporary) as image:
                quantized = image.convert("RGB").quantize(colors=colors,
                                                          method=Image.Quantize.MAXCOVERAGE)
            quantized.save(temporary, format="PNG", optimize=True)
    return path
