"""Sketch-BERT training losses, as the original trainer's `calculate_losses` (spec §4.3).

Every term is already multiplied by its config weight; terms of weight 0 are still computed
(upstream logs them). Reconstruction and classification terms use the anchor member only; the
triplet term uses the three members.

Deviation (B38): a mean over an empty selection (no masked offsets in the batch, e.g. with
`mask_prob 1`) is 0 here instead of upstream's NaN, which would poison the total.
"""

import dataclasses

from keras import ops

from bert_tf2.errors import BertConfigError

TRIPLET_EPSILON = 1e-6
PEN_STATE_COLUMNS = slice(2, 5)


@dataclasses.dataclass(frozen=True)
class LossSettings:
    """Loss weights and options read from the original config keys.

    Attributes mirror the YAML keys of the same names; `task_types` decides which terms exist.
    """

    task_types: tuple
    input_dim: int = 5
    mask_axis_weight: float = 1.0
    rec_axis_weight: float = 0.0
    mask_type_weight: float = 1.0
    rec_type_weight: float = 0.0
    prediction_weight: float = 1.0
    triplet_weight: float = 1.0
    triplet_margin: float = 2.0

    @classmethod
    def from_config(cls, config):
        """Reads the settings from a `bert_tf2.config.Config` (or mapping)."""
        names = [field.name for field in dataclasses.fields(cls) if field.name != "task_types"]
        values = {name: config[name] for name in names if name in config}
        return cls(task_types=tuple(config["task_types"]), **values)

    @property
    def axis_columns(self):
        """Offset columns of the L1 terms: (0, 1), or (0, 1, 5) for 6-column inputs."""
        return (0, 1, 5) if self.input_dim == 6 else (0, 1)


def masked_mean(values, selected):
    """Mean of `values` where `selected` is true; 0 when nothing is selected (B38 guard).

    Args:
        values: float tensor.
        selected: bool tensor of the same shape.

    Returns:
        float32 scalar.
    """
    weights = ops.cast(selected, "float32")
    count = ops.sum(weights)
    total = ops.sum(ops.where(selected, values, ops.zeros_like(values)))
    return ops.where(count > 0, total / ops.maximum(count, 1.0), 0.0)


def _cross_entropy(logits, labels):
    log_probabilities = ops.log_softmax(logits, axis=-1)
    picked = ops.take_along_axis(
        log_probabilities, ops.expand_dims(ops.cast(labels, "int32"), -1), axis=-1)
    return -ops.squeeze(picked, -1)


def maskrec_losses(prediction, stroke, mask, settings):
    """Masked-reconstruction terms `mask_axis`, `rec_axis`, `mask_type`, `rec_type`.

    Args:
        prediction: `[B, L, D]` maskrec head output (offsets, then pen-state logits in 2:5).
        stroke: `[B, L, D]` un-masked targets (no special-token rows).
        mask: `[B, L, D]` 1 = kept, 0 = masked.
        settings: `LossSettings`.

    Returns:
        dict of weighted float32 scalars: L1 over offset entries with mask 0 / 1, and pen-state
        cross-entropy over rows whose `mask[..., 2]` is 0 / 1 (targets = argmax of columns 2:5).
    """
    prediction = ops.cast(prediction, "float32")
    stroke = ops.cast(stroke, "float32")
    mask = ops.cast(mask, "float32")
    columns = list(settings.axis_columns)
    axis_error = ops.abs(
        ops.take(prediction, columns, axis=-1) - ops.take(stroke, columns, axis=-1))
    axis_masked = ops.take(mask, columns, axis=-1) == 0
    type_error = _cross_entropy(prediction[..., PEN_STATE_COLUMNS],
                                ops.argmax(stroke[..., PEN_STATE_COLUMNS], axis=-1))
    type_masked = mask[..., 2] == 0
    return {
        "mask_axis": settings.mask_axis_weight * masked_mean(axis_error, axis_masked),
        "rec_axis": settings.rec_axis_weight * masked_mean(axis_error, ~axis_masked),
        "mask_type": settings.mask_type_weight * masked_mean(type_error, type_masked),
        "rec_type": settings.rec_type_weight * masked_mean(type_error, ~type_masked),
    }


def classification_loss(logits, labels):
    """Mean cross-entropy of `[B, C]` logits against `[B]` integer labels."""
    return ops.mean(_cross_entropy(ops.cast(logits, "float32"), labels))


def triplet_loss(anchor, positive, negative, margin):
    """`mean(max(0, |a - p + eps| - |a - n + eps| + margin))`, eps = 1e-6 (torch semantics).

    Args:
        anchor, positive, negative: `[B, F]` features.
        margin: the triplet margin.

    Returns:
        float32 scalar.
    """
    anchor, positive, negative = (ops.cast(value, "float32")
                                  for value in (anchor, positive, negative))
    positive_distance = ops.sqrt(ops.sum(ops.square(anchor - positive + TRIPLET_EPSILON), -1))
    negative_distance = ops.sqrt(ops.sum(ops.square(anchor - negative + TRIPLET_EPSILON), -1))
    return ops.mean(ops.maximum(positive_distance - negative_distance + margin, 0.0))


def compute_losses(outputs, batch, settings):
    """All loss terms of the configured tasks and their sum.

    Args:
        outputs: dict task → head output from `SketchBertModel`; with a triplet member axis
            (`[3, B, ...]`) when `batch` has one.
        batch: dict with `stroke` `[B, L, D]`, `mask` `[B, L, D]`, `target` `[B]` (each may
            carry the leading member axis `[3, ...]`; member 0 = anchor is used).
        settings: `LossSettings`.

    Returns:
        `(total, terms)`: float32 scalar total and dict of the weighted terms (`mask_axis`,
        `rec_axis`, `mask_type`, `rec_type` for maskrec, `prediction` for sketchclsinput,
        `triplet` for sketchretrieval).

    Raises:
        BertConfigError: `sketchretrieval` without the triplet member axis (config `get_type`
            must be 'triplet', spec B27).
    """
    stroke = ops.convert_to_tensor(batch["stroke"])
    has_members = len(stroke.shape) == 4

    def anchor(value):
        value = ops.convert_to_tensor(value)
        return value[0] if has_members else value

    terms = {}
    if "maskrec" in outputs:
        terms.update(maskrec_losses(anchor(outputs["maskrec"]), anchor(stroke),
                                    anchor(batch["mask"]), settings))
    if "sketchclsinput" in outputs:
        terms["prediction"] = settings.prediction_weight * classification_loss(
            anchor(outputs["sketchclsinput"]), anchor(batch["target"]))
    if "sketchretrieval" in outputs:
        features = ops.convert_to_tensor(outputs["sketchretrieval"])
        if not has_members or features.shape[0] != 3:
            raise BertConfigError(
                "sketchretrieval needs (anchor, positive, negative) batches with a leading "
                "member axis of 3; set get_type: 'triplet' in the config")
        terms["triplet"] = settings.triplet_weight * triplet_loss(
            features[0], features[1], features[2], settings.triplet_margin)
    total = ops.convert_to_tensor(0.0)
    for value in terms.values():
        total = total + value
    return total, terms
