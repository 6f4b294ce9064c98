"""Training part of the parity check: gradients of the total loss and one optimizer step.

Reference names: `grad.<net>.<key>` (gradient of `loss_total`, dropout off) and
`after_step.<net>.<key>` (parameters after one `torch.optim.Adam` step from zero state, lr =
the config's `learning_rate`), where `<net>` is `netE` or a task name and `<key>` the original
state-dict key; both prefixed with the model's prefix. The port's step uses `TorchAdam`, which
reproduces PyTorch's update (epsilon added to the bias-corrected `sqrt(v)`).

The optimizer step is applied to the bundle's *reference* gradients when it stores them (the
port's gradients are compared on their own rows). A first Adam step moves every parameter by
`lr * g / (|g| + 1e-8)`, i.e. by almost exactly `lr * sign(g)` once `|g| >> 1e-8`, so for
gradients that are analytically zero but come out as float32 rounding noise (the attention key
biases, to which softmax is invariant; the retrieval-head bias, which cancels in the triplet
distances) an end-to-end comparison would compare the signs of two rounding errors, not the
optimizer. Feeding the same gradients to both optimizers tests the update rule itself.
"""

import numpy as np
import tensorflow as tf

from bert_tf2.state_dicts import ENCODER_STATE, model_parameters
from bert_tf2.losses import LossSettings, compute_losses
from bert_tf2.optimizers import TorchAdam
from bert_tf2.parity.bundle import bundle_models
from bert_tf2.parity.model import TRAIN_PREFIXES


def _net_name(state_name):
    return "netE" if state_name == ENCODER_STATE else state_name[len("net_"):-len("_state")]


def produce_arrays(bundle_model, reference_gradients=None):
    """`grad.<net>.<key>` and `after_step.<net>.<key>` arrays (torch layout, unprefixed).

    Args:
        bundle_model: a `BundleModel`.
        reference_gradients: optional dict `<net>.<key>` → torch-layout gradient; the optimizer
            step uses it instead of the port's gradient where present.
    """
    model = bundle_model.load()
    batch = bundle_model.batch
    settings = LossSettings.from_config(bundle_model.config)
    parameters = [(f"{_net_name(state)}.{key}", parameter)
                  for state, table in model_parameters(model).items()
                  for key, parameter in table.items()]
    variables = [parameter.variable for _, parameter in parameters]
    with tf.GradientTape() as tape:
        total, _ = compute_losses(model(batch, training=False), batch, settings)
    gradients = tape.gradient(total, variables)
    arrays = {}
    for (name, parameter), gradient in zip(parameters, gradients):
        gradient = np.asarray(gradient)
        arrays[f"grad.{name}"] = gradient.T if parameter.transpose else gradient
    reference_gradients = reference_gradients or {}
    step_gradients = []
    for (name, parameter), gradient in zip(parameters, gradients):
        if name in reference_gradients:
            gradient = np.asarray(reference_gradients[name], dtype=np.float32)
            gradient = gradient.T if parameter.transpose else gradient
        step_gradients.append(tf.convert_to_tensor(gradient))
    optimizer = TorchAdam(learning_rate=float(bundle_model.config["learning_rate"]))
    optimizer.apply_gradients(zip(step_gradients, variables))
    for name, parameter in parameters:
        arrays[f"after_step.{name}"] = parameter.to_torch()
    return arrays


def check(bundle_dir, report):
    """Compares every gradient / optimizer-step array of `outputs.npz`."""
    reference = np.load(f"{bundle_dir}/outputs.npz")
    for bundle_model in bundle_models(bundle_dir):
        prefix = bundle_model.prefix
        names = [name for name in reference.files
                 if name.startswith(prefix) and name[len(prefix):].startswith(TRAIN_PREFIXES)]
        if not names:
            continue
        gradient_prefix = f"{prefix}grad."
        reference_gradients = {name[len(gradient_prefix):]: reference[name] for name in names
                               if name.startswith(gradient_prefix)}
        arrays = produce_arrays(bundle_model, reference_gradients)
        for name in names:
            key = name[len(prefix):]
            if key in arrays:
                report.compare(name, arrays[key], reference[name])
            else:
                report.skip(name, reference[name].shape,
                            "no parameter of the port maps to this state-dict key")
