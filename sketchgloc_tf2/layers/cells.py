"""The recurrent cells of SketchGloc (docs/differences.md#sg-3-2): one time step each.

Three cells reproduce the upstream equations literally: `LSTMCell`, `LayerNormLSTMCell` and
`HyperLSTMCell`. Gates are laid out in the order i, j, f, o (input gate, candidate, forget gate,
output gate); the forget bias 1.0 is added inside the sigmoid at run time and is never stored.
Each cell keeps its whole state in one tensor with the upstream layout:

* `LSTMCell`: `[c, h]` (width 2H), output h.
* `LayerNormLSTMCell`: `[h, c]` (width 2H), output h.
* `HyperLSTMCell`: `[h, h_hyp, c, c_hyp]` (width 2(H + H_hyp)), output h.

For speed the input half of every gate pre-activation is separated from the recurrent half:
`project_inputs(x)` may be applied to a whole sequence at once (one big matmul outside the time
loop) and `recurrent_step(projected, state, dropout_seed, weights)` performs the rest of one step.
`parameters()` reads every weight once as a tensor; `step_weights(params)` fuses what the step
needs, outside the time loop, so the loop body only captures loop-invariant tensors (reading
variables inside the body would make the gradient keep one copy of every weight per time step).
Every method also accepts such a `params` dict, so the math can be run on explicit tensors (the
stroke encoder recomputes chunks with `tf.recompute_grad`, which needs weights as inputs).
`call(inputs, states, training)` chains the two for a single step (Keras RNN-cell interface).
`recurrent_step` is itself split into the recurrent matmuls (`matmul_inputs(state)` times the
`MATMUL_KERNELS` of `step_weights`) and `pointwise_step` (everything else), which
`sketchgloc_tf2.layers.recurrence` differentiates separately.

Recurrent dropout ("without memory loss") is applied to `tanh(j)` only: a fresh Bernoulli mask
per element and time step with keep probability `recurrent_dropout_prob`, kept values divided by
that probability. It is active only when training and `use_recurrent_dropout` is set; inside the
time loop the mask comes from `hashed_uniform`, a stateless counter-based generator keyed by a seed
drawn from the cell's `SeedGenerator` plus the step index, so it also works (fast) under XLA.
"""

import keras
import tensorflow as tf

from sketchgloc_tf2.errors import SketchConfigError
from sketchgloc_tf2.hparams import CELL_TYPES as CELL_TYPE_NAMES
from sketch_common.hashed_random import hashed_uniform
from sketchgloc_tf2.layers.initializers import BlockOrthogonal
from sketchgloc_tf2.layers.recurrence import RecurrentCell
from sketchgloc_tf2.serialization import SERIALIZATION_PACKAGE
LAYER_NORM_EPSILON = 1e-3
HYPER_NORM_BLOCKS = ("ix", "jx", "fx", "ox", "ih", "jh", "fh", "oh")
HYPER_BIAS_BLOCKS = ("ih", "jh", "fh", "oh")
HYPER_ALPHA_INIT_GAMMA = 0.10
HYPER_ZB_STDDEV = 0.01


def layer_norm_blocks(values, num_blocks, gamma, beta):
    """Upstream `layer_norm_all` / `layer_norm`: normalise each of `num_blocks` column blocks.

    Args:
        values: `[B, num_blocks * H]` pre-activations.
        num_blocks: number of equal column blocks normalised separately (4 for gates, 1 for c).
        gamma: `[num_blocks * H]` scale.
        beta: `[num_blocks * H]` offset.

    Returns:
        `[B, num_blocks * H]`: per block `(v - mean) / sqrt(biased_var + 1e-3)`, then
        `gamma * . + beta`.
    """
    width = values.shape[-1]
    blocks = tf.reshape(values, [-1, num_blocks, width // num_blocks])
    mean = tf.reduce_mean(blocks, axis=2, keepdims=True)
    centred = blocks - mean
    variance = tf.reduce_mean(tf.square(centred), axis=2, keepdims=True)
    normalised = tf.reshape(centred * tf.math.rsqrt(variance + LAYER_NORM_EPSILON), [-1, width])
    return gamma * normalised + beta


class _RecurrentCell(RecurrentCell):
    """Shared parts of the three cells: weights by name, dropout on the candidate, config."""

    def __init__(
        self,
        units,
        use_recurrent_dropout=False,
        recurrent_dropout_prob=0.9,
        forget_bias=1.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = units
        self.use_recurrent_dropout = use_recurrent_dropout
        self.recurrent_dropout_prob = recurrent_dropout_prob
        self.forget_bias = forget_bias
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    @property
    def output_size(self):
        return self.units

    PARAMETER_NAMES = ()

    def parameters(self):
        """Every weight of the cell as a tensor, by attribute name (sub-cells: `hyper_cell/...`)."""
        return {name: tf.convert_to_tensor(getattr(self, name)) for name in self.PARAMETER_NAMES}

    def dropout_seed(self, training):
        """A fresh `[2]` int64 seed when dropout is active for this call, else None."""
        if training and self.use_recurrent_dropout:
            return self.seed_generator.next()
        return None

    def candidate(self, j, dropout_seed):
        """`tanh(j)` with inverted recurrent dropout (keep prob `recurrent_dropout_prob`)."""
        g = tf.tanh(j)
        if dropout_seed is None:
            return g
        keep = self.recurrent_dropout_prob
        uniform = hashed_uniform(tf.shape(g), dropout_seed, g.dtype)
        return g * (tf.floor(keep + uniform) / keep)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            use_recurrent_dropout=self.use_recurrent_dropout,
            recurrent_dropout_prob=self.recurrent_dropout_prob,
            forget_bias=self.forget_bias,
            seed=self.seed,
        )
        return config

    def _lstm_weights(self, input_dim, units, with_bias):
        self.W_xh = self.add_weight(
            name="W_xh", shape=(input_dim, 4 * units),
            initializer=keras.initializers.GlorotUniform(seed=self.seed),
        )
        self.W_hh = self.add_weight(
            name="W_hh", shape=(units, 4 * units), initializer=BlockOrthogonal(4, seed=self.seed)
        )
        if with_bias:
            self.bias = self.add_weight(name="bias", shape=(4 * units,), initializer="zeros")


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class LSTMCell(_RecurrentCell):
    """Vanilla LSTM (upstream `LSTMCell`); state `[c, h]`.

    `[i, j, f, o] = x W_xh + h W_hh + bias`; `c' = c sigmoid(f + 1) + sigmoid(i) tanh(j)`;
    `h' = tanh(c') sigmoid(o)`.

    Args:
        units: H, hidden units.
        use_recurrent_dropout: dropout on `tanh(j)` when training.
        recurrent_dropout_prob: KEEP probability of that dropout.
        forget_bias: added to the forget pre-activation inside the sigmoid (1.0 upstream).
        seed: seed of the initialisers and of the dropout generator.
    """

    PARAMETER_NAMES = ("W_xh", "W_hh", "bias")

    @property
    def state_size(self):
        return 2 * self.units

    def build(self, input_shape):
        self._lstm_weights(int(input_shape[-1]), self.units, with_bias=True)
        self.built = True

    @staticmethod
    def input_projection(params):
        """`(kernel [input_dim, 4H], bias [4H])` = `(W_xh, bias)`."""
        return params["W_xh"], params["bias"]

    def step_weights(self, params=None):
        """Tensors `recurrent_step` reads: `{"W_hh": [H, 4H]}`."""
        params = params or self.parameters()
        return {"W_hh": params["W_hh"]}

    MATMUL_KERNELS = ("W_hh",)

    def matmul_inputs(self, state):
        """`{"W_hh": h}` from the state `[c, h]`."""
        return {"W_hh": state[:, self.units:]}

    def pointwise_step(self, projected, products, state, dropout_seed, weights):
        """`projected [B, 4H]`, `products["W_hh"] = h W_hh [B, 4H]`, `state [B, 2H]` ->
        `(h' [B, H], [c', h'] [B, 2H])`."""
        c = state[:, :self.units]
        gates = projected + products["W_hh"]
        i, j, f, o = tf.split(gates, 4, axis=1)
        candidate = self.candidate(j, dropout_seed)
        new_c = c * tf.sigmoid(f + self.forget_bias) + tf.sigmoid(i) * candidate
        new_h = tf.tanh(new_c) * tf.sigmoid(o)
        return new_h, tf.concat([new_c, new_h], axis=1)

    def output_from_state(self, state):
        """h = second half of `[c, h]`."""
        return state[:, self.units:]


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class LayerNormLSTMCell(_RecurrentCell):
    """LSTM with per-gate layer norm and LN on c (upstream `LayerNormLSTMCell`); state `[h, c]`.

    No bias: `[i, j, f, o] = LN_all(x W_xh + h W_hh)`; `c' = c sigmoid(f + 1) + sigmoid(i) tanh(j)`;
    `h' = tanh(LN_c(c')) sigmoid(o)`. Layer norms use eps 1e-3 and the biased variance.

    Args: as `LSTMCell`.
    """

    PARAMETER_NAMES = ("W_xh", "W_hh", "ln_all_gamma", "ln_all_beta", "ln_c_gamma", "ln_c_beta")

    @property
    def state_size(self):
        return 2 * self.units

    def build(self, input_shape):
        self._lstm_weights(int(input_shape[-1]), self.units, with_bias=False)
        self._layer_norm_weights()
        self.built = True

    def _layer_norm_weights(self):
        units = self.units
        self.ln_all_gamma = self.add_weight(
            name="ln_all_gamma", shape=(4 * units,), initializer="ones")
        self.ln_all_beta = self.add_weight(
            name="ln_all_beta", shape=(4 * units,), initializer="zeros")
        self.ln_c_gamma = self.add_weight(name="ln_c_gamma", shape=(units,), initializer="ones")
        self.ln_c_beta = self.add_weight(name="ln_c_beta", shape=(units,), initializer="zeros")

    @staticmethod
    def input_projection(params):
        """`(kernel [input_dim, 4H], None)` = `(W_xh, None)`: no bias."""
        return params["W_xh"], None

    @staticmethod
    def layer_norm_weights(params):
        """The layer-norm entries of `params` (`ln_all_gamma`, `ln_all_beta`, `ln_c_*`)."""
        names = ("ln_all_gamma", "ln_all_beta", "ln_c_gamma", "ln_c_beta")
        return {name: params[name] for name in names}

    def step_weights(self, params=None):
        """Tensors `recurrent_step` reads: `W_hh [H, 4H]` and the layer-norm parameters."""
        params = params or self.parameters()
        return dict(self.layer_norm_weights(params), W_hh=params["W_hh"])

    MATMUL_KERNELS = ("W_hh",)
    ELEMENTWISE_WEIGHTS = ("ln_all_gamma", "ln_all_beta", "ln_c_gamma", "ln_c_beta")

    def matmul_inputs(self, state):
        """`{"W_hh": h}` from the state `[h, c]`."""
        return {"W_hh": state[:, :self.units]}

    def pointwise_step(self, projected, products, state, dropout_seed, weights):
        """`projected [B, 4H]`, `products["W_hh"] = h W_hh [B, 4H]`, `state [B, 2H]` ->
        `(h' [B, H], [h', c'] [B, 2H])`."""
        c = state[:, self.units:]
        new_h, new_c = self.update_from_preactivation(
            projected + products["W_hh"], c, weights, dropout_seed
        )
        return new_h, tf.concat([new_h, new_c], axis=1)

    def update_from_preactivation(self, preactivation, c, weights, dropout_seed=None):
        """Layer-normed gates from `[B, 4H]` (before LN) and the old c -> `(h', c')`.

        `weights` holds the layer-norm tensors (`layer_norm_weights()`).
        """
        gates = layer_norm_blocks(preactivation, 4, weights["ln_all_gamma"], weights["ln_all_beta"])
        i, j, f, o = tf.split(gates, 4, axis=1)
        candidate = self.candidate(j, dropout_seed)
        new_c = c * tf.sigmoid(f + self.forget_bias) + tf.sigmoid(i) * candidate
        normed_c = layer_norm_blocks(new_c, 1, weights["ln_c_gamma"], weights["ln_c_beta"])
        return tf.tanh(normed_c) * tf.sigmoid(o), new_c

    def output_from_state(self, state):
        """h = first half of `[h, c]`."""
        return state[:, :self.units]


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class HyperLSTMCell(LayerNormLSTMCell):
    """Layer-normed HyperLSTM (upstream `HyperLSTMCell`); state `[h, h_hyp, c, c_hyp]`.

    A `LayerNormLSTMCell(hyper_num_units)` without dropout reads `[x, h]` and its output `a`
    rescales each gate contribution ("hyper_norm"): for block n in (ix, jx, fx, ox, ih, jh, fh,
    oh), `alpha_n = (a zw_kernel[n] + zw_bias[n]) alpha_kernel[n]` multiplies that quarter of
    `x W_xh` (x blocks) or `h W_hh` (h blocks); h blocks also get
    `+ (a zb_kernel[m]) beta_kernel[m]` (m indexes ih, jh, fh, oh). Then gates = x part + h part
    + bias, per-gate LN, and the LayerNormLSTM update with LN on c.

    The hyper-norm weights of the eight blocks are stacked along axis 0 in the order of
    `HYPER_NORM_BLOCKS` (`hyper_zw_kernel [8, Hh, E]`, `hyper_zw_bias [8, E]`,
    `hyper_alpha_kernel [8, E, H]`) and of `HYPER_BIAS_BLOCKS` (`hyper_zb_kernel [4, Hh, E]`,
    `hyper_beta_kernel [4, E, H]`); TF1 name `hyper_<n>/zw/super_linear_w` is slice n.

    Args:
        units: H.
        use_recurrent_dropout, recurrent_dropout_prob, forget_bias, seed: as `LSTMCell`
            (dropout is never applied inside the hyper sub-cell).
        hyper_num_units: Hh, units of the hyper sub-cell (256 upstream).
        hyper_embedding_size: E, width of the hyper embeddings (32 upstream).
    """

    def __init__(self, units, hyper_num_units=256, hyper_embedding_size=32, **kwargs):
        super().__init__(units, **kwargs)
        self.hyper_num_units = hyper_num_units
        self.hyper_embedding_size = hyper_embedding_size
        self.hyper_cell = LayerNormLSTMCell(
            hyper_num_units, forget_bias=self.forget_bias, seed=self.seed, name="hyper_cell"
        )

    @property
    def state_size(self):
        return 2 * (self.units + self.hyper_num_units)

    def build(self, input_shape):
        input_dim = int(input_shape[-1])
        self.input_dim = input_dim
        self._lstm_weights(input_dim, self.units, with_bias=True)
        self.hyper_cell.build((None, input_dim + self.units))
        hyper, embed, units = self.hyper_num_units, self.hyper_embedding_size, self.units
        blocks, bias_blocks = len(HYPER_NORM_BLOCKS), len(HYPER_BIAS_BLOCKS)
        self.hyper_zw_kernel = self.add_weight(
            name="hyper_zw_kernel", shape=(blocks, hyper, embed), initializer="zeros")
        self.hyper_zw_bias = self.add_weight(
            name="hyper_zw_bias", shape=(blocks, embed), initializer="ones")
        self.hyper_alpha_kernel = self.add_weight(
            name="hyper_alpha_kernel", shape=(blocks, embed, units),
            initializer=keras.initializers.Constant(HYPER_ALPHA_INIT_GAMMA / embed))
        self.hyper_zb_kernel = self.add_weight(
            name="hyper_zb_kernel", shape=(bias_blocks, hyper, embed),
            initializer=keras.initializers.RandomNormal(stddev=HYPER_ZB_STDDEV, seed=self.seed))
        self.hyper_beta_kernel = self.add_weight(
            name="hyper_beta_kernel", shape=(bias_blocks, embed, units), initializer="zeros")
        self._layer_norm_weights()
        self.built = True

    PARAMETER_NAMES = LayerNormLSTMCell.PARAMETER_NAMES + (
        "bias", "hyper_zw_kernel", "hyper_zw_bias", "hyper_alpha_kernel", "hyper_zb_kernel",
        "hyper_beta_kernel")

    def parameters(self):
        """Own weights by attribute name, plus the hyper sub-cell's as `hyper_cell/<name>`."""
        params = super().parameters()
        params.update({f"hyper_cell/{name}": value
                       for name, value in self.hyper_cell.parameters().items()})
        return params

    @staticmethod
    def sub_parameters(params):
        """The hyper sub-cell's entries of `params`, without the `hyper_cell/` prefix."""
        prefix = "hyper_cell/"
        return {name[len(prefix):]: value for name, value in params.items()
                if name.startswith(prefix)}

    def input_projection(self, params):
        """`(kernel [input_dim, 4H + 4Hh], None)`: `[W_xh, W_xh_hyper[:input_dim]]`, no bias."""
        kernel = tf.concat([params["W_xh"], params["hyper_cell/W_xh"][: self.input_dim]], axis=1)
        return kernel, None

    def step_weights(self, params=None):
        """Loop-invariant tensors of one step, fused for few large matmuls.

        `h_kernel [H, 4Hh + 4H]` = `[W_xh_hyper[input_dim:], W_hh]` (both products of h);
        `z_kernel [Hh, 12E]` = the eight zw kernels then the four zb kernels side by side, and
        `z_bias [12E]` their offsets (the zw biases, zeros for zb), so one matmul gives all
        twelve hyper embeddings; `norm_kernel [12, E, H]` = the eight alpha then the four beta
        kernels, for one batched product; plus the hyper sub-cell's tensors under `hyper/...`
        and this cell's layer norms.
        """
        params = params or self.parameters()
        sub = self.sub_parameters(params)
        z_kernels = tf.concat([params["hyper_zw_kernel"], params["hyper_zb_kernel"]], axis=0)
        zb_width = len(HYPER_BIAS_BLOCKS) * self.hyper_embedding_size
        weights = dict(self.layer_norm_weights(params))
        weights.update({f"hyper/{name}": value
                        for name, value in self.layer_norm_weights(sub).items()})
        weights.update(
            h_kernel=tf.concat([sub["W_xh"][self.input_dim:], params["W_hh"]], axis=1),
            hyper_W_hh=sub["W_hh"],
            z_kernel=tf.reshape(tf.transpose(z_kernels, [1, 0, 2]), [self.hyper_num_units, -1]),
            z_bias=tf.concat([tf.reshape(params["hyper_zw_bias"], [-1]),
                              tf.zeros([zb_width], params["hyper_zw_bias"].dtype)], axis=0),
            norm_kernel=tf.concat([params["hyper_alpha_kernel"], params["hyper_beta_kernel"]],
                                  axis=0),
            bias=tf.reshape(params["bias"], [4, self.units]),
        )
        return weights

    MATMUL_KERNELS = ("h_kernel", "hyper_W_hh")
    ELEMENTWISE_WEIGHTS = LayerNormLSTMCell.ELEMENTWISE_WEIGHTS + tuple(
        f"hyper/{name}" for name in LayerNormLSTMCell.ELEMENTWISE_WEIGHTS) + ("z_bias", "bias")

    def matmul_inputs(self, state):
        """`{"h_kernel": h, "hyper_W_hh": h_hyp}` from the state `[h, h_hyp, c, c_hyp]`."""
        units, hyper = self.units, self.hyper_num_units
        return {"h_kernel": state[:, :units], "hyper_W_hh": state[:, units:units + hyper]}

    def pointwise_step(self, projected, products, state, dropout_seed, weights):
        """`projected [B, 4H + 4Hh]`, `products` (`h h_kernel [B, 4Hh + 4H]`,
        `h_hyp hyper_W_hh [B, 4Hh]`), `state [B, 2(H + Hh)]` -> `(h' [B, H], new state)`."""
        units, hyper = self.units, self.hyper_num_units
        embed = self.hyper_embedding_size
        blocks, bias_blocks = len(HYPER_NORM_BLOCKS), len(HYPER_BIAS_BLOCKS)
        _, _, c, c_hyp = tf.split(state, [units, hyper, units, hyper], axis=1)
        x_part, hyper_x_part = tf.split(projected, [4 * units, 4 * hyper], axis=1)
        hyper_h_part, hh = tf.split(products["h_kernel"], [4 * hyper, 4 * units], axis=1)
        hyper_pre = hyper_x_part + hyper_h_part + products["hyper_W_hh"]
        sub_weights = {name[len("hyper/"):]: value for name, value in weights.items()
                       if name.startswith("hyper/")}
        new_h_hyp, new_c_hyp = self.hyper_cell.update_from_preactivation(
            hyper_pre, c_hyp, sub_weights)

        embeddings = tf.reshape(
            tf.matmul(new_h_hyp, weights["z_kernel"]) + weights["z_bias"],
            [-1, blocks + bias_blocks, embed])
        scales = tf.einsum("bne,neu->bnu", embeddings, weights["norm_kernel"])
        # Split, not sliced: the gradient is one concatenation instead of three zero-padded
        # copies of the [B, 12, H] scales summed in the time loop.
        x_scales, h_scales, h_offsets = tf.split(scales, [4, blocks - 4, bias_blocks], axis=1)
        x_blocks = tf.reshape(x_part, [-1, 4, units]) * x_scales
        h_blocks = tf.reshape(hh, [-1, 4, units]) * h_scales + h_offsets
        gates = x_blocks + h_blocks + weights["bias"]
        new_h, new_c = self.update_from_preactivation(
            tf.reshape(gates, [-1, 4 * units]), c, weights, dropout_seed
        )
        new_state = tf.concat([new_h, new_h_hyp, new_c, new_c_hyp], axis=1)
        return new_h, new_state

    def output_from_state(self, state):
        """h = first H entries of `[h, h_hyp, c, c_hyp]`."""
        return state[:, :self.units]

    def get_config(self):
        config = super().get_config()
        config.update(
            hyper_num_units=self.hyper_num_units,
            hyper_embedding_size=self.hyper_embedding_size,
        )
        return config


CELL_TYPES = dict(zip(CELL_TYPE_NAMES, (LSTMCell, LayerNormLSTMCell, HyperLSTMCell)))


def make_cell(model_type, units, **kwargs):
    """The cell upstream selects with `enc_model` / `dec_model` ('lstm', 'layer_norm', 'hyper')."""
    if model_type not in CELL_TYPES:
        raise SketchConfigError(
            f"unknown cell type {model_type!r}; choose one of {', '.join(CELL_TYPES)}"
        )
    return CELL_TYPES[model_type](units, **kwargs)
