"""Rendering stroke-3 sketches to small images (spec §8 `draw_strokes` geometry), numpy only.

Upstream writes each generated sketch as a 48x48 SVG (`seq2png.draw_strokes`) and converts it
with cairosvg. The geometry here is the same: the origin-inclusive bounding box of the offsets,
its longer side scaled to `width - 2 margin` pixels, the shorter side centred; a pen lift moves
without drawing (as does the first row, from the origin); strokes are 1 px wide on white. The
rasteriser draws each segment with an anti-aliased coverage `clip(w/2 + 1/2 - d, 0, 1)` of the
distance d from the pixel centre, which matches cairo's coverage for straight 1-px lines; joints
come out round and, as in the SVG (butt caps), single-point strokes leave no ink.

Both `sample_abs.py` (the PNGs of generated sketches) and the Rec classifier
(`sketchgloc_tf2.recognition`, real training drawings and generated PNGs) use these functions,
so real and generated sketches are rasterised identically.
"""

import numpy as np
from matplotlib import colors as mpl_colors
from PIL import Image

from sketch_common.atomic_io import atomic_path, write_text

DEFAULT_WIDTH = 48
DEFAULT_MARGIN = 1.5
DEFAULT_LINE_WIDTH = 1.0
MIN_NORM = 1e-5
_WALK_STEP = 0.5


def origin_inclusive_bounds(offsets: np.ndarray) -> tuple:
    """`(min_x, max_x, min_y, max_y)` of the visited positions and the origin (upstream `get_bounds`)."""
    offsets = np.asarray(offsets, dtype=np.float64)
    if len(offsets) == 0:
        return 0.0, 0.0, 0.0, 0.0
    absolute = np.cumsum(offsets[:, :2], axis=0)
    low = np.minimum(absolute.min(axis=0), 0.0)
    high = np.maximum(absolute.max(axis=0), 0.0)
    return float(low[0]), float(high[0]), float(low[1]), float(high[1])


def canvas_transform(offsets: np.ndarray, width: int = DEFAULT_WIDTH,
                     margin: float = DEFAULT_MARGIN) -> tuple:
    """Scale and pixel position of the origin that fit a sketch into a `width`-px square.

    Returns:
        `(scale, origin_x, origin_y)`: pixel = origin + scale * absolute position.
    """
    min_x, max_x, min_y, max_y = origin_inclusive_bounds(offsets)
    if max_x - min_x > max_y - min_y:
        norm = max_x - min_x
        border_x, border_y = 0.0, (norm - (max_y - min_y)) * 0.5
    else:
        norm = max_y - min_y
        border_x, border_y = (norm - (max_x - min_x)) * 0.5, 0.0
    scale = (width - 2 * margin) / max(norm, MIN_NORM)
    return scale, (border_x - min_x) * scale + margin, (border_y - min_y) * scale + margin


def pixel_segments(offsets: np.ndarray, width: int = DEFAULT_WIDTH,
                   margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """The drawn line segments in pixel coordinates.

    Args:
        offsets: `[n, 3]` stroke-3 (dx, dy, pen_lift); any units (the sketch is fitted).
        width: canvas side in pixels.
        margin: empty border in pixels.

    Returns:
        float64 `[S, 2, 2]`: start and end `(x, y)` of every non-degenerate segment (from point
        i-1 to point i when point i-1 has no pen lift).
    """
    offsets = np.asarray(offsets, dtype=np.float64)
    if len(offsets) < 2:
        return np.zeros((0, 2, 2))
    scale, origin_x, origin_y = canvas_transform(offsets, width, margin)
    points = np.cumsum(offsets[:, :2], axis=0) * scale + (origin_x, origin_y)
    drawn = offsets[:-1, 2] == 0
    segments = np.stack([points[:-1][drawn], points[1:][drawn]], axis=1)
    return segments[np.any(segments[:, 0] != segments[:, 1], axis=1)]


def _segment_distances(points, starts, ends):
    """Distance from each point `[M, 2]` to its segment (`starts`, `ends` `[M, 2]`)."""
    direction = ends - starts
    relative = points - starts
    along = np.clip(np.sum(relative * direction, axis=-1) / np.sum(direction ** 2, axis=-1),
                    0.0, 1.0)
    return np.linalg.norm(relative - along[:, None] * direction, axis=-1)


def rasterize(offsets: np.ndarray, width: int = DEFAULT_WIDTH, margin: float = DEFAULT_MARGIN,
              line_width: float = DEFAULT_LINE_WIDTH) -> np.ndarray:
    """Anti-aliased ink image of a sketch.

    Each pixel gets the coverage of its nearest segment, `clip(line_width/2 + 1/2 - d, 0, 1)`.
    Only pixels near a segment are visited: every segment is walked in half-pixel steps and the
    pixels around each step are scored against that segment exactly.

    Args:
        offsets: `[n, 3]` stroke-3 offsets (dx, dy, pen_lift), n may be 0.
        width: image side in pixels (upstream 48).
        margin: border in pixels (upstream 1.5).
        line_width: stroke width in pixels (upstream 1).

    Returns:
        float32 `[width, width]` ink coverage in [0, 1] (0 = white paper); rows are y, which
        grows downwards as in Quick, Draw!.
    """
    image = np.zeros(width * width, np.float64)
    segments = pixel_segments(offsets, width, margin)
    if len(segments):
        lengths = np.linalg.norm(segments[:, 1] - segments[:, 0], axis=1)
        steps = np.ceil(lengths / _WALK_STEP).astype(np.int64) + 1
        owner = np.repeat(np.arange(len(segments)), steps)
        first = np.cumsum(steps) - steps
        fraction = (np.arange(len(owner)) - first[owner]) / np.maximum(steps[owner] - 1, 1)
        starts, ends = segments[owner, 0], segments[owner, 1]
        walk = starts + fraction[:, None] * (ends - starts)
        radius = line_width / 2.0 + 0.5
        reach = int(np.floor(radius + _WALK_STEP / 2.0 + 0.5))
        window = np.arange(-reach, reach + 1)
        shifts = np.stack(np.meshgrid(window, window), axis=-1).reshape(-1, 2)
        pixels = (np.round(walk - 0.5).astype(np.int64)[:, None, :] + shifts[None]).reshape(-1, 2)
        inside = np.all((pixels >= 0) & (pixels < width), axis=1)
        repeat = len(shifts)
        distance = _segment_distances(pixels[inside] + 0.5, np.repeat(starts, repeat, 0)[inside],
                                      np.repeat(ends, repeat, 0)[inside])
        coverage = np.clip(radius - distance, 0.0, 1.0)
        np.maximum.at(image, pixels[inside, 1] * width + pixels[inside, 0], coverage)
    return image.reshape(width, width).astype(np.float32)


def to_image(ink: np.ndarray, color: str = "black") -> np.ndarray:
    """Paints ink on white paper.

    Args:
        ink: `[H, W]` coverage in [0, 1].
        color: any matplotlib colour name; black gives a grayscale image.

    Returns:
        uint8 `[H, W]` (black) or `[H, W, 3]` (any other colour).
    """
    ink = np.clip(np.asarray(ink, dtype=np.float64), 0.0, 1.0)
    rgb = np.asarray(mpl_colors.to_rgb(color))
    if np.all(rgb == 0):
        return np.round(255.0 * (1.0 - ink)).astype(np.uint8)
    painted = 1.0 - ink[..., None] * (1.0 - rgb)
    return np.round(255.0 * painted).astype(np.uint8)


def save_png(image: np.ndarray, path: str) -> None:
    """Writes a uint8 `[H, W]` or `[H, W, 3]` image as PNG (through a temporary file)."""
    with atomic_path(path) as temporary:
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(temporary, format="PNG")


def load_ink(path: str, width: int = DEFAULT_WIDTH) -> np.ndarray:
    """Reads a sketch PNG as ink, whatever its stroke colour.

    Ink is `1 - darkest channel / 255`, so a stroke of any saturated colour counts as ink, which
    removes most of the category signal upstream's coloured PNGs carry (spec B10); images of
    another size are resized (bilinear) to `width`.

    Returns:
        float32 `[width, width]` in [0, 1].
    """
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        if rgb.size != (width, width):
            rgb = rgb.resize((width, width), Image.BILINEAR)
        pixels = np.asarray(rgb, dtype=np.float32)
    return 1.0 - pixels.min(axis=-1) / 255.0


def svg_text(offsets: np.ndarray, width: int = DEFAULT_WIDTH, margin: float = DEFAULT_MARGIN,
             color: str = "black") -> str:
    """The SVG upstream's `draw_strokes` writes (relative m / l path, white background)."""
    offsets = np.asarray(offsets, dtype=np.float64)
    scale, origin_x, origin_y = canvas_transform(offsets, width, margin)
    parts = [f"M{origin_x},{origin_y} "]
    lift_pen, command = 1, "m"
    for dx, dy, pen in offsets:
        if lift_pen == 1:
            command = "m"
        elif command != "l":
            command = "l"
        else:
            command = ""
        parts.append(f"{command}{dx * scale},{dy * scale} ")
        lift_pen = pen
    return (
        '<?xml version="1.0" encoding="utf-8" ?>\n'
        f'<svg baseProfile="full" height="{width}" version="1.1" width="{width}" '
        'xmlns="http://www.w3.org/2000/svg">'
        f'<rect fill="white" height="{width}" width="{width}" x="0" y="0" />'
        f'<path d="{"".join(parts)}" fill="none" stroke="{color}" stroke-width="1" />'
        "</svg>\n"
    )


def write_svg(offsets: np.ndarray, path: str, width: int = DEFAULT_WIDTH,
              margin: float = DEFAULT_MARGIN, color: str = "black") -> None:
    """Writes `svg_text(...)` to `path` (through a temporary file)."""
    write_text(path, svg_text(offsets, width, margin, color))
