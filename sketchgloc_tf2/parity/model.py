"""Model parity: the port against the `outputs.npz` / `grads.npz` of a SketchGloc reference bundle.

`check(bundle_dir, report)` loads `BUNDLE/ckpt` through the converter with
`BUNDLE/model_config.json`, feeds every batch of `feeds.npz` and compares every array the original
recorded:

* `eval/<batch>/<name>`: evaluation model (moving BN statistics, masked pen loss, z = p_mu);
  `p_mu_box_ori` re-encodes the batch with `box_ori` in place of `input_box`.
* `train/<batch>/<name>`: training model (batch statistics, unmasked pen loss) with z = p_mu,
  including the BN moving statistics before and after the update.
* `train_eps/<batch>/<name>`: training model with the recorded `eps`,
  z = p_mu + exp(p_sigma2 / 2) eps.
* `grads.npz`: gradients of that `train_eps` loss w.r.t. every trainable variable (TF1 names,
  before clipping).
* `scalars/valid_set_eval_loss` (and `_lil_loss`): mean evaluation loss over the full validation
  batches rebuilt from `BUNDLE/data` with the data layer.

The evaluation model is converted once and never changes its BN statistics. The training-mode
runs share one separately converted model and run in the file order of `outputs.npz`, like the
reference's single graph: each run updates the moving statistics, so the first run's "before"
values are the checkpoint's and a later run's "before" is the previous run's "after". The
reference ran every model with dropout off; so does this check.
Nothing here depends on the shipped bundle: sizes, cell types and batch names come from its files.
"""

import os

import numpy as np
import tensorflow as tf

from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2.convert import convert_tf1, tf1_gradients
from sketchgloc_tf2.model import BATCH_KEYS

INPUT_ARRAYS = {"eps": "an input fed to the model (the recorded N(0, 1) draw), not an output"}
REFERENCE_RUN_METADATA = {
    "train_steps_before_ckpt": "metadata of the reference training run, not computed by a model",
}
BN_STATISTICS = ("moving_mean", "moving_variance")


def _checkpoint_prefix(bundle_dir):
    folder = os.path.join(bundle_dir, "ckpt")
    return tf.train.latest_checkpoint(folder) or os.path.join(folder, "model")


def _batch(feeds, batch_name, box_key="input_box"):
    batch = {key: feeds[f"{batch_name}/{key}"] for key in BATCH_KEYS}
    batch["input_box"] = feeds[f"{batch_name}/{box_key}"]
    return batch


def _group(keys):
    """`mode/batch/name` keys -> {(mode, batch): [name, ...]} in file order."""
    groups = {}
    for key in keys:
        parts = key.split("/")
        if len(parts) == 3:
            groups.setdefault((parts[0], parts[1]), []).append(parts[2])
    return groups


def _bn_statistics(model):
    bn = model.batch_norm
    return {name: np.array(getattr(bn, name).numpy()) for name in BN_STATISTICS}


def _compare_group(report, outputs, prefix, names, produced):
    for name in names:
        key = f"{prefix}/{name}"
        reference = outputs[key]
        if name in produced:
            report.compare(key, np.asarray(produced[name]), reference)
        else:
            reason = INPUT_ARRAYS.get(name, "the port does not produce this array")
            report.skip(key, reference.shape, reason)


def _dropout_off(hparams):
    return hparams.replace(
        use_recurrent_dropout=False, use_input_dropout=False, use_output_dropout=False)


def _run_training(model, batch, eps, with_gradients):
    """One training-mode loss (and gradients); returns the produced arrays and TF1-named grads."""
    before = _bn_statistics(model)
    with tf.GradientTape() as tape:
        loss, produced = model.compute_loss_from_batch(batch, training=True, eps=eps)
    gradients = {}
    if with_gradients:
        variables = model.trainable_variables
        values = tape.gradient(loss, variables)
        gradients = tf1_gradients(
            model, {var.path: grad for var, grad in zip(variables, values) if grad is not None})
    after = _bn_statistics(model)
    for name in BN_STATISTICS:
        produced[f"bn_{name}_before"] = before[name]
        produced[f"bn_{name}_after"] = after[name]
    return produced, gradients


def _validation_loss(bundle_dir, hparams, model):
    """Mean evaluation loss over the full validation batches rebuilt from `BUNDLE/data`.

    Uses the data layer (`sketchgloc_tf2.data.pipeline`): the categories of the config, its stored
    L, N and scale factor, upstream's clean validation batches in order.

    Returns:
        `(loss, None)` or `(None, reason)` when the data layer or the data are unavailable.
    """
    try:
        from sketchgloc_tf2.data import pipeline
    except ImportError as error:
        return None, f"data layer not available ({error})"
    if not (hasattr(pipeline, "prepare_data") and hasattr(pipeline, "SketchBatcher")):
        return None, "data layer lacks prepare_data / SketchBatcher"
    data_dir = os.path.join(bundle_dir, "data")
    if not os.path.isdir(data_dir):
        return None, f"no raw data folder {data_dir}"
    prepared = pipeline.prepare_data(data_dir, hparams, keep_sizes=True)
    batcher = pipeline.SketchBatcher(prepared.valid, prepared.hparams, augment=False)
    size = hparams.batch_size
    losses = []
    for step in range(batcher.num_eval_batches(size)):
        indices = np.arange(step * size, (step + 1) * size)
        arrays = batcher.batch(indices, 0.0, np.random.RandomState(step))
        loss, _ = model.compute_loss_from_batch({key: arrays[key] for key in BATCH_KEYS}, False)
        losses.append(float(loss))
    if not losses:
        return None, f"fewer validation sketches ({len(batcher)}) than batch_size {size}"
    return np.float32(np.mean(losses)), None


def check(bundle_dir, report):
    """Compares every model array of the bundle; adds one row per array to `report`.

    Args:
        bundle_dir: a reference bundle folder (`ckpt/`, `model_config.json`, `feeds.npz`,
            `outputs.npz`, optionally `grads.npz`, `data/`).
        report: a `ParityReport`.
    """
    hparams = _dropout_off(hparams_lib.load_config(os.path.join(bundle_dir, "model_config.json")))
    prefix = _checkpoint_prefix(bundle_dir)
    feeds = np.load(os.path.join(bundle_dir, "feeds.npz"))
    outputs = np.load(os.path.join(bundle_dir, "outputs.npz"))
    grads_path = os.path.join(bundle_dir, "grads.npz")
    reference_grads = np.load(grads_path) if os.path.exists(grads_path) else None

    eval_model = convert_tf1(prefix, hparams.replace(is_training=False))
    train_model = None
    gradient_batch = None
    for (mode, batch_name), names in _group(outputs.files).items():
        group_prefix = f"{mode}/{batch_name}"
        if mode == "eval":
            _, produced = eval_model.compute_loss_from_batch(_batch(feeds, batch_name), False)
            if "p_mu_box_ori" in names:
                box_ori = eval_model.encode(_batch(feeds, batch_name, "box_ori"), training=False)
                produced["p_mu_box_ori"] = box_ori["p_mu"]
        elif mode in ("train", "train_eps"):
            batch = _batch(feeds, batch_name)
            if mode == "train":
                eps = np.zeros(outputs[f"{group_prefix}/p_mu"].shape, np.float32)
            else:
                eps = outputs[f"{group_prefix}/eps"]
            with_gradients = (
                mode == "train_eps" and reference_grads is not None and gradient_batch is None)
            train_model = train_model or convert_tf1(prefix, hparams.replace(is_training=True))
            produced, gradients = _run_training(train_model, batch, eps, with_gradients)
            if with_gradients:
                gradient_batch = (batch_name, gradients)
        else:
            produced = {}
        _compare_group(report, outputs, group_prefix, names, produced)

    for key in outputs.files:
        if not key.startswith("scalars/"):
            continue
        name = key.split("/", 1)[1]
        if name in ("valid_set_eval_loss", "valid_set_eval_lil_loss"):
            loss, reason = _validation_loss(bundle_dir, hparams, eval_model)
            if reason:
                report.skip(key, outputs[key].shape, reason)
            else:
                report.compare(key, loss, outputs[key])
        else:
            report.skip(key, outputs[key].shape,
                        REFERENCE_RUN_METADATA.get(name, "the port does not produce this array"))

    if reference_grads is None:
        return
    for name in reference_grads.files:
        key = f"grads/{name}"
        if gradient_batch is None:
            report.skip(key, reference_grads[name].shape, "no train_eps batch in outputs.npz")
        elif name in gradient_batch[1]:
            report.compare(key, gradient_batch[1][name], reference_grads[name])
        else:
            report.skip(key, reference_grads[name].shape, "not a variable of the port")
