"""The SketchGloc optimizer step, shared by `train.py`'s Trainer and `SketchGloc.fit`."""

import tensorflow as tf


def train_step(model, optimizer, batch: dict, eps=None, loss_scale=None):
    """One optimizer step on the upstream loss (`SketchGlocModel.compute_loss_from_batch`).

    Args:
        model: the `SketchGlocModel`.
        optimizer: a Keras optimizer over `model.trainable_variables` (upstream: `ClippedAdam`
            with the upstream learning-rate schedule, `optimizers.make_optimizer`).
        batch: dict with the five `model.BATCH_KEYS`.
        eps: optional `[B, Z]` reparameterisation noise (drawn by the model when None).
        loss_scale: optional factor of the differentiated loss (a replica's share of the global
            batch under `tf.distribute`).

    Returns:
        The (scaled) loss, a float32 scalar.
    """
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
        loss, _ = model.compute_loss_from_batch(batch, training=True, eps=eps)
        if loss_scale is not None:
            loss = loss * loss_scale
    gradients = tape.gradient(loss, variables)
    optimizer.apply_gradients(zip(gradients, variables))
    return loss
