"""Original (TF1) SketchGloc checkpoints: reading, converting to the native format, and the
loader every tool uses for "a native checkpoint directory or a TF1 checkpoint"
(docs/differences.md#sg-9).

    python -m sketchgloc_tf2.convert --tf1_checkpoint PREFIX --config model_config.json --output DIR

The TF1 checkpoint is read with `tf.train.load_checkpoint` (no TF1 needed). Every trainable
variable and the batch-norm moving statistics are required; Adam slots, beta powers and
`num_of_steps` are optional and ignored. The output directory holds `model_config.json` and
`model.weights.h5` (written atomically, see `sketchgloc_tf2.checkpoint`) and is what every tool
accepts as CHECKPOINT_DIR. This module depends on `checkpoint.py` (the native format), never the
reverse; the TF1 variable scopes of the original graph are named here.
"""

import os
import re

import numpy as np
import tensorflow as tf

from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2.checkpoint import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    is_native_dir,
    load_checkpoint_dir,
    load_model_config,
    save_checkpoint_dir,
)
from sketchgloc_tf2.errors import SketchCheckpointError, SketchConfigError
from sketchgloc_tf2.layers.cells import (
    HYPER_BIAS_BLOCKS,
    HYPER_NORM_BLOCKS,
    HyperLSTMCell,
    LayerNormLSTMCell,
)
from sketchgloc_tf2.model import SketchGlocModel

# TF1 variable scopes of the original graph.
MODEL_SCOPE = "sketchBoard"
ENCODER_SCOPE = f"{MODEL_SCOPE}/ENC1_RNN"
DECODER_CELL_SCOPE = f"{MODEL_SCOPE}/decoder/decoder/rnn"
TF1_CELL_SCOPES = {"lstm": "LSTMCell", "layer_norm": "LayerNormLSTMCell", "hyper": "HyperLSTMCell"}
OPTIONAL_PATTERN = re.compile(r"(/Adam(_1)?$)|(^|/)beta[12]_power$|(^|/)num_of_steps$")
SCOPE_TO_CELL_TYPE = {scope: cell_type for cell_type, scope in TF1_CELL_SCOPES.items()}


def _cell_entries(cell, prefix):
    """TF1 names of a cell's variables under `prefix` -> (variable, index on axis 0 or None)."""
    if isinstance(cell, HyperLSTMCell):
        scope = "HyperLSTMCell"
    elif isinstance(cell, LayerNormLSTMCell):
        scope = "LayerNormLSTMCell"
    else:
        scope = "LSTMCell"
    base = f"{prefix}/{scope}"
    entries = {f"{base}/W_xh": (cell.W_xh, None), f"{base}/W_hh": (cell.W_hh, None)}
    if scope != "LayerNormLSTMCell":
        entries[f"{base}/bias"] = (cell.bias, None)
    if scope != "LSTMCell":
        entries.update({
            f"{base}/ln_all/ln_gamma": (cell.ln_all_gamma, None),
            f"{base}/ln_all/ln_beta": (cell.ln_all_beta, None),
            f"{base}/ln_c/ln_gamma": (cell.ln_c_gamma, None),
            f"{base}/ln_c/ln_beta": (cell.ln_c_beta, None),
        })
    if scope == "HyperLSTMCell":
        entries.update(_cell_entries(cell.hyper_cell, base))
        for index, block in enumerate(HYPER_NORM_BLOCKS):
            entries[f"{base}/hyper_{block}/zw/super_linear_w"] = (cell.hyper_zw_kernel, index)
            entries[f"{base}/hyper_{block}/zw/super_linear_b"] = (cell.hyper_zw_bias, index)
            entries[f"{base}/hyper_{block}/alpha/super_linear_w"] = (cell.hyper_alpha_kernel, index)
        for index, block in enumerate(HYPER_BIAS_BLOCKS):
            entries[f"{base}/hyper_{block}/zb/super_linear_w"] = (cell.hyper_zb_kernel, index)
            entries[f"{base}/hyper_{block}/beta/super_linear_w"] = (cell.hyper_beta_kernel, index)
    return entries


def _linear_entries(layer, scope):
    return {
        f"{scope}/linear/fc_w": (layer.kernel, None),
        f"{scope}/linear/fc_b": (layer.bias, None),
    }


def tf1_variable_map(model):
    """Maps every TF1 variable name of the original graph to the port's variable.

    Args:
        model: a built `SketchGlocModel`.

    Returns:
        Dict `tf1_name -> (keras_variable, index)`; `index` is None for a 1:1 tensor, or the
        position along axis 0 of a stacked port variable (hyper-norm blocks).
    """
    encoder, bn = model.stroke_encoder, model.batch_norm
    entries = {}
    entries.update(_cell_entries(encoder.forward_cell, f"{ENCODER_SCOPE}/fw"))
    entries.update(_cell_entries(encoder.backward_cell, f"{ENCODER_SCOPE}/bw"))
    entries[f"{MODEL_SCOPE}/gcn_weight_1"] = (model.relation_gcn.gcn_weight_1, None)
    entries[f"{MODEL_SCOPE}/gcn_weight_2"] = (model.relation_gcn.gcn_weight_2, None)
    for name in ("beta", "gamma", "moving_mean", "moving_variance"):
        entries[f"{MODEL_SCOPE}/BatchNorm/{name}"] = (getattr(bn, name), None)
    entries.update(_linear_entries(model.fc_mu, f"{MODEL_SCOPE}/fc_mu"))
    entries.update(_linear_entries(model.fc_sigma2, f"{MODEL_SCOPE}/fc_sigma2"))
    entries.update(_linear_entries(model.init_state, f"{MODEL_SCOPE}/decoder/init_state"))
    entries.update(_cell_entries(model.decoder_cell, DECODER_CELL_SCOPE))
    entries.update(_linear_entries(model.output_layer, f"{MODEL_SCOPE}/decoder/decoder/fc"))
    return entries


def _expected_shape(variable, index):
    shape = tuple(int(d) for d in variable.shape)
    return shape if index is None else shape[1:]


def infer_architecture(shapes):
    """Reads cell types and sizes from a TF1 checkpoint's `{name: shape}` map.

    Returns:
        Dict with those of `enc_model`, `enc_rnn_size`, `z_size`, `dec_model`, `dec_rnn_size`,
        `num_mixture_components` that the names and shapes reveal.
    """
    found = {}
    for name, shape in shapes.items():
        parts = name.split("/")
        if name.startswith(f"{ENCODER_SCOPE}/fw/") and parts[-1] == "W_hh" and len(parts) == 5:
            found["enc_model"] = SCOPE_TO_CELL_TYPE.get(parts[3], parts[3])
            found["enc_rnn_size"] = int(shape[0])
        if name.startswith(f"{DECODER_CELL_SCOPE}/") and parts[-1] == "W_hh" and len(parts) == 6:
            found["dec_model"] = SCOPE_TO_CELL_TYPE.get(parts[4], parts[4])
            found["dec_rnn_size"] = int(shape[0])
        if name == f"{MODEL_SCOPE}/fc_mu/linear/fc_b":
            found["z_size"] = int(shape[0])
        if name == f"{MODEL_SCOPE}/decoder/decoder/fc/linear/fc_b":
            found["num_mixture_components"] = (int(shape[0]) - 3) // 6
    return found


def _check_architecture(shapes, hparams, prefix):
    found = infer_architecture(shapes)
    disagreements = [
        f"{key}: config {getattr(hparams, key)!r}, checkpoint {value!r}"
        for key, value in sorted(found.items())
        if getattr(hparams, key) != value
    ]
    if disagreements:
        raise SketchCheckpointError(
            f"{prefix}: the config does not describe this checkpoint ("
            + "; ".join(disagreements)
            + "). Fix model_config.json (the checkpoint's values are shown)."
        )


def read_tf1_checkpoint(prefix):
    """Opens a TF1 checkpoint; returns `(reader, {name: shape})`."""
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as error:
        reason = " ".join(str(error).split())
        raise SketchCheckpointError(
            f"{prefix}: cannot read a TF checkpoint there ({reason}). Pass the prefix "
            "(e.g. ckpt/vector-123, without .index) or a folder with a 'checkpoint' file."
        ) from None
    return reader, reader.get_variable_to_shape_map()


def assign_tf1_values(model, reader, shapes, prefix="checkpoint"):
    """Copies every mapped TF1 tensor into `model`, after checking names and shapes.

    Raises:
        SketchCheckpointError: listing missing variables, unmatched (unknown, non-optional)
            variables and shape mismatches.
    """
    mapping = tf1_variable_map(model)
    missing = sorted(name for name in mapping if name not in shapes)
    unmatched = sorted(
        name for name in shapes if name not in mapping and not OPTIONAL_PATTERN.search(name)
    )
    mismatched = sorted(
        f"{name}: checkpoint {list(shapes[name])}, model {list(_expected_shape(var, index))}"
        for name, (var, index) in mapping.items()
        if name in shapes and tuple(shapes[name]) != _expected_shape(var, index)
    )
    if missing or unmatched or mismatched:
        lines = [f"{prefix}: checkpoint does not match the SketchGloc model"]
        if missing:
            lines.append(f"missing variables ({len(missing)}): " + ", ".join(missing))
        if unmatched:
            lines.append(f"unmatched variables ({len(unmatched)}): " + ", ".join(unmatched))
        if mismatched:
            lines.append(f"shape mismatches ({len(mismatched)}): " + ", ".join(mismatched))
        lines.append("check enc_model/dec_model and the sizes in model_config.json")
        raise SketchCheckpointError("; ".join(lines))
    stacked = {}
    for name, (variable, index) in mapping.items():
        value = reader.get_tensor(name)
        if index is None:
            variable.assign(value)
        else:
            key = id(variable)
            if key not in stacked:
                stacked[key] = (variable, np.array(variable.numpy()))
            stacked[key][1][index] = value
    for variable, value in stacked.values():
        variable.assign(value)


def convert_tf1(prefix, hparams):
    """Builds a `SketchGlocModel` from `hparams` and loads the TF1 checkpoint at `prefix` into it.

    Args:
        prefix: TF1 checkpoint prefix (or a folder with a `checkpoint` file).
        hparams: `HParams` whose cell types and sizes must agree with the checkpoint.

    Returns:
        The model with the original weights and BN moving statistics.

    Raises:
        SketchCheckpointError: unreadable checkpoint, or a mismatch with the config.
    """
    reader, shapes = read_tf1_checkpoint(prefix)
    _check_architecture(shapes, hparams, prefix)
    model = SketchGlocModel.from_hparams(hparams)
    assign_tf1_values(model, reader, shapes, prefix)
    return model


def tf1_gradients(model, gradients):
    """Maps port gradients back to TF1 names.

    Args:
        model: the `SketchGlocModel` the gradients belong to.
        gradients: dict `variable.path -> gradient` (for trainable variables).

    Returns:
        Dict `tf1_name -> numpy gradient` for every trainable TF1 variable.
    """
    result = {}
    for name, (variable, index) in tf1_variable_map(model).items():
        if variable.path not in gradients:
            continue
        value = np.asarray(gradients[variable.path])
        result[name] = value if index is None else value[index]
    return result


def _latest_in_folder(folder):
    """The checkpoint prefix that `folder/checkpoint` names, checked to exist."""
    state = tf.train.get_checkpoint_state(folder)
    if state is None or not state.model_checkpoint_path:
        raise SketchCheckpointError(f"{folder}: no 'checkpoint' file naming a TF checkpoint; "
                                    "pass the checkpoint prefix (e.g. ckpt/vector-123)")
    latest = tf.train.latest_checkpoint(folder)
    if latest is None:
        raise SketchCheckpointError(
            f"{folder}: its 'checkpoint' file names {state.model_checkpoint_path}, which has no "
            ".index file; pass an existing checkpoint prefix")
    return latest


def _tf1_prefix(path):
    """The TF1 checkpoint prefix `path` designates, or None."""
    if os.path.isdir(path):
        return tf.train.latest_checkpoint(path)
    if os.path.exists(path + ".index"):
        return path
    return None


def _find_config(prefix):
    folder = os.path.dirname(os.path.abspath(prefix))
    for candidate in (folder, os.path.dirname(folder)):
        path = os.path.join(candidate, CONFIG_NAME)
        if os.path.exists(path):
            return path
    raise SketchCheckpointError(
        f"{prefix}: TF1 checkpoint found but no {CONFIG_NAME} in {folder} or its parent; "
        f"convert it with `python -m sketchgloc_tf2.convert --config ...`."
    )


def load_any_checkpoint(path):
    """Loads a CHECKPOINT_DIR as the tools accept it: a native checkpoint directory, or an
    original TF1 checkpoint (a prefix such as `ckpt/vector-123`, or a folder with a TF
    `checkpoint` file) converted in memory with the `model_config.json` of its folder or the
    folder above.

    Returns:
        `(model, hparams)`.

    Raises:
        SketchCheckpointError: nothing at `path`, a broken native directory (see
            `checkpoint.load_checkpoint_dir`) or an unreadable or mismatched TF1 checkpoint.
    """
    if not os.path.exists(path) and not os.path.exists(path + ".index"):
        raise SketchCheckpointError(
            f"{path}: no such checkpoint directory; pass a folder with {CONFIG_NAME} and "
            f"{WEIGHTS_NAME} (or a TF1 checkpoint prefix)")
    if is_native_dir(path):
        return load_checkpoint_dir(path)
    prefix = _tf1_prefix(path)
    if prefix is None:
        raise SketchCheckpointError(
            f"{path}: neither a native checkpoint directory ({CONFIG_NAME} + {WEIGHTS_NAME}) nor "
            "a TF1 checkpoint (prefix with .index, or a folder with a 'checkpoint' file)"
        )
    hparams = load_model_config(_find_config(prefix))
    return convert_tf1(prefix, hparams), hparams


def load_sampling_model(checkpoint_dir: str, ckpt_id: int = 0) -> tuple:
    """The model and hparams of a CHECKPOINT_DIR (native or TF1), in evaluation mode.

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
    model, hparams = load_any_checkpoint(path)
    return model, hparams.eval_copy()


def convert_checkpoint(tf1_checkpoint: str, config: str, output: str,
                       overwrite: bool = False) -> str:
    """`python -m sketchgloc_tf2.convert`: TF1 checkpoint + its config -> native directory.

    Args:
        tf1_checkpoint: TF1 checkpoint prefix, or the folder of its `checkpoint` file.
        config: the `model_config.json` of that checkpoint.
        output: the native checkpoint directory to write.
        overwrite: replace a native checkpoint already in `output`.

    Returns:
        What was written, one line.

    Raises:
        SketchConfigError: `output` is a file, or holds a checkpoint and `overwrite` is False
            (checked before anything is read).
        SketchCheckpointError: an unreadable or mismatched TF1 checkpoint.
    """
    if os.path.exists(output) and not os.path.isdir(output):
        raise SketchConfigError(f"--output {output}: exists and is not a folder; pass a "
                                "folder for the checkpoint directory")
    existing = [name for name in (CONFIG_NAME, WEIGHTS_NAME)
                if os.path.lexists(os.path.join(output, name))]
    if existing and not overwrite:
        raise SketchConfigError(f"--output {output}: already holds a checkpoint "
                                f"({', '.join(existing)}); pass --overwrite to replace it, or "
                                "choose another folder")
    hparams = hparams_lib.load_config(config)
    prefix = tf1_checkpoint
    if os.path.isdir(prefix):
        prefix = _latest_in_folder(prefix)
    model = convert_tf1(prefix, hparams)
    save_checkpoint_dir(model, hparams, output, preset={
        "description": f"converted from the original TF1 checkpoint {os.path.basename(prefix)}",
        "source": os.path.abspath(prefix), "categories": list(hparams.categories)})
    return (f"wrote {os.path.join(output, WEIGHTS_NAME)} and {CONFIG_NAME} "
            f"({len(tf1_variable_map(model))} variables from {prefix})")


if __name__ == "__main__":
    from sketch_common.command_line import run_command_line

    run_command_line("flags.gloc_convert")
