"""The decoding loop of SketchGloc (docs/differences.md#sg-5-3): the sampling rule, its random
draws, the loop.

`decode_steps` is the one loop that turns decoder steps into stroke-5 points; `Sampler.__call__`,
`Sampler.sample_many` (continuous batching) and the exported `sample` / `reconstruct`
signatures all run it. Each step feeds the previous point to the decoder step and chooses the
next point from the mixture (`choose_points`):

* mixture component: inverse-CDF draw of a uniform against the tempered weights
  `softmax(log pi / tau)` (upstream `adjust_pdf` + `get_pi_idx`; the last component if rounding
  leaves the CDF below the uniform, as upstream's `-1`);
* position: a bivariate normal with mean `(mu_x, mu_y)` and standard deviations
  `(sigma_x tau, sigma_y tau)` with correlation rho (docs/differences.md#sg-q9: upstream scales
  sigma by
  `sqrt(tau)^2`, so the covariance by tau^2, as sketch-rnn);
* pen state: the same tempered inverse-CDF draw on the three pen probabilities, one-hot;
* greedy mode: argmax of pi, the component mean, argmax of the pen probabilities.

The random numbers of a step (`step_draws`) are a counter-based hash of the seed, the sketch's
index and the sketch's step, so a sketch's draws do not depend on the batch it is decoded in,
on how the steps are split into calls, or on XLA: the same (z, temperature, seed) gives the same
sketch through every caller. Upstream drew from Python's and NumPy's global generators, so its
stochastic samples cannot be matched draw for draw; greedy decoding matches step by step.
"""

import math

import tensorflow as tf

from sketch_common.hashed_random import mix32

START_TOKEN = (0.0, 0.0, 1.0, 0.0, 0.0)
END_TOKEN = (0.0, 0.0, 0.0, 0.0, 1.0)
STEP_ARRAYS = ("pi", "mux", "muy", "sigmax", "sigmay", "corr", "pen", "pen_logits")
_GOLDEN = 0x9E3779B9
_DRAWS_PER_STEP = 4


def _tempered_choice(log_probs, temperature, uniform):
    """Index of the first tempered-CDF entry reaching `uniform` (last index if none).

    Args:
        log_probs: `[B, C]` log-probabilities (or logits).
        temperature: scalar tau.
        uniform: `[B]` in [0, 1).

    Returns:
        int32 `[B]`.
    """
    tempered = tf.nn.softmax(log_probs / temperature, axis=1)
    below = tf.cast(tf.cumsum(tempered, axis=1) < uniform[:, None], tf.int32)
    return tf.minimum(tf.reduce_sum(below, axis=1), tf.shape(log_probs)[1] - 1)


def choose_points(mixture, temperature, uniforms, normals, greedy):
    """One sampling step for a batch (docs/differences.md#sg-5-3 steps 2–4).

    Args:
        mixture: dict of `[B, K]` `pi`, `mux`, `muy`, `sigmax`, `sigmay`, `corr` and `[B, 3]`
            `pen`, `pen_logits` (`Decoder.step`).
        temperature: scalar tau.
        uniforms: `[B, 2]` U[0, 1) draws (mixture component, pen state).
        normals: `[B, 2]` N(0, 1) draws (position).
        greedy: argmax decoding (the draws are ignored).

    Returns:
        float32 `[B, 5]`: absolute x, y and the one-hot pen state.
    """
    if greedy:
        component = tf.argmax(mixture["pi"], axis=1, output_type=tf.int32)
        pen_state = tf.argmax(mixture["pen"], axis=1, output_type=tf.int32)
    else:
        component = _tempered_choice(tf.math.log(mixture["pi"]), temperature, uniforms[:, 0])
        pen_state = _tempered_choice(
            tf.nn.log_softmax(mixture["pen_logits"]), temperature, uniforms[:, 1])

    def pick(name):
        return tf.gather(mixture[name], component, axis=1, batch_dims=1)

    x, y = pick("mux"), pick("muy")
    if not greedy:
        sigma_x = pick("sigmax") * temperature
        sigma_y = pick("sigmay") * temperature
        rho = pick("corr")
        x = x + sigma_x * normals[:, 0]
        y = y + sigma_y * (rho * normals[:, 0] + tf.sqrt(1.0 - tf.square(rho)) * normals[:, 1])
    pen = tf.one_hot(pen_state, 3, dtype=x.dtype)
    return tf.concat([x[:, None], y[:, None], pen], axis=1)


def step_draws(seed, sketch_ids, steps, dtype=tf.float32):
    """The random numbers of one decoder step for each sketch.

    A counter-based generator (`hashed_random.mix32` hash, 24-bit uniforms; normals by
    Box-Muller, so within 5.8 standard deviations): row b depends only on
    `(seed, sketch_ids[b], steps[b])`.

    Args:
        seed: int64 `[2]` seed pair.
        sketch_ids: int32 `[B]` index of each row's sketch in the caller's list of codes.
        steps: int32 `[B]` step of each row's sketch (0 for its first point).
        dtype: float dtype of the draws.

    Returns:
        `(uniforms [B, 2], normals [B, 2])`: U[0, 1) draws for the component and pen choices,
        N(0, 1) draws for the position.
    """
    seed = tf.cast(seed, tf.int64)
    words = tf.stack([seed[0], tf.bitwise.right_shift(seed[0], 32),
                      seed[1], tf.bitwise.right_shift(seed[1], 32)])
    words = tf.cast(tf.bitwise.bitwise_and(words, 0xFFFFFFFF), tf.uint32)
    golden = tf.constant(_GOLDEN, tf.uint32)
    key = golden
    for index in range(4):
        key = mix32(tf.bitwise.bitwise_xor(key, words[index]) + golden)
    row = mix32(tf.bitwise.bitwise_xor(key, tf.cast(sketch_ids, tf.uint32)))
    row = mix32(tf.bitwise.bitwise_xor(row, tf.cast(steps, tf.uint32)) + golden)
    counters = tf.constant([(k * _GOLDEN) & 0xFFFFFFFF for k in range(1, _DRAWS_PER_STEP + 1)],
                           tf.uint32)
    bits = mix32(mix32(row[:, None] + counters[None, :]))
    uniform = tf.cast(tf.bitwise.right_shift(bits, 8), dtype) * (1.0 / (1 << 24))
    radius = tf.sqrt(-2.0 * tf.math.log(1.0 - uniform[:, 2]))
    angle = (2.0 * math.pi) * uniform[:, 3]
    normals = tf.stack([radius * tf.cos(angle), radius * tf.sin(angle)], axis=1)
    return uniform[:, :2], normals


def start_points(batch, dtype=tf.float32):
    """`[batch, 5]` start tokens, the first input of every sketch."""
    return tf.tile(tf.constant([START_TOKEN], dtype), [batch, 1])


def decode_steps(step_fn, state, point, seed, sketch_ids, steps_done=None, done=None, *,
                 num_steps, limit=None, temperature, greedy, stop_at_end=True,
                 record_steps=False):
    """Runs up to `num_steps` decoder steps of a batch of sketches (one `tf.while_loop`).

    Each step feeds `point` to `step_fn`, chooses the next point (`choose_points` with the
    draws of `step_draws`) and feeds it back. A sketch is done once it has used `limit` steps
    or, with `stop_at_end`, emitted an end-of-sketch point; a done sketch emits end tokens
    `(0, 0, 0, 0, 1)` and its step count stops. The loop exits when every sketch is done.
    Decoding may start anywhere: from a start token and `Decoder.initial_state(z)` (a new
    sketch), or from the state and last point of an earlier call (continuous batching) or of a
    teacher-forced prefix (sketch completion, with `steps_done` = the prefix length).

    Args:
        step_fn: `(point [B, 5], state [B, S]) -> (mixture, new_state [B, S])`
            (`Decoder.step_function(z)`); `mixture` holds the `STEP_ARRAYS`.
        state: `[B, S]` decoder state before the first step.
        point: `[B, 5]` stroke-5 point fed to the first step (absolute x, y, one-hot pen).
        seed: int64 `[2]` seed pair.
        sketch_ids: int32 `[B]` index of each row's sketch (keys its random numbers).
        steps_done: int32 `[B]` steps each sketch has already taken (zeros when None).
        done: bool `[B]` rows not to decode (idle or finished; all False when None).
        num_steps: maximum number of steps of this call (static int).
        limit: maximum steps of a sketch, counting `steps_done` (`num_steps` when None).
        temperature: scalar tau (ignored where greedy).
        greedy: argmax decoding: a Python bool, or a scalar bool tensor (both rules are then
            computed and one is selected, as in the exported signatures).
        stop_at_end: stop each sketch at its first end-of-sketch point; False runs it for
            `limit` steps, feeding back every emitted point (the greedy parity recording).
        record_steps: also return each step's input, mixture and new state.

    Returns:
        Dict: `rows [B, num_steps, 5]` emitted points (end tokens after a sketch is done or
        after the loop exits); `state [B, S]`, `point [B, 5]`, `steps_done [B]`, `done [B]` to
        continue from; with `record_steps`, `steps`: time-major `input_x [num_steps, B, 5]`,
        `state_out [num_steps, B, S]` and the `STEP_ARRAYS` `[num_steps, B, K or 3]` (zeros
        after the loop exits).
    """
    dtype = state.dtype
    batch = tf.shape(state)[0]
    limit = num_steps if limit is None else limit
    steps_done = tf.zeros([batch], tf.int32) if steps_done is None else steps_done
    done = tf.zeros([batch], tf.bool) if done is None else done
    done = done | (steps_done >= limit)
    temperature = tf.cast(temperature, dtype)
    static_greedy = isinstance(greedy, bool)
    if not static_greedy:
        temperature = tf.where(greedy, tf.constant(1.0, dtype), temperature)
    end = tf.tile(tf.constant([END_TOKEN], dtype), [batch, 1])
    buffers = {"rows": tf.tile(end[None], [num_steps, 1, 1])}
    if record_steps:
        probe, _ = step_fn(point, state)  # static widths only; unused ops are pruned
        for name in STEP_ARRAYS:
            buffers["step_" + name] = tf.zeros([num_steps, batch, probe[name].shape[1]], dtype)
        buffers["step_input_x"] = tf.zeros([num_steps, batch, 5], dtype)
        buffers["step_state_out"] = tf.zeros([num_steps, batch, state.shape[1]], dtype)

    def choose(mixture, steps_done):
        if static_greedy and greedy:
            return choose_points(mixture, temperature, None, None, True)
        uniforms, normals = step_draws(seed, sketch_ids, steps_done, dtype)
        sampled = choose_points(mixture, temperature, uniforms, normals, False)
        if static_greedy:
            return sampled
        return tf.where(greedy, choose_points(mixture, temperature, None, None, True), sampled)

    def body(step, point, state, steps_done, done, buffers):
        mixture, new_state = step_fn(point, state)
        emitted = tf.where(done[:, None], end, choose(mixture, steps_done))
        steps_done = steps_done + tf.cast(tf.logical_not(done), tf.int32)
        if stop_at_end:
            done = done | (emitted[:, 4] > 0)
        done = done | (steps_done >= limit)
        updates = {"rows": emitted}
        if record_steps:
            updates.update({"step_" + name: mixture[name] for name in STEP_ARRAYS})
            updates.update(step_input_x=point, step_state_out=new_state)
        buffers = {name: tf.tensor_scatter_nd_update(value, [[step]], updates[name][None])
                   for name, value in buffers.items()}
        return step + 1, emitted, new_state, steps_done, done, buffers

    _, point, state, steps_done, done, buffers = tf.while_loop(
        lambda step, point, state, steps_done, done, buffers: tf.logical_not(
            tf.reduce_all(done)),
        body, (tf.constant(0), point, state, steps_done, done, buffers),
        maximum_iterations=num_steps)
    result = {"rows": tf.transpose(buffers.pop("rows"), [1, 0, 2]), "state": state,
              "point": point, "steps_done": steps_done, "done": done}
    if record_steps:
        result["steps"] = {name[len("step_"):]: value for name, value in buffers.items()}
    return result


def end_lengths(rows):
    """Points before the first end-of-sketch row of each `[B, T, 5]` sketch (T if none):
    int32 `[B]`."""
    is_end = rows[:, :, 4] > 0
    return tf.where(tf.reduce_any(is_end, axis=1),
                    tf.argmax(tf.cast(is_end, tf.int32), axis=1, output_type=tf.int32),
                    tf.shape(rows)[1])
