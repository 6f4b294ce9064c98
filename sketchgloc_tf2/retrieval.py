"""The Ret metric (docs/differences.md#sg-6): retrieve each generated sketch's source among all
source codes.

A `sample_abs.py` folder holds, per source sketch (label c, index i), `code_c_i.npy` (the latent
of the source) and `s_c_i.npy` (the sketch generated from it, absolute stroke-3). Every generated
sketch is re-encoded (no noise, like upstream's `get_box_input`); its code is compared with every
source code (the gallery: all categories) by the mean squared difference over the Z dimensions.
`Top-k Ret` is the fraction of generated sketches whose own source is among the k nearest
codes, ties going to the lower gallery index (upstream's repeated `argmin`).

Differences from upstream, all documented in README:

* upstream imports a missing module `sample` (docs/differences.md#sg-b8); not needed here;
* upstream turns the absolute sketch into offsets with an off-by-one loop that translates it by
  minus its last movement (docs/differences.md#sg-b7); fixed by default, `offbyone=True` reproduces
  it;
* an empty generated sketch, or one without a finished stroke, is encoded as an empty node set
  (upstream crashes, docs/differences.md#sg-b9);
* all S generated sketches are ranked (upstream ranks only the first `10 floor(S / 10)` of them
  but divides by S; identical when S is a multiple of 10);
* files are grouped by the labels present in the folder (upstream loops over the categories of
  the checkpoint's config), so a folder sampled from other categories than the training ones is
  evaluated whole.
"""

import dataclasses

import numpy as np
import tensorflow as tf
from absl import logging

from sketch_common.progress import progress_bar
from sketchgloc_tf2.data.graph_batching import encoder_batch
from sketchgloc_tf2.data.pipeline import batch_sizes
from sketchgloc_tf2.errors import SketchDataError
from sketchgloc_tf2.sample_folder import list_sample_files
from sketchgloc_tf2.strokes import absolute_to_offsets

TOP_K = (1, 10, 50)
NORMALISED = 1.0  # scale factor of sketches already in normalised units


@dataclasses.dataclass
class RetrievalResult:
    """Ret of a sample folder.

    Attributes:
        top_k: dict k -> fraction of generated sketches whose source is within the k nearest.
        ranks: int `[S]` rank (0 = nearest) of each generated sketch's own source code.
        nearest: int `[S]` gallery index of each generated sketch's nearest source code.
        labels: int `[S]` category label of each source (from the file names).
    """

    top_k: dict
    ranks: np.ndarray
    nearest: np.ndarray
    labels: np.ndarray


def squared_distances(real_codes: np.ndarray, fake_codes: np.ndarray) -> np.ndarray:
    """Mean over Z of squared differences, in float64: `[S_fake, S_real]`.

    Computed as `(|f|^2 + |r|^2 - 2 f.r) / Z`, so that memory grows with S_fake * S_real only;
    identical codes give identical distances, so ties stay ties.
    """
    real = np.asarray(real_codes, dtype=np.float64)
    fake = np.asarray(fake_codes, dtype=np.float64)
    squared = (np.sum(fake ** 2, axis=1)[:, None] + np.sum(real ** 2, axis=1)[None, :]
               - 2.0 * fake @ real.T)
    return np.maximum(squared, 0.0) / real.shape[1]


def source_ranks(real_codes: np.ndarray, fake_codes: np.ndarray, chunk: int = 256) -> tuple:
    """Rank of each generated code's own source in the gallery of all source codes.

    Generated code r belongs to source r. Rank = number of gallery codes strictly closer plus
    the number at the same distance with a lower index (upstream's argmin tie order).

    Args:
        real_codes: `[S, Z]` source codes (the gallery).
        fake_codes: `[S, Z]` codes of the generated sketches.
        chunk: generated codes per distance block (memory `chunk * S` floats).

    Returns:
        `(ranks, nearest)`: int `[S]` each.
    """
    if len(real_codes) != len(fake_codes):
        raise SketchDataError(
            f"{len(fake_codes)} generated codes for {len(real_codes)} source codes")
    ranks, nearest = [], []
    gallery_index = np.arange(len(real_codes))[None, :]
    for begin in range(0, len(fake_codes), chunk):
        distances = squared_distances(real_codes, fake_codes[begin:begin + chunk])
        source_index = np.arange(begin, begin + len(distances))[:, None]
        own = np.take_along_axis(distances, source_index, axis=1)
        ahead = (distances < own) | ((distances == own) & (gallery_index < source_index))
        ranks.append(ahead.sum(axis=1))
        nearest.append(np.argmin(distances, axis=1))
    if not ranks:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(ranks), np.concatenate(nearest)


def top_k_accuracy(ranks: np.ndarray, ks=TOP_K) -> dict:
    """Dict k -> fraction of ranks below k."""
    ranks = np.asarray(ranks)
    return {k: float(np.mean(ranks < k)) if ranks.size else 0.0 for k in ks}


def encode_generated(model, hparams, sketches, offbyone: bool = False,
                     batch_size: int = 100, progress: bool = False) -> np.ndarray:
    """Codes (`p_mu`) of generated sketches, re-encoded without noise (no reorganisation).

    The encoder batch is built by `graph_batching.encoder_batch`, the preprocessing of the
    `SketchGloc` task and of the exports (identical to the training pipeline's clean batch);
    generated sketches are already normalised, so the scale factor is 1.

    Args:
        model: `SketchGlocModel`.
        hparams: sizes `max_stroke_len`, `max_strokes_num` of the model.
        sketches: list of absolute stroke-3 arrays `[l, 3]` (x, y, pen_up), l may be 0.
        offbyone: reproduce upstream's offset conversion (docs/differences.md#sg-b7).
        batch_size: sketches per encoder call.
        progress: show a progress bar.

    Returns:
        float32 `[len(sketches), Z]`.
    """
    offsets = [absolute_to_offsets(np.asarray(s, dtype=np.float64), offbyone).astype(np.float32)
               for s in sketches]
    sizes = batch_sizes(hparams)
    width = max([len(s) for s in offsets] + [1])
    encode = tf.function(lambda strokes, lengths: model.encode(
        encoder_batch(strokes, lengths, NORMALISED, sizes), training=False)["p_mu"])
    codes = []
    bar = progress_bar(len(offsets), "sketch") if progress else None
    for begin in range(0, len(offsets), batch_size):
        chunk = offsets[begin:begin + batch_size]
        strokes = np.zeros((batch_size, width, 3), np.float32)
        lengths = np.zeros(batch_size, np.int32)
        for row, sketch in enumerate(chunk):
            strokes[row, :len(sketch)] = sketch
            lengths[row] = len(sketch)
        codes.append(encode(strokes, lengths).numpy()[:len(chunk)])
        if bar:
            bar.add(len(chunk))
    return np.concatenate(codes) if codes else np.zeros((0, hparams.z_size), np.float32)


def load_sample_array(path: str) -> np.ndarray:
    """Reads one `code_*.npy` / `s_*.npy` file of a sample folder (never a pickle).

    Returns:
        The array, of a real numeric dtype with finite values.

    Raises:
        SketchDataError: naming the file, when it is truncated, not a `.npy` file, pickled,
            not numeric or not finite.
    """
    fix = "regenerate the folder with sample_abs.py"
    try:
        with open(path, "rb") as stream:
            array = np.load(stream, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise SketchDataError(f"{path}: not a readable .npy array, truncated or corrupted "
                              f"({reason}); {fix}") from None
    if not isinstance(array, np.ndarray) or not (
            np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise SketchDataError(f"{path}: expected a numeric array, got "
                              f"{getattr(array, 'dtype', type(array).__name__)}; {fix}")
    if not np.all(np.isfinite(array)):
        raise SketchDataError(f"{path}: holds NaN or infinite values; {fix}")
    return array


def evaluate_sample_folder(model, hparams, sample_dir: str, offbyone: bool = False,
                           batch_size: int = 100) -> RetrievalResult:
    """Ret of a `sample_abs.py` output folder.

    Args:
        model: `SketchGlocModel` (the one that generated the folder).
        hparams: its hparams (sizes).
        sample_dir: folder with `code_c_i.npy` and `s_c_i.npy`.
        offbyone: reproduce upstream's off-by-one conversion (docs/differences.md#sg-b7).
        batch_size: sketches per encoder call.

    Returns:
        `RetrievalResult`.
    """
    rows = list_sample_files(sample_dir)
    labels = np.array([label for label, _, _, _ in rows])
    real = []
    for _, _, code_path, _ in rows:
        code = load_sample_array(code_path)
        if code.size != hparams.z_size:
            raise SketchDataError(
                f"{code_path}: {code.size} values, the model has z_size={hparams.z_size}; "
                "evaluate with the checkpoint that generated the folder")
        real.append(code.reshape(-1))
    sketches = []
    for _, _, _, sketch_path in rows:
        sketch = load_sample_array(sketch_path)
        if sketch.ndim != 3 or sketch.shape[0] != 1 or sketch.shape[2] != 3:
            raise SketchDataError(
                f"{sketch_path}: expected shape [1, l, 3] (absolute x, y, pen_up), got "
                f"{sketch.shape}")
        sketches.append(sketch[0])
    empty = sum(len(sketch) == 0 for sketch in sketches)
    if empty:
        logging.warning("%d generated sketches are empty; they are encoded as empty node sets",
                        empty)
    fake = encode_generated(model, hparams, sketches, offbyone, batch_size, progress=True)
    ranks, nearest = source_ranks(np.stack(real), fake)
    for index in np.flatnonzero(nearest != np.arange(len(nearest))):
        logging.info("%d to %d", index, nearest[index])
    return RetrievalResult(top_k_accuracy(ranks), ranks, nearest, labels)
