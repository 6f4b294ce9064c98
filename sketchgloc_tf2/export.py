"""Exports a SketchGloc CHECKPOINT_DIR as a versioned SavedModel for TF Serving.

    python -m sketchgloc_tf2.export CHECKPOINT_DIR EXPORT_BASE [--version N]

(command line in `flags/gloc_export.py`; CHECKPOINT_DIR is loaded by `convert.load_any_checkpoint`)

writes `EXPORT_BASE/N/` (N = one more than the largest numbered version there, 1 for an empty
base) through a hidden temporary folder renamed at the end, so a server watching EXPORT_BASE
never sees a half-written version. The signatures take plain tensors; loading them needs only
TensorFlow (`tf.saved_model.load`, `saved_model_cli`, `tensorflow_model_server`). Sizes: B
sketches, P rows per padded sketch, Z = `z_size`, T = `max_seq_len`.

| signature | inputs | outputs |
|---|---|---|
| `serving_default` (encode) | `strokes` float32 `[B, P, 3]`, `lengths` int32 `[B]` | `mu`, `logvar` float32 `[B, Z]` |
| `sample` | `z` float32 `[B, Z]`, `temperature` float32 `[]`, `seed` int64 `[]` | `strokes` float32 `[B, T, 3]`, `lengths` int32 `[B]` |
| `reconstruct` | `strokes`, `lengths` (as encode), `temperature`, `seed` (as sample) | as sample |
| `complete` | as reconstruct (partial sketches) | as sample: the continuation only |

Input sketches are stroke-3 rows `(dx, dy, pen_lift)` in original Quick, Draw! units (offsets
from the previous point, row 0 from the origin, `pen_lift` 1 on the last point of a stroke);
rows past `lengths[b]` are ignored. The graph clips them to ±1000, divides by the stored
`normalizing_scale_factor` and builds the clean encoder batch of `data/graph_batching.py`
(equal to the training pipeline's validation batches); sketches are encoded in blocks of
`encode_block` (the stroke encoder needs a static batch). `logvar` is the log-variance of the
latent Gaussian (`p_sigma2`). Generated sketches use the same stroke-3 format: offsets in
original units and the pen-lift flag, `lengths[b]` rows (the points before the end-of-sketch
token, at most T), zero rows after. `temperature` 0 means greedy decoding (argmax component,
its mean, argmax pen state); a positive temperature samples as `sampling.Sampler` does with
that temperature: the same `(z, temperature, seed)` gives the same sketches, those of
`Sampler(model, T, temperature, jit_compile=False)(z, seed)` (with `--jit_compile`, those of the
XLA-compiled `Sampler`: XLA's stateless generators give other numbers than the CPU kernels).
`reconstruct` decodes from z = mu. `complete` encodes each partial sketch, feeds its points
through the decoder and samples on from its last point: the output rows continue the partial
sketch (row 0 is the offset from its last point), at most T points in all, input included.

Signature input shapes are left open (`saved_model_cli show` prints `unknown_rank`) so that a
malformed request reaches the in-graph checks: bad requests (wrong rank or width, lengths
outside [0, P], NaN or infinite values, pen flags other than 0 / 1, a negative temperature) fail
with an `InvalidArgumentError` whose message names the problem. `assets.extra/export_info.json`
records the sizes and the scale factor.
"""

import functools
import json
import os

import keras
import numpy as np
import tensorflow as tf

from sketch_common import serving
from sketch_common.serving import (INFO_FILE, assert_first_failure, check_scalar,
                                   check_sketch_batch, padded_shape)
from sketchgloc_tf2.data.graph_batching import encoder_batch, normalize_sketches
from sketchgloc_tf2.data.pipeline import batch_sizes
from sketchgloc_tf2.decoding import decode_steps, end_lengths, start_points
from sketchgloc_tf2.errors import SketchConfigError

# SketchGloc's export reports a bad EXPORT_BASE or --version as its own SketchConfigError.
check_export_base = functools.partial(serving.check_export_base, error_type=SketchConfigError)
write_version = functools.partial(serving.write_version, error_type=SketchConfigError)

DEFAULT_ENCODE_BLOCK = 32


def _check_latents(z, z_size):
    """Validates `z` (expected finite `[B, z_size]`); returns a well-formed `[B, z_size]`."""
    shape = padded_shape(z, 2)
    well_formed = [(tf.equal(tf.rank(z), 2), f"z must be a rank-2 [B, {z_size}] matrix"),
                   (tf.equal(shape[1], z_size), f"z must have {z_size} columns (z_size)")]
    usable = tf.reduce_all(tf.stack([condition for condition, _ in well_formed]))
    shape = tf.where(usable, shape, tf.constant([0, z_size]))
    clean = tf.ensure_shape(
        tf.reshape(tf.reshape(z, [-1])[:tf.reduce_prod(shape)], shape), [None, z_size])
    checked = assert_first_failure(
        well_formed + [(tf.reduce_all(tf.math.is_finite(clean)),
                        "z contains NaN or infinite values")],
        ["z shape:", tf.shape(z)])
    with tf.control_dependencies([checked]):
        return tf.identity(clean)


def _check_temperature(temperature):
    """Validates the sampling temperature (a finite scalar >= 0)."""
    temperature = check_scalar(temperature, "temperature")
    checked = assert_first_failure([
        (tf.math.is_finite(temperature), "temperature must be finite"),
        (temperature >= 0.0, "temperature must be >= 0 (0 = greedy decoding)")],
        ["temperature:", temperature])
    with tf.control_dependencies([checked]):
        return tf.identity(temperature)


class ServingGraph:
    """The functions behind the signatures (traced into the SavedModel).

    Args:
        model: a `SketchGlocModel` (evaluation mode is used).
        hparams: its hparams, with `max_seq_len`, `max_stroke_len`, `max_strokes_num` and a
            positive `normalizing_scale_factor`.
        encode_block: sketches per encoder call (static batch of the stroke encoder).
        jit_compile: compile the decoding loop with XLA (TF Serving then needs
            `--xla_cpu_compilation_enabled=true`).
    """

    def __init__(self, model, hparams, encode_block=DEFAULT_ENCODE_BLOCK, jit_compile=False):
        if hparams.normalizing_scale_factor <= 0:
            raise SketchConfigError(
                "model_config.json has no normalizing_scale_factor (a config written by the "
                "original code); pass --normalizing_scale_factor (the training data's dx/dy "
                "standard deviation, logged by training)")
        if encode_block < 1:
            raise SketchConfigError(f"encode_block must be >= 1, got {encode_block}")
        self.model = model
        self.hparams = hparams
        self.sizes = batch_sizes(hparams)
        self.scale = np.float32(hparams.normalizing_scale_factor) + np.float32(1e-10)
        self.encode_block = int(encode_block)
        self._decode = tf.function(self._decode_loop, jit_compile=jit_compile, autograph=False)
        self._continue = tf.function(self._continue_loop, jit_compile=jit_compile,
                                     autograph=False)

    def _encode_block(self, strokes, lengths):
        batch = encoder_batch(strokes, lengths, self.hparams.normalizing_scale_factor,
                              self.sizes)
        outputs = self.model.encode(batch, training=False)
        return outputs["p_mu"], outputs["p_sigma2"]

    def encode(self, strokes, lengths):
        """Validated sketches -> `(mu, logvar)` `[B, Z]`, encoded `encode_block` at a time."""
        block, z_size = self.encode_block, self.hparams.z_size
        batch = tf.shape(strokes)[0]
        blocks = (batch + block - 1) // block
        padding = blocks * block - batch
        strokes = tf.reshape(tf.pad(strokes, [[0, padding], [0, 0], [0, 0]]),
                             [blocks, block, tf.shape(strokes)[1], 3])
        lengths = tf.reshape(tf.pad(lengths, [[0, padding]]), [blocks, block])
        spec = tf.TensorSpec([block, z_size], tf.float32)
        mu, logvar = tf.map_fn(lambda args: self._encode_block(*args), (strokes, lengths),
                               fn_output_signature=(spec, spec))
        return (tf.reshape(mu, [-1, z_size])[:batch], tf.reshape(logvar, [-1, z_size])[:batch])

    def _decode_loop(self, z, temperature, seed):
        """Decodes `z [B, Z]` into `[B, T, 5]` emitted points (absolute x, y, one-hot pen)."""
        decoder = self.model.decoder
        batch = tf.shape(z)[0]
        result = decode_steps(
            decoder.step_function(z), decoder.initial_state(z), start_points(batch),
            tf.stack([seed, tf.constant(0, tf.int64)]), tf.range(batch),
            num_steps=self.hparams.max_seq_len, temperature=temperature,
            greedy=temperature <= 0.0)
        return result["rows"]

    def generate(self, z, temperature, seed):
        """Validated codes -> stroke-3 offsets in original units `[B, T, 3]` and lengths `[B]`."""
        points = self._decode(z, temperature, seed)
        steps = self.hparams.max_seq_len
        lengths = end_lengths(points)
        absolute = points[:, :, :2]
        offsets = (absolute - tf.pad(absolute[:, :-1], [[0, 0], [1, 0], [0, 0]])) * self.scale
        strokes = tf.concat([offsets, points[:, :, 3:4]], axis=2)
        valid = tf.sequence_mask(lengths, steps)
        return {"strokes": tf.where(valid[..., None], strokes, 0.0), "lengths": lengths}

    def _continue_loop(self, z, strokes, lengths, temperature, seed):
        """Teacher-forces each partial sketch through the decoder, then samples on.

        Returns:
            `(rows [B, T, 5], last [B, 2])`: the emitted continuation points (absolute x, y in
            normalised units, one-hot pen; end tokens once a sketch is done) and the absolute
            position of each partial sketch's last point.
        """
        decoder = self.model.decoder
        batch, steps = tf.shape(z)[0], self.hparams.max_seq_len
        offsets, pen, valid = normalize_sketches(strokes, lengths,
                                                 self.hparams.normalizing_scale_factor)
        absolute = tf.cumsum(offsets, axis=1)
        lifted = tf.where(valid, pen, 0.0)
        points = tf.concat([absolute, tf.stack([1.0 - lifted, lifted], axis=2),
                            tf.zeros_like(lifted)[..., None]], axis=2)
        points = tf.where(valid[..., None], points, 0.0)
        inputs = tf.concat([start_points(batch)[:, None], points], axis=1)
        forced = decoder.teacher_forced(inputs, z, lengths=lengths)
        last = tf.gather(points, lengths - 1, axis=1, batch_dims=1)
        result = decode_steps(
            decoder.step_function(z), forced["final_state"], last,
            tf.stack([seed, tf.constant(0, tf.int64)]), tf.range(batch), steps_done=lengths,
            num_steps=steps, limit=steps, temperature=temperature, greedy=temperature <= 0.0)
        return result["rows"], last[:, :2]

    def complete(self, strokes, lengths, temperature, seed):
        """Validated partial sketches -> their continuations.

        Each partial sketch is encoded (z = mu), fed through the decoder point by point, and the
        decoder then samples on from its last point until the end token or `max_seq_len` points
        in all.

        Returns:
            `{"strokes": [B, T, 3], "lengths": [B]}`: the continuation only, stroke-3 offsets in
            original units (row 0 relative to the partial sketch's last point); zero rows after
            `lengths[b]`.
        """
        mu, _ = self.encode(strokes, lengths)
        rows, last = self._continue(mu, strokes, lengths, temperature, seed)
        steps = self.hparams.max_seq_len
        lengths = end_lengths(rows)
        absolute = rows[:, :, :2]
        previous = tf.concat([last[:, None], absolute[:, :-1]], axis=1)
        strokes = tf.concat([(absolute - previous) * self.scale, rows[:, :, 3:4]], axis=2)
        valid = tf.sequence_mask(lengths, steps)
        return {"strokes": tf.where(valid[..., None], strokes, 0.0), "lengths": lengths}

    def serve_encode(self, strokes, lengths):
        """`serving_default`: raw sketches -> `{"mu", "logvar": [B, Z]}`."""
        strokes, lengths = check_sketch_batch(strokes, lengths)
        mu, logvar = self.encode(strokes, lengths)
        return {"mu": mu, "logvar": logvar}

    def serve_sample(self, z, temperature, seed):
        """`sample`: codes -> `{"strokes": [B, T, 3], "lengths": [B]}`."""
        z = _check_latents(z, self.hparams.z_size)
        return self.generate(z, _check_temperature(temperature), check_scalar(seed, "seed"))

    def serve_reconstruct(self, strokes, lengths, temperature, seed):
        """`reconstruct`: raw sketches -> generated sketches decoded from z = mu."""
        strokes, lengths = check_sketch_batch(strokes, lengths)
        mu, _ = self.encode(strokes, lengths)
        return self.generate(mu, _check_temperature(temperature), check_scalar(seed, "seed"))

    def serve_complete(self, strokes, lengths, temperature, seed):
        """`complete`: partial raw sketches -> their continuations (see `complete`)."""
        strokes, lengths = check_sketch_batch(strokes, lengths)
        checked = assert_first_failure(
            [(tf.reduce_all(lengths >= 1), "lengths must be >= 1 to complete a sketch"),
             (tf.reduce_all(lengths < self.hparams.max_seq_len),
              f"lengths must be below max_seq_len = {self.hparams.max_seq_len} to leave room "
              "for the continuation")],
            ["lengths:", lengths])
        with tf.control_dependencies([checked]):
            lengths = tf.identity(lengths)
        return self.complete(strokes, lengths, _check_temperature(temperature),
                             check_scalar(seed, "seed"))

    def endpoints(self) -> dict:
        """Signature name -> `(serving function, input specs)`; the specs are open (any shape)
        so that every malformed request reaches the in-graph checks."""
        strokes = tf.TensorSpec(None, tf.float32, name="strokes")
        lengths = tf.TensorSpec(None, tf.int32, name="lengths")
        temperature = tf.TensorSpec(None, tf.float32, name="temperature")
        seed = tf.TensorSpec(None, tf.int64, name="seed")
        return {
            "serving_default": (self.serve_encode, [strokes, lengths]),
            "sample": (self.serve_sample,
                       [tf.TensorSpec(None, tf.float32, name="z"), temperature, seed]),
            "reconstruct": (self.serve_reconstruct, [strokes, lengths, temperature, seed]),
            "complete": (self.serve_complete, [strokes, lengths, temperature, seed]),
        }

    def archive(self):
        """A `keras.export.ExportArchive` holding the model and the signatures."""
        archive = keras.export.ExportArchive()
        archive.track(self.model)
        for name, (function, specs) in self.endpoints().items():
            archive.add_endpoint(name, function, specs)
        return archive

    def info(self):
        """What `assets.extra/export_info.json` records."""
        hp = self.hparams
        return {
            "model": "sketchgloc",
            "signatures": list(self.endpoints()),
            "z_size": hp.z_size,
            "max_seq_len": hp.max_seq_len,
            "max_stroke_len": hp.max_stroke_len,
            "max_strokes_num": hp.max_strokes_num,
            "normalizing_scale_factor": float(hp.normalizing_scale_factor),
            "clip_node_length": bool(hp.clip_node_length),
            "encode_block": self.encode_block,
            "categories": list(hp.categories),
        }


def export_model(model, hparams, export_base: str, version=None,
                 encode_block: int = DEFAULT_ENCODE_BLOCK, jit_compile: bool = False) -> str:
    """Writes the SavedModel of a loaded model; returns `export_base/<version>`."""
    graph = ServingGraph(model, hparams, encode_block, jit_compile)

    def write(folder):
        graph.archive().write_out(folder, verbose=False)
        os.makedirs(os.path.join(folder, "assets.extra"), exist_ok=True)
        with open(os.path.join(folder, INFO_FILE), "w", encoding="utf-8") as stream:
            json.dump(graph.info(), stream, indent=1)

    return write_version(export_base, version, write)


if __name__ == "__main__":
    from sketch_common.command_line import run_command_line

    run_command_line("flags.gloc_export")
