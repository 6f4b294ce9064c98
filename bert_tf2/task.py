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
from bert_tf2.errors import BertConfigError, BertDataError
from bert_tf2.export import ServingGraph
from bert_tf2.presets import PRESET_ROOT, PRESETS
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
        serving = ServingGraph(backbone, config)
        specs = [tf.TensorSpec([None, None, 3], tf.float32), tf.TensorSpec([None], tf.int32)]
        self._signatures = {name: tf.function(function, input_signature=specs)
                            for name, function in serving.signatures().items()}

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

    def _run(self, signature: str, sketches) -> dict:
        if signature not in self._signatures:
            head = {"classify": "sketchclsinput", "retrieval_embed": "sketchretrieval"}[signature]
            raise BertConfigError(f"this model has no {head} head (task_types "
                                  f"{list(self.config['task_types'])}); load a checkpoint "
                                  f"trained or converted with {head}")
        try:
            strokes, lengths = pad_batch(check_sketches(sketches, self.max_points))
        except SketchInputError as error:
            raise BertDataError(str(error)) from None
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

    def call(self, inputs, training=None):
        """`inputs`: a batch dict (`mask_input`, `length_mask`, `segment`) -> the head outputs."""
        return self.backbone(inputs, training=training)

