"""Decoder output head: bivariate Gaussian mixture + pen state, and the loss
(docs/differences.md#sg-3-9, #sg-3-10).

The decoder's last linear layer emits `3 + 6K` values per step: 3 pen logits (pen down, pen up,
end), then six blocks of K: mixture logits, mu_x, mu_y, log sigma_x, log sigma_y, pre-tanh rho.
The mixture models **absolute** positions (normalised units).
"""

import math

import tensorflow as tf

NUM_PEN_STATES = 3
DENSITY_EPSILON = 1e-6


def output_width(num_components):
    """`3 + 6K`, width of the decoder's output layer."""
    return NUM_PEN_STATES + 6 * num_components


def split_mixture(fc_out, num_components):
    """Splits raw outputs into mixture parameters.

    Args:
        fc_out: `[M, 3 + 6K]` raw outputs of the decoder's output layer.
        num_components: K.

    Returns:
        Dict of `[M, K]` tensors `pi` (softmax), `mux`, `muy`, `sigmax`, `sigmay` (exp), `corr`
        (tanh), and `[M, 3]` tensors `pen_logits`, `pen` (softmax).
    """
    pen_logits = fc_out[:, :NUM_PEN_STATES]
    logits, mux, muy, log_sigmax, log_sigmay, corr_raw = tf.split(
        fc_out[:, NUM_PEN_STATES:], [num_components] * 6, axis=1)
    return {
        "pi": tf.nn.softmax(logits),
        "mux": mux,
        "muy": muy,
        "sigmax": tf.exp(log_sigmax),
        "sigmay": tf.exp(log_sigmay),
        "corr": tf.tanh(corr_raw),
        "pen": tf.nn.softmax(pen_logits),
        "pen_logits": pen_logits,
    }


def bivariate_normal_density(x, y, mux, muy, sigmax, sigmay, corr):
    """`N(x, y; mu, sigma, rho)` evaluated literally as upstream (`[M, 1]` targets vs `[M, K]`)."""
    norm_x = x - mux
    norm_y = y - muy
    sigma_xy = sigmax * sigmay
    z = (tf.square(norm_x / sigmax) + tf.square(norm_y / sigmay)
         - 2.0 * (corr * (norm_x * norm_y)) / sigma_xy)
    one_minus_rho2 = 1.0 - tf.square(corr)
    numerator = tf.exp(-z / (2.0 * one_minus_rho2))
    return numerator / (2.0 * math.pi * (sigma_xy * tf.sqrt(one_minus_rho2)))


def reconstruction_loss(mixture, targets, training):
    """The SketchGloc loss (`lil_loss`, equal to `loss`; no KL term).

    Per step: `Ls = -log(sum_k pi_k N_k + 1e-6) (1 - p3)` and `Lp` = pen cross-entropy, masked by
    `(1 - p3)` only in evaluation mode; summed over the T steps, averaged over the batch.

    Args:
        mixture: dict from `split_mixture` with rows ordered b*T + t.
        targets: `[B, T, 5]` target rows (`input_seqs[:, 1:]`): absolute x, y and one-hot pen.
        training: True for the training-model loss (pen term unmasked).

    Returns:
        Scalar loss.
    """
    steps = targets.shape[1] if targets.shape[1] is not None else tf.shape(targets)[1]
    flat = tf.reshape(targets, [-1, 5])
    x, y, pen_target = flat[:, 0:1], flat[:, 1:2], flat[:, 2:5]
    density = bivariate_normal_density(
        x, y, mixture["mux"], mixture["muy"], mixture["sigmax"], mixture["sigmay"],
        mixture["corr"])
    weighted = tf.reduce_sum(density * mixture["pi"], axis=1, keepdims=True)
    mask = 1.0 - pen_target[:, 2:3]
    position_loss = -tf.math.log(weighted + DENSITY_EPSILON) * mask
    pen_loss = tf.nn.softmax_cross_entropy_with_logits(
        labels=pen_target, logits=mixture["pen_logits"])[:, None]
    if not training:
        pen_loss = pen_loss * mask
    per_sketch = tf.reduce_sum(tf.reshape(position_loss + pen_loss, [-1, steps]), axis=1)
    return tf.reduce_mean(per_sketch)
