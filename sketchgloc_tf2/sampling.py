"""Sketch generation (docs/differences.md#sg-5): the compiled batched sampler.

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

The sampler takes a loaded model: checkpoints are loaded by `checkpoint.load_checkpoint_dir`
(native) or `convert.load_any_checkpoint` (native or TF1, what the tools accept). Stroke formats
are converted in `strokes.py`; upstream's `sample_abs.py` procedure is `sample_folder.py`.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from sketch_common.progress import progress_bar
from sketchgloc_tf2.decoding import decode_steps, end_lengths, start_points
from sketchgloc_tf2.errors import SketchConfigError
from sketchgloc_tf2.strokes import to_stroke3

DEFAULT_TEMPERATURE = 0.24
DEFAULT_STEPS_PER_CALL = 10


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
        bar = progress_bar(len(z), "sketch") if progress else None
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
