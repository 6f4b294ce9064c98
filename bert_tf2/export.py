"""Exports a Sketch-BERT checkpoint directory as a versioned SavedModel for TF Serving.

    python -m bert_tf2.export CHECKPOINT_DIR EXPORT_BASE [--version N]

writes `EXPORT_BASE/N/` (N = the next free version number unless given) through a hidden
temporary folder renamed at the end (`sketch_common.serving.write_version`). The signatures take raw
stroke-3 sketches and need only TensorFlow to load. Sizes: B sketches, P rows per padded
sketch, H = hidden size, C = `cls_dim`, F = `rel_feat_dim`.

| signature | present when | inputs | outputs |
|---|---|---|---|
| `serving_default` (embed) | always | `strokes` float32 `[B, P, 3]`, `lengths` int32 `[B]` | `embedding` float32 `[B, H]` |
| `classify` | `sketchclsinput` in task_types | as embed | `logits`, `probabilities` float32 `[B, C]`; `top_classes` string `[B, 5]`, `top_probabilities` float32 `[B, 5]` |
| `retrieval_embed` | `sketchretrieval` in task_types | as embed | `features` float32 `[B, F]` |

Input rows are `(dx, dy, pen_lift)` offsets in original Quick, Draw! units; rows past
`lengths[b]` are ignored. Inside the graph each sketch goes through the dataset transform of
`bert_tf2.data.transform.transform_stroke` with the config's options (start row, segment ids,
truncation to `max_length` rows start row included, clipping to ±`limit`, `max_scale` /
`var_scale` / `global_scale` normalisation, stroke-5 or stroke-3 rows), no masking (inference
input = the unmasked sketch, as `mask_input` with an all-ones mask), then the special-token rows
(retrieval token, class token) of `task_types`; the encoder runs in inference mode (no dropout).

`embedding` is the last-layer hidden state of the first special-token row (the retrieval token
when the config has `sketchretrieval`, else the class token: the row the heads read); for configs
without special tokens (pre-training, `maskrec` only) it is the mean of the last-layer hidden
states over the sketch's rows (start row and points, padding excluded). The encoder has no pooler
(spec §3). `probabilities` = softmax of `logits`; `top_classes` are the names of the `TOP_K` most
probable classes, most probable first (ties: lower label first), with their `top_probabilities`
(the checkpoint's class names, `class_<i>` when it has none; a model with fewer than `TOP_K`
classes pads with "" and probability 0); `features` are the retrieval head's outputs,
not normalised (upstream ranks them by squared Euclidean distance).

Signature input shapes are left open (`saved_model_cli show` prints `unknown_rank`) so that a
malformed request reaches the in-graph checks: bad requests (wrong rank or width, lengths outside
[0, P], NaN or infinite values, pen flags other than 0 / 1) fail with an `InvalidArgumentError`
naming the problem (`sketch_common.serving.check_sketch_batch`, shared by both exports).
`assets.extra/export_info.json` records the options and which embedding was exported.
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from bert_tf2.checkpoint import check_checkpoint, load_checkpoint
from bert_tf2.data.masking import CLS_TOKEN_VALUE, RETRIEVAL_TOKEN_VALUE
from bert_tf2.data.transform import FIRST_STROKE_SEGMENT, SEGMENT_PADDING
from bert_tf2.errors import BertConfigError
from bert_tf2.heads import prefix_token_flags
from sketch_common.atomic_io import write_text
from sketch_common.serving import INFO_FILE, check_export_base, check_sketch_batch, write_version

SUPPORTED_STROKE_TYPES = ("stroke-5", "stroke-3")
TOP_K = 5


def _normalize(xy, real, normalization_type, max_scale_factor):
    """Columns 0-1 normalisation of `transform._normalize` (float64 `[B, L, 2]`, zero padding)."""
    if normalization_type == "max_scale":
        path = tf.cumsum(xy, axis=1)
        low = tf.minimum(tf.reduce_min(path, axis=1), 0.0)
        high = tf.maximum(tf.reduce_max(path, axis=1), 0.0)
        sizes = high - low
        sizes = tf.where(sizes == 0.0, tf.ones_like(sizes), sizes)
        return xy / sizes[:, None, :] * max_scale_factor
    if normalization_type == "var_scale":
        weight = tf.cast(real, tf.float64)[..., None]
        count = tf.reduce_sum(weight, axis=1)
        mean = tf.reduce_sum(xy * weight, axis=1) / count
        std = tf.sqrt(tf.reduce_sum(tf.square(xy - mean[:, None, :]) * weight, axis=1) / count)
        std = tf.where(std == 0.0, tf.ones_like(std), std)
        return tf.where(real[..., None], (xy - mean[:, None, :]) / std[:, None, :], 0.0)
    return xy


def model_inputs(strokes, lengths, config) -> dict:
    """The model inputs of raw sketches, as the dataset builds them without masking.

    Args:
        strokes: float32 `[B, P, 3]` rows (dx, dy, pen_lift), original units; rows past
            `lengths[b]` are ignored.
        lengths: int32 `[B]` rows per sketch, in [0, P] (not checked here).
        config: the `Config` (`max_length`, `stroke_type`, `normalization_type`,
            `max_scale_factor`, `limit`, `task_types`).

    Returns:
        Dict with `mask_input` float32 `[B, S, D]`, `segment` int32 `[B, S]`, `length_mask`
        float32 `[B, S]` (S = tokens + `max_length`, D = 5 or 3), equal to the pipeline's
        example with an all-ones mask (float64 arithmetic as `transform_stroke`).

    Raises:
        BertConfigError: a `stroke_type` the export does not support.
    """
    stroke_type = config["stroke_type"]
    if stroke_type not in SUPPORTED_STROKE_TYPES:
        raise BertConfigError(
            f"stroke_type '{stroke_type}' cannot be exported; use one of "
            f"{SUPPORTED_STROKE_TYPES}")
    max_length = int(config["max_length"])
    batch = tf.shape(strokes)[0]
    rows = tf.pad(tf.cast(strokes, tf.float64), [[0, 0], [1, 0], [0, 0]])
    lengths = tf.cast(lengths, tf.int32) + 1
    width = tf.shape(rows)[1]
    # Segment ids on the untruncated sketch: stroke k (up to its lift row) gets k + 2, rows
    # after the last lift 0, padding 1.
    real = tf.sequence_mask(lengths, width)
    lifted = tf.cast(real & (rows[..., 2] == 1.0), tf.int32)
    lifts_before = tf.cumsum(lifted, axis=1, exclusive=True)
    closed = lifts_before < tf.reduce_sum(lifted, axis=1, keepdims=True)
    segment = tf.where(real, tf.where(closed, lifts_before + FIRST_STROKE_SEGMENT, 0),
                       SEGMENT_PADDING)
    # Truncate (or pad) to max_length rows.
    extra = tf.maximum(max_length - width, 0)
    rows = tf.pad(rows, [[0, 0], [0, extra], [0, 0]])[:, :max_length]
    segment = tf.pad(segment, [[0, 0], [0, extra]], constant_values=SEGMENT_PADDING)
    segment = segment[:, :max_length]
    real = tf.sequence_mask(tf.minimum(lengths, max_length), max_length)
    limit = float(config["limit"])
    rows = tf.where(real[..., None], tf.clip_by_value(rows, -limit, limit), 0.0)
    xy = _normalize(rows[..., :2], real, config["normalization_type"],
                    float(config["max_scale_factor"]))
    lift = rows[..., 2:3]
    if stroke_type == "stroke-5":
        points = tf.concat([xy, 1.0 - lift, lift, tf.zeros_like(lift)], axis=-1)
        end_rows = tf.constant([0.0, 0.0, 0.0, 0.0, 1.0], tf.float64)
        stroke = tf.where(real[..., None], points, end_rows)
    else:
        stroke = tf.concat([xy, lift], axis=-1)
    has_retrieval, has_class = prefix_token_flags(config["task_types"])
    tokens = [RETRIEVAL_TOKEN_VALUE] * has_retrieval + [CLS_TOKEN_VALUE] * has_class
    token_rows = np.repeat(np.asarray(tokens, np.float64)[None, :, None], stroke.shape[-1], 2)
    token_rows = tf.tile(tf.constant(token_rows), [batch, 1, 1])
    return {
        "mask_input": tf.cast(tf.concat([token_rows, stroke], axis=1), tf.float32),
        "segment": tf.concat([tf.zeros([batch, len(tokens)], tf.int32), segment], axis=1),
        "length_mask": tf.concat([tf.ones([batch, len(tokens)], tf.float32),
                                  tf.cast(real, tf.float32)], axis=1),
    }


class ServingGraph:
    """The functions behind the signatures (traced into the SavedModel).

    Args:
        model: a `SketchBertModel`.
        config: its `Config`.
        class_names: names of the `sketchclsinput` classes in label order (`checkpoint.json`
            of classification checkpoints); None: `class_<i>`.
    """

    def __init__(self, model, config, class_names=None):
        self.model = model
        self.config = config
        self.num_tokens = sum(prefix_token_flags(config["task_types"]))
        classes = int(config["cls_dim"]) if "cls_dim" in config else 0
        self.class_names = ([str(name) for name in class_names] if class_names is not None
                            else [f"class_{index}" for index in range(classes)])

    def hidden_states(self, strokes, lengths):
        """Validated sketches -> `(hidden [B, S, H], length_mask [B, S])` (inference mode)."""
        inputs = model_inputs(strokes, lengths, self.config)
        hidden = self.model.encoder(inputs["mask_input"], inputs["length_mask"],
                                    segments=inputs["segment"], training=False)
        return hidden, inputs["length_mask"]

    def embedding(self, hidden, length_mask):
        """`[B, H]`: the first token row, or the mean over the sketch rows without tokens."""
        if self.num_tokens:
            return hidden[:, 0, :]
        weight = length_mask[..., None]
        return tf.reduce_sum(hidden * weight, axis=1) / tf.reduce_sum(weight, axis=1)

    def serve_embed(self, strokes, lengths):
        """`serving_default`: raw sketches -> `{"embedding": [B, H]}`."""
        hidden, length_mask = self.hidden_states(*check_sketch_batch(strokes, lengths))
        return {"embedding": self.embedding(hidden, length_mask)}

    def serve_classify(self, strokes, lengths):
        """`classify`: raw sketches -> `{"logits", "probabilities": [B, C]}` and the `TOP_K`
        most probable classes `{"top_classes": string [B, 5], "top_probabilities": [B, 5]}`."""
        hidden, _ = self.hidden_states(*check_sketch_batch(strokes, lengths))
        logits = tf.cast(self.model.heads["sketchclsinput"](hidden), tf.float32)
        probabilities = tf.nn.softmax(logits)
        classes = len(self.class_names)
        top = tf.math.top_k(probabilities, k=min(TOP_K, classes))
        padding = [[0, 0], [0, max(TOP_K - classes, 0)]]
        names = tf.gather(tf.constant(self.class_names), top.indices)
        return {"logits": logits, "probabilities": probabilities,
                "top_classes": tf.pad(names, padding, constant_values=""),
                "top_probabilities": tf.pad(top.values, padding)}

    def serve_retrieval(self, strokes, lengths):
        """`retrieval_embed`: raw sketches -> `{"features": [B, F]}`."""
        hidden, _ = self.hidden_states(*check_sketch_batch(strokes, lengths))
        return {"features": tf.cast(self.model.heads["sketchretrieval"](hidden), tf.float32)}

    def signatures(self) -> dict:
        """Signature name -> serving function, for the heads this checkpoint has."""
        functions = {"serving_default": self.serve_embed}
        if "sketchclsinput" in self.model.heads:
            functions["classify"] = self.serve_classify
        if "sketchretrieval" in self.model.heads:
            functions["retrieval_embed"] = self.serve_retrieval
        return functions

    def endpoints(self) -> dict:
        """Signature name -> `(serving function, input specs)`; the specs are open (any shape)
        so that every malformed request reaches the in-graph checks."""
        specs = [tf.TensorSpec(None, tf.float32, name="strokes"),
                 tf.TensorSpec(None, tf.int32, name="lengths")]
        return {name: (function, specs) for name, function in self.signatures().items()}

    def archive(self):
        """A `keras.export.ExportArchive` holding the model and the signatures."""
        archive = keras.export.ExportArchive()
        archive.track(self.model)
        for name, (function, specs) in self.endpoints().items():
            archive.add_endpoint(name, function, specs)
        return archive

    def info(self):
        """What `assets.extra/export_info.json` records."""
        config = self.config
        return {
            "model": "sketch_bert",
            "signatures": list(self.signatures()),
            "embedding": ("retrieval_token" if "sketchretrieval" in config["task_types"]
                          else "class_token" if self.num_tokens else "mean_of_sketch_rows"),
            "hidden_size": int(self.model.encoder.hidden_dim),
            **{key: config[key] for key in (
                "task_types", "max_length", "stroke_type", "normalization_type",
                "max_scale_factor", "limit", "cls_dim", "rel_feat_dim") if key in config},
        }


def export_model(model, config, export_base: str, version=None, class_names=None) -> str:
    """Writes the SavedModel of a loaded model (`class_names` as in `ServingGraph`); returns
    `export_base/<version>`."""
    graph = ServingGraph(model, config, class_names)

    def write(folder):
        graph.archive().write_out(folder, verbose=False)
        write_text(os.path.join(folder, INFO_FILE),
                   json.dumps(graph.info(), indent=1, default=list))

    return write_version(export_base, version, write)


def export_checkpoint(checkpoint_dir: str, export_base: str, version=None) -> tuple:
    """`python -m bert_tf2.export`: checks `export_base`, loads the checkpoint, exports it.

    `export_base` is checked before the model is loaded, so a base that cannot hold versions
    fails at once.

    Returns:
        `(export folder, signature names)`.

    Raises:
        ExportError: `export_base` is not a writable folder, or `version` is not positive or
            exists already.
        BertCheckpointError, BertConfigError: a checkpoint that does not load or export.
    """
    check_export_base(export_base)
    class_names = check_checkpoint(checkpoint_dir).get("class_names")
    config, model = load_checkpoint(checkpoint_dir)
    path = export_model(model, config, export_base, version, class_names)
    return path, list(ServingGraph(model, config, class_names).signatures())


if __name__ == "__main__":
    from sketch_common.command_line import run_command_line

    run_command_line("flags.bert_export")
