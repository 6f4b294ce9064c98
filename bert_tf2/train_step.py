"""The Sketch-BERT optimizer step, shared by `python -m bert_tf2 train` and `SketchBert.fit`."""

import tensorflow as tf

from bert_tf2.losses import compute_losses

MODEL_INPUTS = ("mask_input", "length_mask", "segment")


def model_inputs(batch: dict) -> dict:
    """The three arrays the model reads, from a pipeline batch."""
    return {key: batch[key] for key in MODEL_INPUTS}


def train_step(model, optimizer, variables, batch: dict, settings, share_terms=None):
    """One optimizer step on the configured tasks' losses (`losses.compute_losses`).

    Args:
        model: the `SketchBertModel`.
        optimizer: a Keras optimizer over `variables` (upstream: `optimizers.TorchAdam`).
        variables: the trainable variables, in the optimizer's order.
        batch: a pipeline batch (with the triplet member axis for `get_type: triplet`).
        settings: `losses.LossSettings`.
        share_terms: optional `terms -> terms` applied before summing (a replica's share of the
            global batch under `tf.distribute`).

    Returns:
        `(total, terms)`: the differentiated loss and its weighted terms.
    """
    with tf.GradientTape() as tape:
        outputs = model(model_inputs(batch), training=True)
        total, terms = compute_losses(outputs, batch, settings)
        if share_terms is not None:
            terms = share_terms(terms)
            total = tf.add_n(list(terms.values()))
    gradients = tape.gradient(total, variables)
    optimizer.apply_gradients(zip(gradients, variables))
    return total, terms
