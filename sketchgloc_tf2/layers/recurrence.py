"""The time loop of SketchGloc's recurrent cells, with an optional fused (lean) gradient.

`run_recurrences` runs one or several independent cells side by side over time in a single
`tf.while_loop`. Differentiated by plain autodiff, that loop keeps every intermediate of every
step for the backward pass and adds each step's share of every weight gradient as it goes.
With `fused_gradient=True` the loop gets a hand-written backward pass (`tf.custom_gradient`)
instead:

* the forward pass stores only each step's input state and its recurrent matmul products;
* the backward pass walks the steps in reverse, recomputes each step's pointwise part from those
  (`cell.pointwise_step`, differentiated locally), and pushes the state gradient back through
  the recurrent kernels with one matmul by their transposes;
* the gradients of the recurrent kernels are formed once, after the loop, as one large
  `states^T @ d_products` matmul over all steps and rows, instead of one small matmul per step;
* the weights a cell uses only element-wise (`ELEMENTWISE_WEIGHTS`: layer-norm gains and
  offsets, biases) are differentiated per row, `[B, ...]`, and summed over the rows once after
  the loop, so no step reduces over the batch for them.

The two gradients agree to float32 rounding; the fused one needs a fraction of the memory and
time. Dropout masks are recomputed from the same counter-based seeds, so they match exactly.

`RecurrentCell` writes down what a cell must provide for this: the split of one step into an
input projection (applied outside the loop), the recurrent matmuls (`MATMUL_KERNELS`) and a
pointwise rest.
"""

import abc

import keras
import tensorflow as tf


class RecurrentCell(keras.layers.Layer, metaclass=abc.ABCMeta):
    """One time step of a recurrent cell, split as `run_recurrences` needs it.

    Sizes: B rows, I input width, P projected input width, S `state_size`, H `output_size`.
    A step on input `x [B, I]` and state `[B, S]` is

    1. `projected = x @ kernel (+ bias)` with `(kernel, bias) = input_projection(params)`
       (`project_inputs`; may run on a whole sequence at once, outside the time loop);
    2. `products[name] = matmul_inputs(state)[name] @ weights[name]` for every name in
       `MATMUL_KERNELS`, with `weights = step_weights(params)` (the only matmuls that involve
       the state: the fused gradient forms their kernel gradients after the loop);
    3. `pointwise_step(projected, products, state, dropout_seed, weights)` -> `(output [B, H],
       new_state [B, S])`, everything else (differentiated locally step by step).

    `params` is `parameters()`: every weight read once as a tensor, so the loop body captures
    loop-invariant tensors only and the math can run on explicit tensors. `recurrent_step`
    chains 2 and 3; `call` chains 1 to 3 (Keras RNN-cell interface).

    Attributes:
        MATMUL_KERNELS: names of the `step_weights` entries multiplied by `matmul_inputs`.
        ELEMENTWISE_WEIGHTS: names of the `step_weights` entries `pointwise_step` uses only in
            element-wise operations, so that it gives the same result when each is given
            broadcast to `[B, ...]` (one copy per row).
    """

    MATMUL_KERNELS = ()
    ELEMENTWISE_WEIGHTS = ()

    @property
    @abc.abstractmethod
    def state_size(self):
        """S, the width of the whole state tensor."""

    @property
    @abc.abstractmethod
    def output_size(self):
        """H, the width of each step's output."""

    @abc.abstractmethod
    def parameters(self):
        """Every weight as a tensor: dict name -> tensor (sub-layers' entries prefixed)."""

    @abc.abstractmethod
    def input_projection(self, params):
        """The input part of a step: `(kernel [I, P], bias [P] or None)` from `params`."""

    @abc.abstractmethod
    def step_weights(self, params=None):
        """Loop-invariant tensors of a step (dict), computed once from `params` (read here
        when None); holds at least the `MATMUL_KERNELS` entries, each `[width_k, N_k]`."""

    @abc.abstractmethod
    def matmul_inputs(self, state):
        """`state [B, S]` -> dict name -> `[B, width_k]`, one per name of `MATMUL_KERNELS`."""

    @abc.abstractmethod
    def pointwise_step(self, projected, products, state, dropout_seed, weights):
        """The rest of a step.

        Args:
            projected: `[B, P]` projected input.
            products: dict name -> `[B, N_k]`, `matmul_inputs(state)[name] @ weights[name]`.
            state: `[B, S]`.
            dropout_seed: `[2]` int64 seed of this step's dropout masks, or None (no dropout).
            weights: `step_weights()`.

        Returns:
            `(output [B, H], new_state [B, S])`.
        """

    @abc.abstractmethod
    def dropout_seed(self, training):
        """A fresh `[2]` int64 seed when this call applies dropout, else None."""

    def get_initial_state(self, batch_size=None):
        """Zero state `[batch_size, S]` in a one-element list (Keras RNN-cell style)."""
        return [tf.zeros([batch_size, self.state_size], dtype=self.compute_dtype)]

    def project_inputs(self, inputs, params=None):
        """`[..., I]` -> `[..., P]` = `inputs @ kernel (+ bias)` (`input_projection`)."""
        kernel, bias = self.input_projection(params or self.parameters())
        projected = project_last_axis(inputs, kernel)
        return projected if bias is None else projected + bias

    def recurrent_step(self, projected, state, dropout_seed=None, weights=None):
        """One step after the input projection: steps 2 and 3 of the class docstring.

        Args:
            projected: `[B, P]`, `project_inputs` of this step's input.
            state: `[B, S]`.
            dropout_seed: `[2]` int64 seed of this step's dropout masks, or None (no dropout).
            weights: `step_weights()` (read here when None).

        Returns:
            `(output [B, H], new_state [B, S])`.
        """
        weights = weights or self.step_weights()
        products = {name: tf.matmul(value, weights[name])
                    for name, value in self.matmul_inputs(state).items()}
        return self.pointwise_step(projected, products, state, dropout_seed, weights)

    def call(self, inputs, states, training=None):
        """One time step.

        Args:
            inputs: `[B, I]`.
            states: `[B, S]` tensor or a one-element list of it.
            training: enables the cell's dropout, if any.

        Returns:
            `(output [B, H], [new_state [B, S]])`.
        """
        state = states[0] if isinstance(states, (list, tuple)) else states
        params = self.parameters()
        output, new_state = self.recurrent_step(
            self.project_inputs(inputs, params), state, self.dropout_seed(training),
            self.step_weights(params))
        return output, [new_state]


def project_last_axis(inputs, weights):
    """`inputs [..., I] @ weights [I, O]` -> `[..., O]` as one 2-D matmul."""
    if inputs.shape.rank == 2:
        return tf.matmul(inputs, weights)
    flat = tf.reshape(inputs, [-1, inputs.shape[-1]])
    out_shape = tf.concat([tf.shape(inputs)[:-1], [weights.shape[-1]]], axis=0)
    result = tf.reshape(tf.matmul(flat, weights), out_shape)
    result.set_shape(inputs.shape[:-1].concatenate([weights.shape[-1]]))
    return result


def _step_seed(seed, step):
    """The dropout seed of one time step (None stays None)."""
    if seed is None:
        return None
    return seed + tf.stack([tf.constant(0, tf.int64), tf.cast(step, tf.int64)])


def _masked(new_state, state, step, lengths):
    """`new_state` for the rows with `step < lengths`, the old state for the others."""
    if lengths is None:
        return new_state
    return tf.where((step < lengths)[:, None], new_state, state)


def _step_input(sequence, step, projection):
    """Step `step` of a time-major sequence, projected by `(kernel, offset)` when given."""
    value = tf.gather(sequence, step)
    if projection is None:
        return value
    kernel, offset = projection
    return tf.matmul(value, kernel) + offset


def _num_steps(sequence):
    """T of a time-major `[T, ...]` tensor (a Python int when static)."""
    num_steps = sequence.shape[0]
    return tf.shape(sequence)[0] if num_steps is None else num_steps


def _plain_recurrences(cells, inputs, initial_states, lengths, dropout_seeds, return_outputs,
                       stop, step_weights, projections):
    """The loop differentiated by autodiff (see `run_recurrences`)."""
    num_steps = _num_steps(inputs[0])
    outputs = [
        tf.TensorArray(state.dtype, size=num_steps if return_outputs else 0,
                       element_shape=tf.TensorShape([state.shape[0], cell.output_size]))
        for cell, state in zip(cells, initial_states)
    ]

    def body(step, states, arrays):
        new_states, new_arrays = [], []
        for k, cell in enumerate(cells):
            output, new_state = cell.recurrent_step(
                _step_input(inputs[k], step, projections[k]), states[k],
                _step_seed(dropout_seeds[k], step), step_weights[k])
            new_states.append(_masked(new_state, states[k], step, lengths))
            new_arrays.append(arrays[k].write(step, output) if return_outputs else arrays[k])
        return step + 1, new_states, new_arrays

    _, final_states, arrays = tf.while_loop(
        lambda step, *_: step < stop, body, (tf.constant(0), list(initial_states), outputs),
        maximum_iterations=num_steps)
    return list(final_states), [array.stack() for array in arrays] if return_outputs else []


def _fused_recurrences(cells, sequences, initial_states, lengths, dropout_seeds, return_outputs,
                       stop, step_weights, projections, input_gradients):
    """The loop with the hand-written backward pass (see the module docstring)."""
    num_cells = len(cells)
    weight_names = [sorted(weights) for weights in step_weights]
    kernel_names = [cell.MATMUL_KERNELS for cell in cells]
    flat_weights = [weights[name] for weights, names in zip(step_weights, weight_names)
                    for name in names]
    projected_cells = [k for k, projection in enumerate(projections) if projection is not None]
    flat_projections = [value for k in projected_cells for value in projections[k]]

    def unflatten(flat):
        weights, position = [], 0
        for names in weight_names:
            weights.append(dict(zip(names, flat[position:position + len(names)])))
            position += len(names)
        cell_projections = [None] * num_cells
        for k in projected_cells:
            cell_projections[k] = tuple(flat[position:position + 2])
            position += 2
        return weights, cell_projections

    @tf.custom_gradient
    def recurrence(*flat):
        inputs = list(flat[:num_cells])
        initial = list(flat[num_cells:2 * num_cells])
        weights, projection = unflatten(flat[2 * num_cells:])
        num_steps = _num_steps(inputs[0])

        def array(shape, dtype=tf.float32, size=num_steps):
            return tf.TensorArray(dtype, size=size, element_shape=tf.TensorShape(shape))

        state_arrays = [array(state.shape) for state in initial]
        product_arrays = [
            [array([state.shape[0], weights[k][name].shape[1]]) for name in kernel_names[k]]
            for k, state in enumerate(initial)]
        output_arrays = [array([state.shape[0], cell.output_size],
                               size=num_steps if return_outputs else 0)
                         for cell, state in zip(cells, initial)]

        def forward_body(step, states, stored_states, stored_products, stored_outputs):
            new_states = []
            for k, cell in enumerate(cells):
                state = states[k]
                products = {name: tf.matmul(value, weights[k][name])
                            for name, value in cell.matmul_inputs(state).items()}
                output, new_state = cell.pointwise_step(
                    _step_input(inputs[k], step, projection[k]), products, state,
                    _step_seed(dropout_seeds[k], step), weights[k])
                new_states.append(_masked(new_state, state, step, lengths))
                stored_states[k] = stored_states[k].write(step, state)
                stored_products[k] = [
                    stored.write(step, products[name])
                    for stored, name in zip(stored_products[k], kernel_names[k])]
                if return_outputs:
                    stored_outputs[k] = stored_outputs[k].write(step, output)
            return step + 1, new_states, stored_states, stored_products, stored_outputs

        _, final_states, state_arrays, product_arrays, output_arrays = tf.while_loop(
            lambda step, *_: step < stop, forward_body,
            (tf.constant(0), initial, state_arrays, product_arrays, output_arrays),
            maximum_iterations=num_steps)
        stored_states = [stored.stack() for stored in state_arrays]
        stored_products = [[stored.stack() for stored in arrays] for arrays in product_arrays]
        outputs = [stored.stack() for stored in output_arrays] if return_outputs else []

        def gradient(*upstream):
            d_final = list(upstream[:num_cells])
            d_outputs = list(upstream[num_cells:]) if return_outputs else [None] * num_cells
            d_final = [tf.zeros_like(s) if d is None else d for d, s in zip(d_final, initial)]
            small_names = [[name for name in names if name not in kernel_names[k]]
                           for k, names in enumerate(weight_names)]
            row_names = [set(cell.ELEMENTWISE_WEIGHTS) for cell in cells]

            def small_sources(k):
                """The small weights of cell k as the backward pass differentiates them: the
                element-wise ones broadcast to one copy per row."""
                rows = tf.shape(initial[k])[:1]
                return [tf.broadcast_to(weights[k][name], tf.concat(
                    [rows, tf.shape(weights[k][name])], axis=0))
                        if name in row_names[k] else weights[k][name]
                        for name in small_names[k]]

            row_sources = [small_sources(k) for k in range(num_cells)]
            d_small = [[tf.zeros_like(value) for value in cell_sources]
                       for cell_sources in row_sources]
            written = [projection[k] is None or input_gradients for k in range(num_cells)]
            d_inputs = [array(x.shape[1:], size=num_steps if written[k] else 0)
                        for k, x in enumerate(inputs)]
            d_products = [[array(p.shape[1:]) for p in products] for products in stored_products]
            d_projections = [[] if pair is None else [tf.zeros_like(value) for value in pair]
                             for pair in projection]

            def backward_body(index, d_states, d_small, d_projections, d_inputs, d_products):
                step = stop - 1 - index
                new_d_states, new_d_small, new_d_projections = [], [], []
                for k, cell in enumerate(cells):
                    x = _step_input(inputs[k], step, projection[k])
                    state = tf.gather(stored_states[k], step)
                    products = {name: tf.gather(stored, step)
                                for name, stored in zip(kernel_names[k], stored_products[k])}
                    small = row_sources[k]
                    row_weights = dict(weights[k], **dict(zip(small_names[k], small)))
                    with tf.GradientTape(persistent=True) as tape:
                        tape.watch([x, state, *products.values(), *small])
                        output, new_state = cell.pointwise_step(
                            x, products, state, _step_seed(dropout_seeds[k], step), row_weights)
                        new_state = _masked(new_state, state, step, lengths)
                        matmul_inputs = cell.matmul_inputs(state)
                    targets, seeds = [new_state], [d_states[k]]
                    if d_outputs[k] is not None:
                        targets.append(output)
                        seeds.append(tf.gather(d_outputs[k], step))
                    sources = [x, state, *products.values(), *small]
                    grads = tape.gradient(targets, sources, output_gradients=seeds,
                                          unconnected_gradients=tf.UnconnectedGradients.ZERO)
                    d_x, d_state, *rest = grads
                    d_product = rest[:len(products)]
                    d_matmul_inputs = [
                        tf.matmul(d, weights[k][name], transpose_b=True)
                        for d, name in zip(d_product, kernel_names[k])]
                    d_state += tape.gradient(
                        [matmul_inputs[name] for name in kernel_names[k]], state,
                        output_gradients=d_matmul_inputs,
                        unconnected_gradients=tf.UnconnectedGradients.ZERO)
                    del tape
                    new_d_states.append(d_state)
                    new_d_small.append([a + b for a, b in zip(d_small[k], rest[len(products):])])
                    if projection[k] is None:
                        new_d_projections.append([])
                        d_inputs[k] = d_inputs[k].write(step, d_x)
                    else:
                        kernel, _ = projection[k]
                        d_kernel, d_offset = d_projections[k]
                        new_d_projections.append([
                            d_kernel + tf.matmul(tf.gather(inputs[k], step), d_x,
                                                 transpose_a=True),
                            d_offset + d_x])
                        if input_gradients:
                            d_inputs[k] = d_inputs[k].write(
                                step, tf.matmul(d_x, kernel, transpose_b=True))
                    d_products[k] = [stored.write(step, d)
                                     for stored, d in zip(d_products[k], d_product)]
                return (index + 1, new_d_states, new_d_small, new_d_projections, d_inputs,
                        d_products)

            _, d_initial, d_small, d_projections, d_inputs, d_products = tf.while_loop(
                lambda index, *_: index < stop, backward_body,
                (tf.constant(0), d_final, d_small, d_projections, d_inputs, d_products),
                maximum_iterations=num_steps)
            d_weights = []
            for k, cell in enumerate(cells):
                flat_states = tf.reshape(stored_states[k], [-1, initial[k].shape[-1]])
                matmul_inputs = cell.matmul_inputs(flat_states)
                by_name = {name: tf.reduce_sum(d, axis=0) if name in row_names[k] else d
                           for name, d in zip(small_names[k], d_small[k])}
                for name, stored in zip(kernel_names[k], d_products[k]):
                    d_product = stored.stack()
                    by_name[name] = tf.matmul(
                        matmul_inputs[name], tf.reshape(d_product, [-1, d_product.shape[-1]]),
                        transpose_a=True)
                d_weights.extend(by_name[name] for name in weight_names[k])
            d_sequences = [stored.stack() if written[k] else tf.zeros_like(inputs[k])
                           for k, stored in enumerate(d_inputs)]
            return (d_sequences + list(d_initial) + d_weights
                    + [value for k in projected_cells for value in d_projections[k]])

        return list(final_states) + outputs, gradient

    results = recurrence(*sequences, *initial_states, *flat_weights, *flat_projections)
    return list(results[:num_cells]), list(results[num_cells:])


def run_recurrences(cells, inputs, initial_states, lengths=None, dropout_seeds=None,
                    return_outputs=False, active_steps=None, params=None, fused_gradient=False,
                    input_projections=None, input_gradients=True):
    """Runs independent recurrences side by side over time in one `tf.while_loop`.

    Args:
        cells: list of `RecurrentCell`s.
        inputs: list of time-major `[T, B, P_k]` input projections (`cell.project_inputs`), or
            of raw `[T, B, I_k]` inputs for the cells that have an `input_projections` entry.
        initial_states: list of `[B, S_k]` states.
        lengths: optional `[B]` int32; a row's state stops changing after `lengths[b]` steps
            (lengths are expected in [0, T]).
        dropout_seeds: optional list of `[2]` int64 seeds or None per cell (None: no dropout).
        return_outputs: also stack each cell's per-step output.
        active_steps: optional int32 scalar <= T: stop after this many steps (for final states
            only, when every length is at most `active_steps`; not with `return_outputs`).
        params: optional list of per-cell `parameters()` dicts (read from the cells otherwise).
        fused_gradient: differentiate with the lean hand-written backward pass (module
            docstring) instead of plain autodiff; same results, same gradients.
        input_projections: optional list, per cell, of None or `(kernel [I_k, P_k], offset
            [B, P_k])`: that cell's step input is then `inputs[k][t] @ kernel + offset`,
            computed inside the loop (saves materialising `[T, B, P_k]` when the input is
            narrow and a per-sequence part of it is constant, as the decoder's z).
        input_gradients: False: the raw inputs of the cells with an `input_projections` entry
            are data (stroke points) and get no gradient, which saves the fused backward pass
            one matmul per step.

    Returns:
        `(final_states, outputs)`: list of `[B, S_k]`; list of time-major `[T, B, H_k]` (empty
        when `return_outputs` is False).
    """
    num_steps = _num_steps(inputs[0])
    dropout_seeds = dropout_seeds or [None] * len(cells)
    params = params or [cell.parameters() for cell in cells]
    projections = input_projections or [None] * len(cells)
    if not input_gradients:
        inputs = [value if projection is None else tf.stop_gradient(value)
                  for value, projection in zip(inputs, projections)]
    step_weights = [cell.step_weights(cell_params) for cell, cell_params in zip(cells, params)]
    stop = num_steps if active_steps is None else tf.minimum(active_steps, num_steps)
    arguments = (cells, inputs, initial_states, lengths, dropout_seeds, return_outputs, stop,
                 step_weights, projections)
    if fused_gradient:
        return _fused_recurrences(*arguments, input_gradients)
    return _plain_recurrences(*arguments)
