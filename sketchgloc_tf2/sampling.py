"""Sketch generation (docs/differences.md#sg-5): the compiled batched sampler and the `sample_abs`
procedure.

`Sampler` decodes a batch of latent codes into stroke-5 sketches with upstream's algorithm
(docs/differences.md#sg-5-3), batched and compiled with XLA: `decoding.decode_steps`, the loop every
generating tool shares, over the decoder step with its loop-invariant products hoisted out of the
loop (`Decoder.step_function`). The emitted point (absolute x, y and one-hot pen) is the next step's
input. With `stop_at_end` a sketch stops at its first end-of-sketch point (every later row is
the end token `(0, 0, 0, 0, 1)`) and the loop exits when every sketch has stopped; upstream
always runs `max_seq_len` steps and then keeps the rows before the first end token, which gives
the same sketch. `Sampler.sample_many` decodes any number of codes with continuous batching (a
slot whose sketch has ended takes the next code). Random numbers are keyed by the seed, the
code's index and the step (`decoding.step_draws`), so a seed reproduces the sketches exactly,
whichever method decodes them; greedy decoding matches upstream step by step
(`python -m sketchgloc_tf2.parity BUNDLE --only sample`).

`generate_sample_folder` is upstream's `sample_abs.py` procedure (docs/differences.md#sg-5-2) on top
of it: encode the first test sketches of each category (optionally reorganised with `re_scale`),
generate from z = p_mu and write the upstream output folder.
"""

import dataclasses
import os
import re

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from sketch_common import render
from sketchgloc_tf2.checkpoint import load_checkpoint_dir
from sketchgloc_tf2.data.pipeline import SketchBatcher
from sketchgloc_tf2.decoding import decode_steps, end_lengths, start_points
from sketchgloc_tf2.errors import SketchCheckpointError, SketchConfigError, SketchDataError
from sketchgloc_tf2.model import BATCH_KEYS

DEFAULT_TEMPERATURE = 0.24
DEFAULT_STEPS_PER_CALL = 10
UPSTREAM_COLORS = ("black", "red", "blue", "green", "orange", "cyan", "tomato", "magenta",
                   "purple", "brown")


@dataclasses.dataclass
class SampleResult:
    """What one sampler call returns (numpy arrays).

    Attributes:
        strokes_5d: float32 `[B, T, 5]` emitted points: absolute x, y (normalised units) and the
            one-hot pen state (down, up, end).
        lengths: int32 `[B]` points before the first end-of-sketch row (T if none).
        initial_state: float32 `[B, S]` decoder state before the first step.
        steps: with `record_steps`, time-major per-step arrays: `input_x [T, B, 5]` (what was
            fed), `state_out [T, B, S]`, and the mixture `pi`, `mux`, `muy`, `sigmax`,
            `sigmay`, `corr` `[T, B, K]`, `pen`, `pen_logits` `[T, B, 3]`; otherwise empty.
    """

    strokes_5d: np.ndarray
    lengths: np.ndarray
    initial_state: np.ndarray
    steps: dict

    def stroke3(self, index: int) -> np.ndarray:
        """Sketch `index` in upstream's returned format: float64 `[l, 3]` (x, y, pen_up)."""
        return to_stroke3(self.strokes_5d[index], int(self.lengths[index]))


def to_stroke3(strokes_5d: np.ndarray, length: int = None) -> np.ndarray:
    """Upstream `seq_5d_to_3d` on emitted points: rows before the first end token.

    Args:
        strokes_5d: `[T, 5]` points (absolute x, y, one-hot pen).
        length: number of rows to keep; the first end-of-sketch row (or T) when None.

    Returns:
        float64 `[l, 3]`: absolute x, y, pen-up flag (l can be 0).
    """
    strokes_5d = np.asarray(strokes_5d)
    if length is None:
        ends = np.flatnonzero(strokes_5d[:, 4] > 0)
        length = int(ends[0]) if ends.size else len(strokes_5d)
    result = np.zeros((length, 3), dtype=np.float64)
    result[:, :2] = strokes_5d[:length, :2]
    result[:, 2] = strokes_5d[:length, 3]
    return result


def absolute_to_offsets(absolute: np.ndarray, offbyone: bool = False) -> np.ndarray:
    """Absolute stroke-3 `[l, 3]` to offsets (each row minus the previous; row 0 unchanged).

    Args:
        absolute: `[l, 3]` absolute x, y and pen flag.
        offbyone: reproduce upstream retrieval's loop (docs/differences.md#sg-b7), which also
            subtracts the already differenced last row from row 0: the sketch is translated by minus
            its last movement (a single point becomes (0, 0)).

    Returns:
        `[l, 3]` offsets, same dtype.
    """
    offsets = np.array(absolute, copy=True)
    if len(offsets) > 1:
        offsets[1:, :2] = absolute[1:, :2] - absolute[:-1, :2]
    if offbyone and len(offsets):
        offsets[0, :2] -= offsets[-1, :2]
    return offsets


def _seed_pair(seed):
    """An int seed `s` as the pair `(s, 0)`; a pair unchanged. int64 `[2]` tensor."""
    seed = np.atleast_1d(np.asarray(seed, dtype=np.int64))
    return tf.constant(np.concatenate([seed, [0]])[:2] if seed.size == 1 else seed[:2])


class Sampler:
    """Compiled, batched sketch generation from latent codes.

    `__call__` decodes one batch of codes (all sketches start together; the loop ends when the
    last one stops). `sample_many` decodes any number of codes with continuous batching: a fixed
    set of `batch_size` slots advances `steps_per_call` steps per compiled call, and a slot whose
    sketch has ended takes the next code, so the work follows the mean sketch length rather than
    each batch's longest sketch. Both give code i the same sketch for the same seed.

    Args:
        model: a `SketchGlocModel` (its decoder is used in evaluation mode).
        max_seq_len: T, decoder steps (upstream: the dataset's longest sketch).
        temperature: tau (upstream 0.24); ignored in greedy mode.
        greedy: argmax decoding (upstream root variant's default).
        stop_at_end: stop each sketch at its first end-of-sketch point; False runs all T steps
            feeding back every emitted point (the reference bundle's greedy recording does that).
        jit_compile: compile the loop with XLA.
    """

    def __init__(self, model, max_seq_len: int, temperature: float = DEFAULT_TEMPERATURE,
                 greedy: bool = False, stop_at_end: bool = True, jit_compile: bool = True):
        if max_seq_len <= 0:
            raise SketchConfigError(f"max_seq_len must be positive, got {max_seq_len}")
        if not greedy and temperature <= 0:
            raise SketchConfigError(f"temperature must be positive, got {temperature}; use "
                                    "greedy decoding for a deterministic sketch")
        self.model = model
        self.max_seq_len = int(max_seq_len)
        self.temperature = float(temperature)
        self.greedy = bool(greedy)
        self.stop_at_end = bool(stop_at_end)
        self.jit_compile = bool(jit_compile)
        self._functions = {}

    def _function(self, record_steps):
        if record_steps not in self._functions:
            self._functions[record_steps] = tf.function(
                lambda z, seed: self._decode(z, seed, record_steps),
                jit_compile=self.jit_compile, reduce_retracing=True)
        return self._functions[record_steps]

    def __call__(self, z, seed=0, record_steps: bool = False) -> SampleResult:
        """Generates one sketch per latent code.

        Args:
            z: `[B, Z]` latent codes.
            seed: int (same as the pair `(seed, 0)`) or a pair of ints; the same seed and z give
                the same sketches.
            record_steps: also return every step's inputs, mixture and state (`SampleResult.steps`).

        Returns:
            `SampleResult`.
        """
        z = tf.convert_to_tensor(np.asarray(z, dtype=np.float32))
        outputs = tf.nest.map_structure(
            lambda value: value.numpy(), self._function(bool(record_steps))(z, _seed_pair(seed)))
        return SampleResult(outputs["strokes_5d"], outputs["lengths"], outputs["initial_state"],
                            outputs.get("steps", {}))

    def _decode(self, z, seed, record_steps):
        decoder = self.model.decoder
        batch = tf.shape(z)[0]
        initial_state = decoder.initial_state(z)
        result = decode_steps(
            decoder.step_function(z), initial_state, start_points(batch, z.dtype), seed,
            tf.range(batch), num_steps=self.max_seq_len, temperature=self.temperature,
            greedy=self.greedy, stop_at_end=self.stop_at_end, record_steps=record_steps)
        outputs = {"strokes_5d": result["rows"], "lengths": end_lengths(result["rows"]),
                   "initial_state": initial_state}
        if record_steps:
            outputs["steps"] = result["steps"]
        return outputs

    def sample_many(self, z, batch_size: int = 100, seed=0,
                    steps_per_call: int = DEFAULT_STEPS_PER_CALL, progress: bool = False) -> list:
        """Generates one sketch per code with continuous batching.

        Args:
            z: `[M, Z]` latent codes.
            batch_size: slots decoded together.
            seed: int or pair; code i gets the sketch `__call__(z, seed)` gives it (up to the
                rounding of other batch shapes when `batch_size` < M).
            steps_per_call: decoder steps per compiled call; a finished slot is refilled at the
                next call.
            progress: show a progress bar.

        Returns:
            List of M float64 `[l, 3]` absolute stroke-3 sketches (x, y, pen_up), in z order.
        """
        z = np.asarray(z, dtype=np.float32)
        slots = min(int(batch_size), len(z))
        if slots == 0:
            return []
        key = ("advance", slots, int(steps_per_call))
        if key not in self._functions:
            self._functions[key] = tf.function(
                lambda *args: self._advance(*args, num_steps=int(steps_per_call)),
                jit_compile=self.jit_compile)
        advance = self._functions[key]
        base_seed = _seed_pair(seed)
        slot_z = np.zeros((slots, z.shape[1]), np.float32)
        owner = np.full(slots, -1, np.int32)
        state = np.zeros((slots, self.model.decoder.state_size), np.float32)
        point = np.zeros((slots, 5), np.float32)
        steps_done = np.zeros(slots, np.int32)
        pieces = [[] for _ in range(len(z))]
        sketches = [None] * len(z)
        next_code = 0
        bar = keras.utils.Progbar(len(z), unit_name="sketch") if progress else None
        while True:
            reset = np.zeros(slots, bool)
            for slot in np.flatnonzero(owner < 0):
                if next_code == len(z):
                    break
                owner[slot], slot_z[slot], reset[slot] = next_code, z[next_code], True
                next_code += 1
            active = owner >= 0
            if not active.any():
                break
            rows, state, point, steps_done, done = (value.numpy() for value in advance(
                slot_z, state, point, steps_done, reset, active, owner, base_seed))
            for slot in np.flatnonzero(active):
                ends = np.flatnonzero(rows[slot, :, 4] > 0)
                pieces[owner[slot]].append(rows[slot, :ends[0] if ends.size else len(rows[slot])])
                if done[slot]:
                    code = owner[slot]
                    sketches[code] = to_stroke3(np.concatenate(pieces[code]), None)
                    pieces[code], owner[slot] = None, -1
                    if bar:
                        bar.add(1)
        return sketches

    def _advance(self, z, state, point, steps_done, reset, active, owner, seed, num_steps):
        """Up to `num_steps` steps of every active slot (compiled by `sample_many`).

        Args:
            z: `[B, Z]` code of each slot.
            state, point: `[B, S]`, `[B, 5]` decoder state and last emitted point per slot.
            steps_done: int32 `[B]` steps already taken by each slot's sketch.
            reset: bool `[B]` slots starting a new sketch (state from z, start token).
            active: bool `[B]` slots holding a sketch (idle slots count as finished).
            owner: int32 `[B]` index of each slot's code.
            seed: int64 `[2]` seed of the `sample_many` run.
            num_steps: steps per call (static).

        Returns:
            `(rows [B, num_steps, 5], state, point, steps_done, done [B])`; rows after a slot's
            end (or its T-th step) are end tokens; done = the sketch has ended or used T steps.
        """
        decoder = self.model.decoder
        state = tf.where(reset[:, None], decoder.initial_state(z), state)
        point = tf.where(reset[:, None], start_points(tf.shape(z)[0], z.dtype), point)
        steps_done = tf.where(reset, 0, steps_done)
        result = decode_steps(
            decoder.step_function(z), state, point, seed, owner, steps_done,
            tf.logical_not(active), num_steps=num_steps, limit=self.max_seq_len,
            temperature=self.temperature, greedy=self.greedy, stop_at_end=self.stop_at_end)
        return (result["rows"], result["state"], result["point"], result["steps_done"],
                result["done"])


def load_sampling_model(checkpoint_dir: str, ckpt_id: int = 0) -> tuple:
    """The model and hparams of a CHECKPOINT_DIR, in evaluation mode.

    Args:
        checkpoint_dir: native checkpoint directory, TF1 checkpoint prefix or folder.
        ckpt_id: 0 for `checkpoint_dir` itself (its latest checkpoint); otherwise
            `checkpoint_dir/vector-<ckpt_id>` (a TF1 prefix or a native directory), as upstream
            root's `sample_abs.py` 6th argument.

    Returns:
        `(model, hparams)` with `hparams.eval_copy()` (dropout off, `is_training` False).
    """
    path = checkpoint_dir
    if ckpt_id:
        path = os.path.join(checkpoint_dir, f"vector-{ckpt_id}")
        if not (os.path.isdir(path) or os.path.exists(path + ".index")):
            raise SketchCheckpointError(
                f"{path}: no checkpoint vector-{ckpt_id} in {checkpoint_dir}; pass CKPT_ID 0 for "
                "the latest one")
    model, hparams = load_checkpoint_dir(path)
    return model, hparams.eval_copy()


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
    temporary = path + ".tmp.npy"
    np.save(temporary, array)
    os.replace(temporary, path)


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
