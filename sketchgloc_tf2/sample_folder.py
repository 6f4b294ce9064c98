"""Upstream's `sample_abs.py` procedure (docs/differences.md#sg-5-2) and its output folder.

`generate_sample_folder` encodes the first test sketches of each category (optionally
reorganised with `re_scale`), generates from z = p_mu with `sampling.Sampler` and writes the
upstream folder layout (see its docstring); `list_sample_files` reads such a folder back (for
`retrieval.py`, the recognition metric and the contact-sheet picture). `encode_mu` and
`random_latents` make the codes the sketches are generated from.
"""

import dataclasses
import os
import re

import numpy as np
from absl import logging

from sketch_common import render
from sketch_common.atomic_io import atomic_path
from sketchgloc_tf2.data.pipeline import SketchBatcher
from sketchgloc_tf2.errors import SketchConfigError, SketchDataError
from sketchgloc_tf2.model import BATCH_KEYS
from sketchgloc_tf2.sampling import DEFAULT_TEMPERATURE, Sampler
from sketchgloc_tf2.strokes import absolute_to_offsets

UPSTREAM_COLORS = ("black", "red", "blue", "green", "orange", "cyan", "tomato", "magenta",
                   "purple", "brown")


def random_latents(num: int, z_size: int, seed) -> np.ndarray:
    """Unconditional codes z ~ N(0, I): float32 `[num, z_size]`, reproducible from `seed` (int or
    sequence of ints)."""
    return np.random.RandomState(seed).standard_normal((num, z_size)).astype(np.float32)


def encode_mu(model, batch, box_key: str = "input_box") -> np.ndarray:
    """`p_mu` of a batch (evaluation mode), with `batch[box_key]` as the relation graph.

    Returns:
        float32 `[B, Z]`.
    """
    inputs = {key: batch[key] for key in BATCH_KEYS}
    inputs["input_box"] = batch[box_key]
    return model.encode(inputs, training=False)["p_mu"].numpy()


@dataclasses.dataclass
class SampleFolderOptions:
    """Settings of `generate_sample_folder` (the `sample_abs.py` options).

    Attributes:
        sample_size: test sketches per category (upstream SAMPLE_SIZE).
        re_scale: reorganisation noise strength applied before encoding (upstream RE_SCALE).
        temperature: sampling temperature tau.
        greedy: argmax decoding.
        seed: seeds the reorganisation noise, unconditional codes and the sampler.
        conditional: z = p_mu of test sketches; False: z ~ N(0, I).
        z_ori_clean_strokes: `code_*.npy` encodes the clean chunks with the clean graph; upstream
            (default False) encodes the reorganised chunks with the clean graph
            (docs/differences.md#sg-b6).
        color_by_category: colour strokes by category as upstream (leaks the label into Rec,
            docs/differences.md#sg-b10); default black.
        batch_size: sketches decoded together (sampler slots) and per encoder call.
        write_svg: also write upstream's root `c_i.svg` files.
    """

    sample_size: int = 100
    re_scale: float = 0.0
    temperature: float = DEFAULT_TEMPERATURE
    greedy: bool = False
    seed: int = 0
    conditional: bool = True
    z_ori_clean_strokes: bool = False
    color_by_category: bool = False
    batch_size: int = 100
    write_svg: bool = True


def _atomic_save_npy(path, array):
    with atomic_path(path) as temporary:
        np.save(temporary, array)


def _category_codes(model, batcher, indices, options, rng):
    """`(z, z_ori)` float32 `[n, Z]` for test sketches `indices` (encoded in chunks)."""
    z_parts, z_ori_parts = [], []
    for begin in range(0, len(indices), options.batch_size):
        chunk = indices[begin:begin + options.batch_size]
        batch = batcher.batch(chunk, options.re_scale, rng)
        z_parts.append(encode_mu(model, batch))
        if options.z_ori_clean_strokes:
            clean = batcher.batch(chunk, 0.0, np.random.RandomState(0))
            z_ori_parts.append(encode_mu(model, clean, "box_ori"))
        else:
            z_ori_parts.append(encode_mu(model, batch, "box_ori"))
    return np.concatenate(z_parts), np.concatenate(z_ori_parts)


def check_output_folder(output_dir: str) -> None:
    """Fails early when the OUTPUT_DIR of `generate_sample_folder` exists and is not a folder.

    Raises:
        SketchConfigError: naming `output_dir`.
    """
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise SketchConfigError(f"OUTPUT_DIR {output_dir}: exists and is not a folder; pass a "
                                "folder for the samples")


def make_output_folder(output_dir: str) -> None:
    """Creates the OUTPUT_DIR of `generate_sample_folder` if needed.

    Raises:
        SketchConfigError: `output_dir` is a file or cannot be created.
    """
    check_output_folder(output_dir)
    try:
        os.makedirs(output_dir, exist_ok=True)
    except OSError as error:
        raise SketchConfigError(f"OUTPUT_DIR {output_dir}: cannot create it "
                                f"({error.strerror or error})") from None


def generate_sample_folder(model, hparams, test_split, output_dir: str,
                           options: SampleFolderOptions) -> dict:
    """Upstream `sample_abs.py` (docs/differences.md#sg-5-2) for already loaded, normalised test
    data.

    For category c (in `hparams.categories` order) the first `sample_size` test sketches of that
    category (real per-category offsets, not upstream's 2500 c, docs/differences.md#sg-b15) are
    encoded with
    `re_scale` noise; sketch i is generated from its z and written as

    * `OUTPUT_DIR/<category>/c_i.png` and `OUTPUT_DIR/c_i.png`: 48x48 rendering (upstream
      `draw_strokes` geometry), black unless `color_by_category`; `OUTPUT_DIR/c_i.svg` too;
    * `OUTPUT_DIR/code_c_i.npy`: float32 `[1, Z]` latent of the clean layout (z_ori,
      docs/differences.md#sg-b6); for unconditional sampling the z the sketch was generated from;
    * `OUTPUT_DIR/s_c_i.npy`: float64 `[1, l, 3]` generated sketch, absolute x, y (normalised
      units) and the pen-up flag.

    Args:
        model: `SketchGlocModel`.
        hparams: hparams with categories, sizes and scale factor (from `prepare_data`).
        test_split: the normalised test `SketchSplit` of those categories.
        output_dir: created if needed.
        options: `SampleFolderOptions`.

    Returns:
        Dict category name -> number of sketches written.
    """
    make_output_folder(output_dir)
    rng = np.random.RandomState(options.seed)
    batcher = SketchBatcher(test_split, hparams, augment=False)
    sampler = Sampler(model, hparams.max_seq_len, options.temperature, options.greedy)
    offsets = test_split.category_offsets()
    written = {}
    for label, name in enumerate(hparams.categories):
        available = int(offsets[label + 1] - offsets[label]) if label + 1 < len(offsets) else 0
        count = min(options.sample_size, available)
        if count < options.sample_size:
            logging.warning("category %s has %d test sketches, fewer than the %d asked for",
                            name, available, options.sample_size)
        if options.conditional:
            indices = np.arange(offsets[label], offsets[label] + count)
            z, z_ori = _category_codes(model, batcher, indices, options, rng)
        else:
            z = random_latents(count, hparams.z_size, (options.seed, label))
            z_ori = z
        logging.info("category %d (%s): generating %d sketches", label, name, count)
        sketches = sampler.sample_many(z, options.batch_size, seed=(options.seed, label),
                                       progress=True)
        color = UPSTREAM_COLORS[label % len(UPSTREAM_COLORS)] if options.color_by_category \
            else "black"
        category_dir = os.path.join(output_dir, name)
        os.makedirs(category_dir, exist_ok=True)
        for index, sketch in enumerate(sketches):
            stem = f"{label}_{index}"
            offsets_3 = absolute_to_offsets(sketch)
            image = render.to_image(render.rasterize(offsets_3), color)
            render.save_png(image, os.path.join(category_dir, stem + ".png"))
            render.save_png(image, os.path.join(output_dir, stem + ".png"))
            if options.write_svg:
                render.write_svg(offsets_3, os.path.join(output_dir, stem + ".svg"), color=color)
            _atomic_save_npy(os.path.join(output_dir, f"code_{stem}.npy"),
                             z_ori[index].reshape(1, -1).astype(np.float32))
            _atomic_save_npy(os.path.join(output_dir, f"s_{stem}.npy"), sketch[None])
        written[name] = len(sketches)
    return written


SAMPLE_FILE = re.compile(r"^(code|s)_(\d+)_(\d+)\.npy$")


def list_sample_files(sample_dir: str) -> list:
    """`(label, index, code_path, sketch_path)` of a sample folder, sorted by label then index.

    Raises:
        SketchDataError: `sample_dir` is not a folder, it has no `code_*.npy` files, or a code
            lacks its `s_*.npy` (or vice versa).
    """
    if not os.path.isdir(sample_dir):
        what = "not a folder" if os.path.exists(sample_dir) else "no such folder"
        raise SketchDataError(
            f"SAMPLE_DIR {sample_dir}: {what}; pass the OUTPUT_DIR of `python sample_abs.py`")
    found = {}
    for name in os.listdir(sample_dir):
        match = SAMPLE_FILE.match(name)
        if match:
            kind, label, index = match.group(1), int(match.group(2)), int(match.group(3))
            found.setdefault((label, index), {})[kind] = os.path.join(sample_dir, name)
    if not found:
        raise SketchDataError(
            f"{sample_dir}: no code_<c>_<i>.npy / s_<c>_<i>.npy files; write them with "
            "`python sample_abs.py SAMPLE_SIZE DATASET_ID OUTPUT_DIR RE_SCALE CHECKPOINT_DIR`")
    rows = []
    for (label, index), paths in sorted(found.items()):
        if set(paths) != {"code", "s"}:
            missing = "s" if "s" not in paths else "code"
            raise SketchDataError(
                f"{sample_dir}: {missing}_{label}_{index}.npy is missing (the folder is "
                "incomplete; regenerate it with sample_abs.py)")
        rows.append((label, index, paths["code"], paths["s"]))
    return rows
