"""Pictures of a SketchGloc model: reconstruction grids, latent interpolation, training curves.

    python -m sketchgloc_tf2.pictures grid CHECKPOINT_DIR OUT.png --data_dir DIR [--re_scale 0.3]
    python -m sketchgloc_tf2.pictures interpolate CHECKPOINT_DIR OUT.png --data_dir DIR
    python -m sketchgloc_tf2.pictures curves LOG_ROOT OUT.png
    python -m sketchgloc_tf2.pictures samples SAMPLE_DIR OUT.png [--per_category 8]

* `grid`: one column per test sketch; rows: the original sketch, the encoder's input (its graph
  nodes, each in its own colour, displaced by the reorganisation noise `re_scale`) and the
  reconstruction decoded from z = p_mu.
* `interpolate`: sketch A, the sketches decoded from `(1 - t) z_A + t z_B` for evenly spaced t
  (A and B themselves included), sketch B.
* `curves`: `Train_Cost`, `Valid_Cost` and `Learning_Rate` (TensorBoard scalars under LOG_ROOT)
  against the training step.
* `samples`: a contact sheet of a `sample_abs.py` folder, one row per category (its generated
  `s_c_i.npy` sketches, first `--per_category` of each).

`reconstruction_grid(model, hparams, batch, path)` draws the grid of a batch;
`TrainingReconstructions` is the `on_best` callback of `training.Trainer` that draws it at each
new best checkpoint (`train.py` passes it). All drawing uses `matplotlib.figure.Figure` objects,
not pyplot, so it works headless and importing this module changes no process-wide state (the
matplotlib backend stays as it was); files are written through a temporary file. The command
line is in `flags/gloc_pictures.py`.
"""

import glob
import os

import numpy as np
from matplotlib.figure import Figure

from sketch_common.plots import (NODE_COLORS, absolute_to_polylines, draw_polylines,
                                 panel_grid, save_figure)
from sketchgloc_tf2.errors import SketchDataError
from sketchgloc_tf2.run_state import RECONSTRUCTIONS_DIR
from sketchgloc_tf2.sample_folder import encode_mu, list_sample_files
from sketchgloc_tf2.sampling import DEFAULT_TEMPERATURE, Sampler

CURVE_TAGS = ("Train_Cost", "Valid_Cost", "Learning_Rate")


def target_sketch(input_seqs: np.ndarray) -> np.ndarray:
    """The clean absolute sketch `[l, 3]` of one `input_seqs [T+1, 5]` row (start token dropped)."""
    points = np.asarray(input_seqs)[1:]
    ends = np.flatnonzero(points[:, 4] > 0)
    length = int(ends[0]) if ends.size else len(points)
    return np.concatenate([points[:length, :2], points[:length, 3:4]], axis=1)


def node_polylines(batch: dict, index: int) -> list:
    """The encoder's node rows of sketch `index` of a batch: list of `[len, 2]` absolute points."""
    strokes_num = np.asarray(batch["input_strokes_num"])
    first = int(strokes_num[:index].sum())
    rows = np.asarray(batch["input_strokes"])[first:first + int(strokes_num[index])]
    lengths = np.asarray(batch["input_stroke_len"])[first:first + int(strokes_num[index])]
    return [row[:length] for row, length in zip(rows, lengths)]


def take_sketches(batch: dict, count: int) -> dict:
    """The first `count` sketches of a batch, node rows repacked for `count` sketches."""
    strokes_num = np.asarray(batch["input_strokes_num"])[:count]
    nodes_per_sketch = np.asarray(batch["input_box"]).shape[1]
    rows = int(strokes_num.sum())
    strokes = np.zeros((count * nodes_per_sketch,) + np.asarray(batch["input_strokes"]).shape[1:],
                       np.float32)
    strokes[:rows] = np.asarray(batch["input_strokes"])[:rows]
    lengths = np.zeros(count * nodes_per_sketch, np.int32)
    lengths[:rows] = np.asarray(batch["input_stroke_len"])[:rows]
    taken = {key: np.asarray(value)[:count] for key, value in batch.items()
             if key not in ("input_strokes", "input_stroke_len")}
    taken.update(input_strokes=strokes, input_stroke_len=lengths)
    return taken


def reconstruction_grid(model, hparams, batch, path, max_sketches=8, greedy=True,
                        temperature=DEFAULT_TEMPERATURE, seed=0, sampler=None, title=None) -> str:
    """Writes a PNG grid: original / encoder input (reorganised nodes) / reconstruction.

    Args:
        model: `SketchGlocModel`.
        hparams: its hparams (`max_seq_len` bounds the reconstructions).
        batch: a batch dict as built by `SketchBatcher.batch` (numpy or tensors): `input_seqs`,
            `input_strokes`, `input_stroke_len`, `input_strokes_num`, `input_box`.
        path: output PNG path.
        max_sketches: columns (the first sketches of the batch).
        greedy: argmax decoding; otherwise sampling at `temperature` with `seed`.
        temperature: sampling temperature.
        seed: sampler seed.
        sampler: an existing `Sampler` for this model (saves a compilation per call).
        title: optional figure title.

    Returns:
        `path`.
    """
    count = min(int(max_sketches), len(np.asarray(batch["input_strokes_num"])))
    if count == 0:
        raise SketchDataError(f"{path}: the batch holds no sketch to draw")
    small = take_sketches(batch, count)
    z = encode_mu(model, small)
    sampler = sampler or Sampler(model, hparams.max_seq_len, temperature, greedy)
    generated = sampler(z, seed=seed)
    figure, axes = panel_grid(3, count, row_labels=("original", "input", "reconstruction"),
                               title=title)
    for column in range(count):
        draw_polylines(axes[0, column], absolute_to_polylines(target_sketch(small["input_seqs"][column])))
        draw_polylines(axes[1, column], node_polylines(small, column), colors=NODE_COLORS)
        draw_polylines(axes[2, column], absolute_to_polylines(generated.stroke3(column)))
    return save_figure(figure, path)


def interpolation_strip(model, hparams, batch, path, steps=8, greedy=True,
                        temperature=DEFAULT_TEMPERATURE, seed=0) -> str:
    """Writes a PNG strip decoding linear interpolations between the codes of two sketches.

    Args:
        model: `SketchGlocModel`.
        hparams: its hparams.
        batch: a batch dict whose first two sketches are A and B.
        path: output PNG path.
        steps: decoded codes, t = 0 ... 1 evenly spaced (both ends included).
        greedy, temperature, seed: decoding settings.

    Returns:
        `path`.
    """
    pair = take_sketches(batch, 2)
    if len(pair["input_strokes_num"]) < 2:
        raise SketchDataError(f"{path}: interpolation needs two sketches")
    z_a, z_b = encode_mu(model, pair)
    weights = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    codes = (1.0 - weights) * z_a + weights * z_b
    generated = Sampler(model, hparams.max_seq_len, temperature, greedy)(codes, seed=seed)
    labels = ["A"] + [f"t={t:.2f}" for t in weights[:, 0]] + ["B"]
    figure, axes = panel_grid(1, steps + 2, column_labels=labels)
    draw_polylines(axes[0, 0], absolute_to_polylines(target_sketch(pair["input_seqs"][0])))
    for column in range(steps):
        draw_polylines(axes[0, column + 1], absolute_to_polylines(generated.stroke3(column)),
                       colors=("tab:blue",))
    draw_polylines(axes[0, -1], absolute_to_polylines(target_sketch(pair["input_seqs"][1])))
    return save_figure(figure, path)


def read_scalars(log_root: str, tags=CURVE_TAGS) -> dict:
    """Scalar summaries of every TensorBoard event file under `log_root`.

    Returns:
        Dict tag -> `(steps, values)` float64 arrays sorted by step (tags never written are absent).

    Raises:
        SketchDataError: no event file, or none of `tags` in them.
    """
    import tensorflow as tf

    paths = sorted(glob.glob(os.path.join(log_root, "**", "events.out.tfevents.*"),
                             recursive=True))
    if not paths:
        raise SketchDataError(f"{log_root}: no TensorBoard event files (events.out.tfevents.*)")
    points = {tag: [] for tag in tags}
    for path in paths:
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag not in points:
                    continue
                if value.HasField("simple_value"):
                    number = value.simple_value
                else:
                    number = float(tf.make_ndarray(value.tensor))
                points[value.tag].append((event.step, number))
    found = {tag: tuple(np.asarray(sorted(pairs), dtype=np.float64).T)
             for tag, pairs in points.items() if pairs}
    if not found:
        raise SketchDataError(f"{log_root}: the event files hold none of the tags {tags}")
    return found


def training_curves(log_root: str, path: str) -> str:
    """Writes a PNG of the costs (left) and the learning rate (right) against the step."""
    scalars = read_scalars(log_root)
    figure = Figure(figsize=(8, 3))
    costs, rate = figure.subplots(1, 2)
    for tag, style in (("Train_Cost", "-"), ("Valid_Cost", "o-")):
        if tag in scalars:
            costs.plot(*scalars[tag], style, label=tag, markersize=3)
    costs.set_xlabel("step")
    costs.set_ylabel("loss (sum over time steps)")
    costs.legend(fontsize=8)
    if "Learning_Rate" in scalars:
        steps, values = scalars["Learning_Rate"]
        rate.plot(steps, values, "-", color="tab:green")
        rate.set_ylim(0.0, 1.2 * float(np.max(values)) or 1.0)
    rate.set_xlabel("step")
    rate.set_ylabel("Learning_Rate")
    figure.tight_layout()
    return save_figure(figure, path)


def _category_names(sample_dir: str) -> dict:
    """Label -> category name, from the `<category>/<label>_<i>.png` sub-folders of a sample folder."""
    names = {}
    for name in sorted(os.listdir(sample_dir)):
        folder = os.path.join(sample_dir, name)
        if os.path.isdir(folder):
            for file_name in os.listdir(folder):
                label = file_name.split("_", 1)[0]
                if file_name.endswith(".png") and label.isdigit():
                    names[int(label)] = name
                    break
    return names


def sample_sheet(sample_dir: str, path: str, per_category: int = 8) -> str:
    """Writes a PNG of the generated sketches of a `sample_abs.py` folder, a row per category."""
    rows = {}
    for label, index, _, sketch_path in list_sample_files(sample_dir):
        if len(rows.setdefault(label, [])) < per_category:
            rows[label].append(sketch_path)
    names = _category_names(sample_dir)
    labels = sorted(rows)
    columns = max(len(paths) for paths in rows.values())
    figure, axes = panel_grid(len(labels), columns,
                               row_labels=[names.get(label, f"class {label}") for label in labels])
    for row, label in enumerate(labels):
        for column in range(columns):
            axis = axes[row, column]
            if column < len(rows[label]):
                sketch = np.load(rows[label][column])[0]
                draw_polylines(axis, absolute_to_polylines(sketch))
            else:
                axis.set_axis_off()
    return save_figure(figure, path)


def test_batch(data_dir: str, hparams, split: str = "test", count: int = 8, indices=None,
               re_scale: float = 0.0, seed: int = 0) -> tuple:
    """A batch of sketches of a data split for the grid / interpolation pictures.

    Args:
        data_dir: folder of the `<category>.npz` files.
        hparams: the checkpoint's hparams (categories, sizes, scale factor).
        split: "train", "valid" or "test".
        count: sketches, taken in turn from each category, when `indices` is None.
        indices: explicit sketch indices in the split.
        re_scale: reorganisation noise of the encoder input.
        seed: seed of that noise.

    Returns:
        `(hparams, batch)`: the hparams with the data's sizes, and the batch dict.

    Raises:
        SketchDataError: an index outside the split.
    """
    from sketchgloc_tf2.data.pipeline import SketchBatcher, prepare_data

    data = prepare_data(data_dir, hparams, keep_sizes=True)
    sketches = data.split(split)
    if indices is None:
        offsets = sketches.category_offsets()
        sizes = np.diff(offsets)
        categories = np.flatnonzero(sizes)
        indices = [int(offsets[categories[i % len(categories)]] + i // len(categories))
                   for i in range(count)]
    too_large = [index for index in indices if not 0 <= index < len(sketches)]
    if too_large:
        raise SketchDataError(
            f"{data_dir}: sketch indices {too_large} outside the {split} split "
            f"({len(sketches)} sketches)")
    batcher = SketchBatcher(sketches, data.hparams, augment=False)
    batch = batcher.batch(np.asarray(indices), re_scale, np.random.RandomState(seed))
    return data.hparams, batch


def interleaved_indices(test_split, count: int) -> np.ndarray:
    """The first `count` sketches of a split taken in turn from each category."""
    offsets = test_split.category_offsets()
    per_category = [np.arange(start, stop) for start, stop in zip(offsets[:-1], offsets[1:])]
    rounds = max(len(indices) for indices in per_category)
    interleaved = [indices[k] for k in range(rounds) for indices in per_category
                   if k < len(indices)]
    return np.asarray(interleaved[:count])


class TrainingReconstructions:
    """`training.Trainer` `on_best` callback: the reconstruction grid of the best model.

    Writes `log_root/reconstructions/epoch_<e>.png` (greedy reconstructions of `max_sketches`
    test sketches taken in turn from each category, no reorganisation noise) and logs it as the
    TensorBoard image `Reconstructions`.

    Args:
        max_sketches: columns of the grid.
    """

    def __init__(self, max_sketches: int = 8):
        self.max_sketches = max_sketches
        self.sampler = None

    def __call__(self, trainer) -> str:
        import tensorflow as tf

        batch = trainer.test_batcher.batch(
            interleaved_indices(trainer.prepared.test, self.max_sketches), 0.0,
            np.random.RandomState(0))
        path = os.path.join(trainer.log_root, RECONSTRUCTIONS_DIR,
                            f"epoch_{trainer.progress.epoch}.png")
        if self.sampler is None or self.sampler.model is not trainer.model:
            self.sampler = Sampler(trainer.model, trainer.hparams.max_seq_len, greedy=True)
        reconstruction_grid(trainer.model, trainer.hparams, batch, path,
                            max_sketches=self.max_sketches, sampler=self.sampler)
        image = tf.image.decode_png(tf.io.read_file(path), channels=3)
        with trainer.summary_writer.as_default():
            tf.summary.image("Reconstructions", image[None], step=trainer.progress.count,
                             description=f"original / input / reconstruction, epoch "
                                         f"{trainer.progress.epoch}")
        return path


if __name__ == "__main__":
    from sketch_common.command_line import run_command_line

    run_command_line("flags.gloc_pictures")
