"""Model part of the parity check: embeddings, every layer, attention, heads and losses.

For each model of the bundle (see `bert_tf2.parity.bundle`) the port runs its encoder with
dropout off on the stored inputs (per triplet member when the batch has a member axis) and
compares with the reference arrays of `outputs.npz`:

`emb_linear`, `emb_sum`, `encoder_input`, `layer_out`, `attn_block_out`, `encoder_output`,
`attn_probs` / `anchor_attn_probs`, `ffn_inter` / `anchor_ffn_inter`, `head_<task>`,
`loss_<term>`, `loss_total`, `lossw1_<term>`, `lossw1_total` (all prefixed with the model's
prefix). Gradients and optimizer steps are the `train` part's.
"""

import dataclasses

import numpy as np

from bert_tf2.losses import LossSettings, compute_losses
from bert_tf2.parity.bundle import bundle_models, member_slices

TRAIN_PREFIXES = ("grad.", "after_step.")


def _stack_layers(values):
    """Per-layer arrays stacked on a new leading axis; None when layers differ in shape (a BERT
    stack may vary heads and intermediate widths per layer)."""
    values = [np.asarray(value) for value in values]
    if len({value.shape for value in values}) != 1:
        return None
    return np.stack(values)


def _encoder_arrays(model, batch):
    """Encoder intermediates of one member: name → numpy array (reference layout)."""
    uses_segments = model.encoder.segment_type == "learn"
    outputs = model.encoder(
        batch["mask_input"], batch["length_mask"],
        segments=batch["segment"] if uses_segments else None, training=False,
        output_all_states=True, output_attentions=True)
    hidden_states = outputs["sequence_output"]
    arrays = {
        "emb_linear": outputs["point_embedding"],
        "emb_sum": outputs["embedding_sum"],
        "encoder_input": outputs["encoder_input"],
        "layer_out": _stack_layers(outputs["layer_outputs"]),
        "attn_block_out": _stack_layers(outputs["attention_block_outputs"]),
        "encoder_output": hidden_states,
        "attn_probs": _stack_layers(outputs["attention_probabilities"]),
        "ffn_inter": _stack_layers(outputs["intermediates"]),
    }
    for task, head in model.heads.items():
        arrays[f"head_{task}"] = head(hidden_states)
    return {name: np.asarray(value) for name, value in arrays.items() if value is not None}


def _loss_arrays(model, batch, settings, prefix):
    outputs = model(batch, training=False)
    total, terms = compute_losses(outputs, batch, settings)
    arrays = {f"{prefix}_{name}": np.asarray(value) for name, value in terms.items()}
    arrays[f"{prefix}_total"] = np.reshape(np.asarray(total), (1,))
    return arrays


def produce_arrays(bundle_model):
    """Every model-part array the port produces for one bundle model (unprefixed names)."""
    model = bundle_model.load()
    batch = bundle_model.batch
    members = member_slices(batch)
    per_member = [_encoder_arrays(model, member) for _, member in members]
    arrays = {}
    for name in per_member[0]:
        if members[0][0] is None:
            arrays[name] = per_member[0][name]
        else:
            arrays[name] = np.stack([member[name] for member in per_member])
            arrays[f"anchor_{name}"] = per_member[0][name]
    settings = LossSettings.from_config(bundle_model.config)
    unit = dataclasses.replace(
        settings, mask_axis_weight=1.0, rec_axis_weight=1.0, mask_type_weight=1.0,
        rec_type_weight=1.0, prediction_weight=1.0, triplet_weight=1.0)
    arrays.update(_loss_arrays(model, batch, settings, "loss"))
    arrays.update(_loss_arrays(model, batch, unit, "lossw1"))
    return arrays


def model_reference_names(reference, prefix, all_prefixes):
    """Reference arrays of one model belonging to the model part."""
    others = [other for other in all_prefixes if other != prefix and other.startswith(prefix)]
    names = []
    for name in reference.files:
        if not name.startswith(prefix) or any(name.startswith(other) for other in others):
            continue
        if name[len(prefix):].startswith(TRAIN_PREFIXES):
            continue
        names.append(name)
    return names


def check(bundle_dir, report):
    """Compares every model-part array of `outputs.npz`; unproducible ones are listed."""
    reference = np.load(f"{bundle_dir}/outputs.npz")
    models = bundle_models(bundle_dir)
    prefixes = [bundle_model.prefix for bundle_model in models]
    for bundle_model in models:
        arrays = produce_arrays(bundle_model)
        for name in model_reference_names(reference, bundle_model.prefix, prefixes):
            key = name[len(bundle_model.prefix):]
            if key in arrays:
                report.compare(name, arrays[key], reference[name])
            else:
                report.skip(name, reference[name].shape,
                            "the port produces no array of this name")
