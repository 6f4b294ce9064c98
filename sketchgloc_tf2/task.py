"""`SketchGloc`: the model, its raw-sketch preprocessing and its sampler, for notebooks.

keras-hub's Task pattern: one `keras.Model` that takes raw stroke-3 sketches (lists of `[n, 3]`
arrays of `(dx, dy, pen_lift)` in original Quick, Draw! units) and returns latents or sketches in
the same format. Preprocessing and decoding are those of the SavedModel export
(`export.ServingGraph`: the in-graph clean batch of `data/graph_batching.py`, bit-identical to
the training pipeline's, and the one decoding loop of `decoding.py`), so a notebook, a server and
an exported model give the same numbers.

    g = SketchGloc.from_checkpoint("runs/gloc3")
    mu, logvar = g.encode(sketches)
    out = g.sample(mu, temperature=0.24, seed=0)
"""

import itertools

import keras
import numpy as np
import tensorflow as tf

from sketch_common import presets as presets_lib
from sketch_common.errors import SketchInputError
from sketch_common.raw_sketches import check_sketches, pad_batch
from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2.checkpoint import load_checkpoint_dir, save_checkpoint_dir
from sketchgloc_tf2.data import pipeline, quickdraw
from sketchgloc_tf2.errors import SketchConfigError, SketchDataError
from sketchgloc_tf2.export import ServingGraph
from sketchgloc_tf2.model import BATCH_KEYS
from sketchgloc_tf2.optimizers import make_optimizer
from sketchgloc_tf2.presets import PRESET_ROOT, PRESETS
from sketchgloc_tf2.strokes import reorganise
from sketchgloc_tf2.train_step import train_step
from sketchgloc_tf2.serialization import SERIALIZATION_PACKAGE

DEFAULT_TEMPERATURE = 0.24


def _seed(seed) -> np.int64:
    """The int64 seed of a call: `seed` itself, or a fresh random one when None."""
    if seed is None:
        return np.int64(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))
    return np.int64(seed)


def _temperature(temperature) -> np.float32:
    temperature = float(temperature)
    if not np.isfinite(temperature) or temperature < 0:
        raise SketchConfigError(f"temperature must be >= 0 (0: greedy), got {temperature}")
    return np.float32(temperature)


def _unpad(result) -> list:
    """`{"strokes": [B, T, 3], "lengths": [B]}` -> list of float32 `[l_b, 3]`."""
    strokes, lengths = result["strokes"].numpy(), result["lengths"].numpy()
    return [strokes[row, :length].astype(np.float32) for row, length in enumerate(lengths)]


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class SketchGloc(keras.Model):
    """SketchGloc for raw sketches: encode, sample, reconstruct, complete, interpolate.

    Args:
        backbone: a `SketchGlocModel` (its weights are this task's weights).
        hparams: the run's `HParams` with the sizes computed from the training data
            (`max_seq_len` T, `max_stroke_len` L, `max_strokes_num` N) and a positive
            `normalizing_scale_factor` (original units per model unit), as in
            `model_config.json`.
        **kwargs: `keras.Model` arguments (`name`).
    """

    presets = PRESETS

    def __init__(self, backbone, hparams, **kwargs):
        super().__init__(**kwargs)
        if isinstance(hparams, dict):
            hparams = hparams_lib.from_dict(hparams)
        # === Layers ===
        self.backbone = backbone
        # === Config ===
        self.hparams = hparams
        # === Compiled functions (those of the SavedModel export) ===
        # One trace each, with open batch and length dimensions: every call runs the same
        # kernels, so a (z, temperature, seed) gives the same sketches whatever came before.
        serving = ServingGraph(backbone, hparams)
        sketch_specs = [tf.TensorSpec([None, None, 3], tf.float32),
                        tf.TensorSpec([None], tf.int32)]
        sampling_specs = [tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.int64)]
        self._encode = tf.function(serving.encode, input_signature=sketch_specs)
        self._generate = tf.function(
            serving.generate,
            input_signature=[tf.TensorSpec([None, hparams.z_size], tf.float32)] + sampling_specs)
        self._complete = tf.function(serving.complete,
                                     input_signature=sketch_specs + sampling_specs)
        # === Metrics of fit / evaluate ===
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def max_points(self) -> int:
        """T: the longest sketch the model encodes and generates (`max_seq_len`)."""
        return int(self.hparams.max_seq_len)

    @property
    def categories(self) -> list:
        """The categories of the training data, in label order."""
        return list(self.hparams.categories)

    # ------------------------------------------------------------------ loading and saving

    @classmethod
    def from_checkpoint(cls, directory: str) -> "SketchGloc":
        """The task of a native checkpoint directory (`model_config.json` + `model.weights.h5`,
        as `train.py` and `python -m sketchgloc_tf2.convert` write them)."""
        backbone, hparams = load_checkpoint_dir(directory)
        return cls(backbone, hparams)

    def save_to_checkpoint(self, directory: str) -> None:
        """Writes a native checkpoint directory that `from_checkpoint` reads back exactly."""
        save_checkpoint_dir(self.backbone, self.hparams, directory)

    @classmethod
    def from_preset(cls, preset: str) -> "SketchGloc":
        """The task of a registered preset name (`SketchGloc.presets`) or a preset directory
        (what `save_to_preset`, `train.py` or `python -m sketchgloc_tf2.convert` writes)."""
        return cls.from_checkpoint(presets_lib.preset_directory(preset, PRESETS, PRESET_ROOT))

    def save_to_preset(self, directory: str, metadata=None) -> None:
        """Writes a preset directory: the checkpoint and `preset.json` (`metadata`, e.g.
        description, data, licence, metrics); `from_preset(directory)` gives identical outputs."""
        save_checkpoint_dir(self.backbone, self.hparams, directory, preset=dict(metadata or {}))

    def get_config(self):
        return {"backbone": keras.saving.serialize_keras_object(self.backbone),
                "hparams": self.hparams.values(), "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        backbone = keras.saving.deserialize_keras_object(config.pop("backbone"))
        return cls(backbone, hparams_lib.from_dict(config.pop("hparams")), **config)

    # ------------------------------------------------------------------ the API

    def _checked(self, sketches, what="sketch", max_points=None) -> list:
        """`sketch_common.raw_sketches.check_sketches`, raising this package's data error."""
        try:
            return check_sketches(sketches, max_points or self.max_points, what)
        except SketchInputError as error:
            raise SketchDataError(str(error)) from None

    def _batch(self, sketches, what="sketch", max_points=None):
        return pad_batch(self._checked(sketches, what, max_points))

    def encode(self, sketches) -> tuple:
        """The latent distribution of each sketch.

        Args:
            sketches: list of B raw `[n_i, 3]` sketches.

        Returns:
            `(mu, logvar)`: float32 `[B, Z]` each (mean and log-variance of the latent Gaussian).

        Raises:
            SketchDataError: a bad sketch (the message names its index).
        """
        strokes, lengths = self._batch(sketches)
        mu, logvar = self._encode(strokes, lengths)
        return mu.numpy(), logvar.numpy()

    def sample(self, z, temperature: float = DEFAULT_TEMPERATURE, seed=None) -> list:
        """Decodes latent codes into sketches.

        Args:
            z: float32 `[B, Z]` codes (e.g. `encode`'s mu, or draws from N(0, I)).
            temperature: sampling temperature; 0 decodes greedily (no randomness).
            seed: int; the same (z, temperature, seed) gives the same sketches. None: a fresh
                random seed.

        Returns:
            List of B float32 `[l_b, 3]` raw stroke-3 sketches in original units.
        """
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.hparams.z_size or not np.all(np.isfinite(z)):
            raise SketchDataError(f"z must be a finite [B, {self.hparams.z_size}] array, got "
                                  f"shape {list(z.shape)}")
        return _unpad(self._generate(z, _temperature(temperature), _seed(seed)))

    def reconstruct(self, sketches, temperature: float = DEFAULT_TEMPERATURE, seed=None,
                    re_scale: float = 0.0) -> list:
        """Encodes each sketch (optionally reorganised first) and decodes it again.

        Args:
            sketches: list of raw `[n_i, 3]` sketches.
            temperature, seed: as in `sample` (the seed also draws the reorganisation).
            re_scale: reorganisation strength: every stroke but the first is moved by Gaussian
                noise of std `re_scale` times the sketch's size before encoding (the
                stroke-reorganisation task); 0 encodes the sketch as it is.

        Returns:
            List of float32 `[l_i, 3]` raw stroke-3 sketches in original units.
        """
        seed = _seed(seed)
        checked = self._checked(sketches)
        if re_scale < 0:
            raise SketchConfigError(f"re_scale must be >= 0, got {re_scale}")
        rng = np.random.RandomState(np.uint32(seed & 0xFFFFFFFF))
        inputs = [reorganise(sketch, float(re_scale), rng) for sketch in checked]
        mu, _ = self.encode(inputs)
        return _unpad(self._generate(mu, _temperature(temperature), seed))

    def complete(self, partial_sketches, temperature: float = DEFAULT_TEMPERATURE,
                 seed=None) -> list:
        """Continues partial drawings.

        Each partial sketch is encoded, fed through the decoder point by point (teacher
        forcing), and the decoder samples on from its last point until it ends the sketch or
        reaches `max_points` points in all.

        Args:
            partial_sketches: list of raw `[n_i, 3]` sketches with fewer than `max_points` points.
            temperature, seed: as in `sample`.

        Returns:
            List of float32 `[m_i, 3]` raw stroke-3 sketches: each starts with its input rows,
            then the generated continuation.
        """
        strokes, lengths = self._batch(partial_sketches, "partial sketch", self.max_points - 1)
        continued = _unpad(self._complete(strokes, lengths, _temperature(temperature),
                                          _seed(seed)))
        return [np.concatenate([strokes[row, :length], continued[row]])
                for row, length in enumerate(lengths)]

    def interpolate(self, sketch_a, sketch_b, steps: int = 8, temperature: float = 0.0,
                    seed=None) -> list:
        """Sketches decoded along the straight line between two sketches' latent means.

        Args:
            sketch_a, sketch_b: raw `[n, 3]` sketches.
            steps: number of sketches (>= 2), from sketch_a's code to sketch_b's.
            temperature, seed: as in `sample` (greedy by default).

        Returns:
            List of `steps` float32 `[l, 3]` raw stroke-3 sketches.
        """
        if int(steps) < 2:
            raise SketchConfigError(f"steps must be >= 2, got {steps}")
        mu, _ = self.encode([sketch_a, sketch_b])
        weights = np.linspace(0.0, 1.0, int(steps), dtype=np.float32)[:, None]
        return self.sample((1.0 - weights) * mu[0] + weights * mu[1], temperature, seed)

    # ------------------------------------------------------------------ training with fit

    def training_dataset(self, sketches, batch_size: int = 8, re_scale: float = 0.0,
                         augment: bool = False, seed: int = 0) -> tf.data.Dataset:
        """Training batches of raw sketches for `fit`, built as `train.py` builds them.

        Each pass over the dataset is one epoch: a new shuffle of the sketches (and, with
        `augment`, new augmentation), from `seed` and the epoch number. Upstream's epoch rule
        applies: `ceil(M / batch_size) - 1` batches of M sketches.

        Args:
            sketches: list of raw `[n_i, 3]` sketches.
            batch_size: sketches per batch.
            re_scale: reorganisation strength of the encoder inputs (the decoder targets stay
                clean), as the `re_scale` hparam.
            augment: upstream's training augmentation (stretch, point dropping, translation).
            seed: seeds the shuffles, the augmentation and the reorganisation noise.

        Returns:
            `tf.data.Dataset` of batch dicts with the five `model.BATCH_KEYS`.
        """
        strokes = [np.clip(sketch, -quickdraw.CLIP_LIMIT, quickdraw.CLIP_LIMIT)
                   for sketch in self._checked(sketches)]
        split = quickdraw.normalize(
            quickdraw.SketchSplit(strokes, np.zeros(len(strokes), np.int32),
                                  [("sketches", index) for index in range(len(strokes))]),
            self.hparams.normalizing_scale_factor)
        batcher = pipeline.SketchBatcher(split, self.hparams, augment)
        if batcher.num_train_batches(batch_size) == 0:
            raise SketchDataError(f"{len(strokes)} sketches make no training batch of "
                                  f"batch_size={batch_size} (an epoch has ceil(M / B) - 1 "
                                  "batches); pass more sketches or a smaller batch_size")
        epochs = itertools.count()
        signature = batcher.signature(batch_size)

        def one_epoch():
            epoch = next(epochs)
            for batch in pipeline.epoch_batches(batcher, batch_size, float(re_scale), seed,
                                                epoch):
                yield {key: batch[key] for key in BATCH_KEYS}

        return tf.data.Dataset.from_generator(
            one_epoch, output_signature={key: signature[key] for key in BATCH_KEYS}
        ).prefetch(tf.data.AUTOTUNE)

    def compile(self, optimizer="auto", **kwargs):
        """`keras.Model.compile`; `optimizer="auto"` is upstream's: Adam with per-variable
        gradient clipping (`grad_clip`) and the learning-rate schedule of the hparams."""
        if isinstance(optimizer, str) and optimizer == "auto":
            optimizer = make_optimizer(self.hparams)
        super().compile(optimizer=optimizer, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The upstream loss of the batch `x` (reconstruction of the clean sketch)."""
        loss, _ = self.backbone.compute_loss_from_batch(x, training=training)
        return loss

    @property
    def metrics(self):
        """The mean loss `fit` and `evaluate` report."""
        return [self.loss_tracker]

    def train_step(self, data):
        """`train.py`'s optimizer step (`train_step.train_step`) on a batch."""
        self.loss_tracker.update_state(train_step(self.backbone, self.optimizer, data))
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        """The evaluation loss of a batch (upstream's validation loss)."""
        self.loss_tracker.update_state(self.compute_loss(data, training=False))
        return {"loss": self.loss_tracker.result()}

    def call(self, inputs, training=None):
        """`inputs`: a batch dict (the five `model.BATCH_KEYS`) -> the backbone's outputs."""
        return self.backbone(inputs, training=training)
