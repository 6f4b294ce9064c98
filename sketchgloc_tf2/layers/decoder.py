"""The SketchGloc decoder (docs/differences.md#sg-3): z -> initial state, a recurrent cell, the
mixture head.

A step reads the previous stroke-5 point (absolute x, y, one-hot pen) and z: the cell's input is
`concat(point, z)` (width 5 + Z); its output goes through `output_layer` to the `3 + 6K`
mixture outputs (`layers.mixture.split_mixture`). The cell's input projection is split into a
per-step point part and a per-sketch z part (`split_input_projection`), so the time loops
(teacher forcing, sampling) project 5-wide points per step and z once per sketch.
"""

import keras
import tensorflow as tf

from sketchgloc_tf2.layers.cells import make_cell
from sketchgloc_tf2.layers.fc_net import fc_net
from sketchgloc_tf2.layers.mixture import output_width, split_mixture
from sketchgloc_tf2.layers.recurrence import run_recurrences
from sketchgloc_tf2.serialization import SERIALIZATION_PACKAGE

POINT_WIDTH = 5


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class Decoder(keras.layers.Layer):
    """HyperLSTM (or LSTM) decoder of stroke-5 points conditioned on a latent code.

    State0 = tanh(init_state(z)); step input = concat(point, z); `output_layer` maps the cell
    output to the mixture. Sizes: B sketches, T steps, Z `latent_size`, H `units`, S
    `state_size`, K `num_mixture_components`.

    Args:
        cell_type: 'lstm', 'layer_norm' or 'hyper' (upstream `dec_model`).
        units: H, the cell's hidden units (upstream `dec_rnn_size`).
        latent_size: Z, width of z (upstream `z_size`).
        num_mixture_components: K, bivariate normals of the position mixture.
        use_recurrent_dropout: recurrent dropout in the cell when training.
        recurrent_dropout_prob: KEEP probability of the recurrent dropout.
        use_input_dropout: dropout on the cell inputs `concat(point, z)` when training.
        input_dropout_prob: KEEP probability of the input dropout.
        use_output_dropout: dropout on the cell outputs when training.
        output_dropout_prob: KEEP probability of the output dropout.
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).
    """

    def __init__(
        self,
        cell_type,
        units,
        latent_size,
        num_mixture_components,
        use_recurrent_dropout=False,
        recurrent_dropout_prob=0.9,
        use_input_dropout=False,
        input_dropout_prob=0.9,
        use_output_dropout=False,
        output_dropout_prob=0.9,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # === Layers ===
        self.cell = make_cell(
            cell_type, units, name="decoder_cell", use_recurrent_dropout=use_recurrent_dropout,
            recurrent_dropout_prob=recurrent_dropout_prob)
        self.init_state = fc_net(self.cell.state_size, latent_size, "init_state", "tanh")
        self.output_layer = fc_net(output_width(num_mixture_components), units, "output_layer")

        # === Config ===
        self.cell_type = cell_type
        self.units = units
        self.latent_size = latent_size
        self.num_mixture_components = num_mixture_components
        self.use_recurrent_dropout = use_recurrent_dropout
        self.recurrent_dropout_prob = recurrent_dropout_prob
        self.use_input_dropout = use_input_dropout
        self.input_dropout_prob = input_dropout_prob
        self.use_output_dropout = use_output_dropout
        self.output_dropout_prob = output_dropout_prob

    def build(self, input_shape=None):
        self.cell.build((None, POINT_WIDTH + self.latent_size))
        self.init_state.build((None, self.latent_size))
        self.output_layer.build((None, self.units))
        self.built = True

    @property
    def state_size(self):
        """S, width of the decoder state."""
        return self.cell.state_size

    def initial_state(self, z):
        """`z [B, Z]` -> state `[B, S]` = tanh(init_state(z))."""
        return self.init_state(z)

    def mixture(self, cell_outputs):
        """Cell outputs `[N, H]` -> the mixture dict of `split_mixture` (`pi`, `mux`, `muy`,
        `sigmax`, `sigmay`, `corr` `[N, K]`, `pen_logits`, `pen` `[N, 3]`) plus
        `dec_fc_out [N, 3+6K]`."""
        fc_out = self.output_layer(cell_outputs)
        outputs = split_mixture(fc_out, self.num_mixture_components)
        outputs["dec_fc_out"] = fc_out
        return outputs

    def split_input_projection(self, z, params=None):
        """The cell's input projection split into its point and its constant z part.

        `concat(point, z) @ kernel (+ bias)` = `point @ kernel[:5] + offset` with
        `offset = z @ kernel[5:] (+ bias)`.

        Args:
            z: `[B, Z]`.
            params: the cell's `parameters()` (read here when None).

        Returns:
            `(point_kernel [5, P], offset [B, P])`, as `run_recurrences(input_projections=...)`
            takes them.
        """
        kernel, bias = self.cell.input_projection(params or self.cell.parameters())
        offset = tf.matmul(z, kernel[POINT_WIDTH:])
        return kernel[:POINT_WIDTH], offset if bias is None else offset + bias

    def teacher_forced(self, input_seqs, z, training=False, seed_generator=None, lengths=None):
        """Decodes `input_seqs[:, :T]` step by step (teacher forcing) conditioned on z.

        Args:
            input_seqs: `[B, T+1, 5]` stroke-5 rows (absolute x, y), row 0 the start token.
            z: `[B, Z]` latent code.
            training: the dropouts enabled in the config (and the fused gradient).
            seed_generator: `keras.random.SeedGenerator` of the input and output dropout masks;
                needed only when training with either of them.
            lengths: optional int32 `[B]`: sketch b's state stops changing after `lengths[b]`
                steps, so `final_state` is the state after its first `lengths[b]` inputs.

        Returns:
            Dict: the `mixture` tensors `[B*T, .]` (rows b*T + t) and `initial_state`,
            `final_state` `[B, S]`.
        """
        input_seqs = tf.convert_to_tensor(input_seqs, dtype=self.compute_dtype)
        z = tf.convert_to_tensor(z, dtype=self.compute_dtype)
        points = input_seqs[:, :-1]
        initial_state = self.initial_state(z)
        params = self.cell.parameters()
        if training and self.use_input_dropout:
            z_per_step = tf.tile(z[:, None, :], [1, tf.shape(points)[1], 1])
            cell_inputs = keras.random.dropout(
                tf.concat([points, z_per_step], axis=2), 1.0 - self.input_dropout_prob,
                seed=seed_generator)
            sequence = tf.transpose(self.cell.project_inputs(cell_inputs, params), [1, 0, 2])
            projection = None
        else:
            sequence = tf.transpose(points, [1, 0, 2])
            projection = self.split_input_projection(z, params)
        (final_state,), (cell_outputs,) = run_recurrences(
            [self.cell], [sequence], [initial_state], lengths=lengths,
            dropout_seeds=[self.cell.dropout_seed(training)], return_outputs=True,
            params=[params], fused_gradient=bool(training), input_projections=[projection],
            input_gradients=False)
        cell_outputs = tf.reshape(tf.transpose(cell_outputs, [1, 0, 2]), [-1, self.units])
        if training and self.use_output_dropout:
            cell_outputs = keras.random.dropout(
                cell_outputs, 1.0 - self.output_dropout_prob, seed=seed_generator)
        outputs = self.mixture(cell_outputs)
        outputs["initial_state"] = initial_state
        outputs["final_state"] = final_state
        return outputs

    def step(self, point, state, z):
        """One evaluation-mode step.

        Args:
            point: `[B, 5]` previous stroke-5 point (absolute x, y).
            state: `[B, S]`.
            z: `[B, Z]`.

        Returns:
            `(mixture, new_state)`: the `mixture` dict (`[B, .]` tensors) and `[B, S]`.
        """
        cell_input = tf.concat([tf.convert_to_tensor(point, self.compute_dtype),
                                tf.convert_to_tensor(z, self.compute_dtype)], axis=1)
        output, new_state = self.cell.recurrent_step(
            self.cell.project_inputs(cell_input), tf.convert_to_tensor(state, self.compute_dtype))
        return self.mixture(output), new_state

    def step_function(self, z):
        """`step` for a fixed z, with every loop-invariant product computed once.

        The z part of the input projection (`split_input_projection`) and the cell's
        `step_weights` are computed here, outside the caller's time loop. Numerically this is
        `step` up to the summation order of the input projection.

        Args:
            z: `[B, Z]`.

        Returns:
            `step(point [B, 5], state [B, S]) -> (mixture, new_state [B, S])`.
        """
        params = self.cell.parameters()
        point_kernel, z_projection = self.split_input_projection(z, params)
        weights = self.cell.step_weights(params)

        def step(point, state):
            projected = z_projection + tf.matmul(point, point_kernel)
            output, new_state = self.cell.recurrent_step(projected, state, None, weights)
            return self.mixture(output), new_state

        return step

    def call(self, input_seqs, z, training=False, seed_generator=None, lengths=None):
        """`teacher_forced(input_seqs, z, training, seed_generator, lengths)`."""
        return self.teacher_forced(input_seqs, z, training, seed_generator, lengths)

    def get_config(self):
        config = super().get_config()
        config.update(
            cell_type=self.cell_type,
            units=self.units,
            latent_size=self.latent_size,
            num_mixture_components=self.num_mixture_components,
            use_recurrent_dropout=self.use_recurrent_dropout,
            recurrent_dropout_prob=self.recurrent_dropout_prob,
            use_input_dropout=self.use_input_dropout,
            input_dropout_prob=self.input_dropout_prob,
            use_output_dropout=self.use_output_dropout,
            output_dropout_prob=self.output_dropout_prob,
        )
        return config
