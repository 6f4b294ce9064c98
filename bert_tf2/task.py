"""`SketchBert`: the encoder, its heads and its raw-sketch preprocessing, for notebooks.

keras-hub's Task pattern: one `keras.Model` that takes raw stroke-3 sketches (lists of `[n, 3]`
arrays of `(dx, dy, pen_lift)` in original Quick, Draw! units) and returns embeddings, class
predictions with their names, or retrieval features. The preprocessing and the outputs are those
of the SavedModel export (`export.ServingGraph`), so a notebook, a server and an exported model
give the same numbers.

    b = SketchBert.from_checkpoint("runs/sketch_transformer/quickdraw20_cls/best")
    b.classify(sketches, top_k=5)      # [[("cat", 0.61), ("tree", 0.12), ...], ...]
"""

import keras
import numpy as np
import tensorflow as tf

from bert_tf2.checkpoint import check_checkpoint, load_checkpoint, save_checkpoint
from bert_tf2.config import Config
from bert_tf2.data.pipeline import ExampleBuilder, ExampleOptions, make_dataset
from bert_tf2.data.sketch_collections import ArraySketches
from bert_tf2.errors import BertConfigError, BertDataError
from bert_tf2.export import ServingGraph
from bert_tf2.losses import LossSettings, compute_losses
from bert_tf2.optimizers import TorchAdam
from bert_tf2.presets import PRESET_ROOT, PRESETS
from bert_tf2.train_step import model_inputs, train_step
from sketch_common import presets as presets_lib
from sketch_common.errors import SketchInputError
from sketch_common.raw_sketches import check_sketches, pad_batch

@keras.saving.register_keras_serializable(package="bert_tf2")
class SketchBert(keras.Model):
    """Sketch-BERT for raw sketches: embed, classify (with class names), retrieval features.

    Args:
        backbone: a `SketchBertModel` (encoder and heads).
        config: its `bert_tf2.config.Config` (the YAML keys; `max_length` is L, the rows a
            sketch takes including its start row).
        class_names: names of the `sketchclsinput` classes in label order (classification
            checkpoints record them in `checkpoint.json`); None: the names are `class_<i>`.
        **kwargs: `keras.Model` arguments (`name`).
    """

    presets = PRESETS

    def __init__(self, backbone, config, class_names=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(config, dict):
            config = Config(config)
        # === Layers ===
        self.backbone = backbone
        # === Config ===
        self.config = config
        self.class_names = None if class_names is None else [str(name) for name in class_names]
        # === Compiled functions (those of the SavedModel export) ===
        # One trace each, with open batch and length dimensions (the same kernels every call).
        serving = ServingGraph(backbone, config, self.class_names)
        specs = [tf.TensorSpec([None, None, 3], tf.float32), tf.TensorSpec([None], tf.int32)]
        self._signatures = {name: tf.function(function, input_signature=specs)
                            for name, function in serving.signatures().items()}
        # === Training with fit ===
        self.settings = LossSettings.from_config(config)
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def max_points(self) -> int:
        """The most points a sketch may have (`max_length` rows less the start row)."""
        return int(self.config["max_length"]) - 1

    # ------------------------------------------------------------------ loading and saving

    @classmethod
    def from_checkpoint(cls, directory: str) -> "SketchBert":
        """The task of a native checkpoint directory (`config.yml` + `model.weights.h5` +
        `checkpoint.json`, as training and `python -m bert_tf2.convert` write them)."""
        metadata = check_checkpoint(directory)
        config, backbone = load_checkpoint(directory)
        return cls(backbone, config, metadata.get("class_names"))

    def save_to_checkpoint(self, directory: str, extra_files=None) -> None:
        """Writes a native checkpoint directory that `from_checkpoint` reads back exactly."""
        save_checkpoint(directory, self.backbone, self.config,
                        metadata={"class_names": self.class_names}, extra_files=extra_files)

    @classmethod
    def from_preset(cls, preset: str) -> "SketchBert":
        """The task of a registered preset name (`SketchBert.presets`) or a preset directory
        (what `save_to_preset` or `python -m bert_tf2.convert` writes)."""
        return cls.from_checkpoint(presets_lib.preset_directory(preset, PRESETS, PRESET_ROOT))

    def save_to_preset(self, directory: str, metadata=None) -> None:
        """Writes a preset directory: the checkpoint and `preset.json` (`metadata`, e.g.
        description, data, licence, metrics); `from_preset(directory)` gives identical outputs."""
        self.save_to_checkpoint(directory, extra_files={
            presets_lib.PRESET_FILE: presets_lib.metadata_writer(dict(metadata or {}))})

    def get_config(self):
        return {"backbone": keras.saving.serialize_keras_object(self.backbone),
                "config": dict(self.config.to_dict()), "class_names": self.class_names,
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        backbone = keras.saving.deserialize_keras_object(config.pop("backbone"))
        return cls(backbone, Config(config.pop("config")), **config)

    # ------------------------------------------------------------------ the API

    def _checked(self, sketches) -> list:
        """`sketch_common.raw_sketches.check_sketches`, raising this package's data error."""
        try:
            return check_sketches(sketches, self.max_points)
        except SketchInputError as error:
            raise BertDataError(str(error)) from None

    def _run(self, signature: str, sketches) -> dict:
        if signature not in self._signatures:
            head = {"classify": "sketchclsinput", "retrieval_embed": "sketchretrieval"}[signature]
            raise BertConfigError(f"this model has no {head} head (task_types "
                                  f"{list(self.config['task_types'])}); load a checkpoint "
                                  f"trained or converted with {head}")
        strokes, lengths = pad_batch(self._checked(sketches))
        return {name: value.numpy() for name, value in
                self._signatures[signature](strokes, lengths).items()}

    def embed(self, sketches) -> np.ndarray:
        """One vector per sketch: float32 `[B, H]` (the class or retrieval token's last hidden
        state; the mean over the sketch's rows for models without special tokens).

        Raises:
            BertDataError: a bad sketch (the message names its index).
        """
        return self._run("serving_default", sketches)["embedding"]

    def class_probabilities(self, sketches) -> np.ndarray:
        """float32 `[B, C]` class probabilities (softmax of the classification head)."""
        return self._run("classify", sketches)["probabilities"]

    def classify(self, sketches, top_k: int = 5) -> list:
        """The `top_k` most likely classes of each sketch.

        Returns:
            Per sketch, a list of `(class_name, probability)` pairs, most likely first.
        """
        probabilities = self.class_probabilities(sketches)
        names = self.class_names or [f"class_{index}" for index in range(probabilities.shape[1])]
        top_k = max(1, min(int(top_k), probabilities.shape[1]))
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, :top_k]
        return [[(names[index], float(row[index])) for index in indices]
                for row, indices in zip(probabilities, order)]

    def retrieval_features(self, sketches) -> np.ndarray:
        """float32 `[B, F]` retrieval features (compare with squared Euclidean distance)."""
        return self._run("retrieval_embed", sketches)["features"]

    # ------------------------------------------------------------------ training with fit

    def training_dataset(self, sketches, labels=None, batch_size: int = 32,
                         seed: int = 0) -> tf.data.Dataset:
        """Training batches of raw sketches for `fit`, built as `python -m bert_tf2 train`
        builds them (the config's transform, Sketch Gestalt masks, special tokens, triplets when
        `get_type` is 'triplet').

        The stream is endless and reshuffled every epoch from `seed`: pass `steps_per_epoch` to
        `fit` (e.g. `len(sketches) // batch_size`).

        Args:
            sketches: list of raw `[n_i, 3]` sketches.
            labels: class index of each sketch (needed for classification and retrieval).
            batch_size: sketches per batch.
            seed: seeds the shuffles, masks and triplets.
        """
        checked = self._checked(sketches)
        lengths = np.array([len(sketch) for sketch in checked])
        ends = np.cumsum(lengths)
        if labels is None:
            if set(self.config["task_types"]) & {"sketchclsinput", "sketchretrieval"}:
                raise BertDataError("labels are needed to train the classification or "
                                    "retrieval head: pass one class index per sketch")
            labels = np.zeros(len(checked), np.int64)
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (len(checked),) or np.any(labels < 0) or \
                np.any(labels >= int(self.config["cls_dim"])):
            raise BertDataError(f"labels must be {len(checked)} class indices in "
                                f"[0, {self.config['cls_dim']}) (cls_dim)")
        collection = ArraySketches(np.concatenate(checked), np.stack([ends - lengths, ends], 1),
                                   labels, self.class_names, source="sketches")
        builder = ExampleBuilder(collection, ExampleOptions.from_config(self.config))
        return make_dataset(builder, batch_size, seed,
                            triplet=self.config["get_type"] == "triplet")

    def compile(self, optimizer="auto", **kwargs):
        """`keras.Model.compile`; `optimizer="auto"` is upstream's torch-exact Adam with the
        config's `learning_rate`."""
        if isinstance(optimizer, str) and optimizer == "auto":
            optimizer = TorchAdam(learning_rate=float(self.config["learning_rate"]))
        super().compile(optimizer=optimizer, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The sum of the configured tasks' losses on the batch `x` (`losses.compute_losses`)."""
        if y_pred is None:
            y_pred = self.backbone(model_inputs(x), training=training)
        total, _ = compute_losses(y_pred, x, self.settings)
        return total

    @property
    def metrics(self):
        """The mean loss `fit` and `evaluate` report."""
        return [self.loss_tracker]

    def train_step(self, data):
        """`python -m bert_tf2 train`'s optimizer step (`train_step.train_step`) on a batch."""
        total, _ = train_step(self.backbone, self.optimizer, self.backbone.trainable_variables,
                              data, self.settings)
        self.loss_tracker.update_state(total)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        """The evaluation loss of a batch (dropout off)."""
        self.loss_tracker.update_state(self.compute_loss(data, training=False))
        return {"loss": self.loss_tracker.result()}

    def call(self, inputs, training=None):
        """`inputs`: a batch dict (`mask_input`, `length_mask`, `segment`) -> the head outputs."""
        return self.backbone(inputs, training=training)

