"""The SketchGloc model (spec §3): stroke-graph encoder, latent heads, HyperLSTM decoder, loss.

Batches are dicts with the keys of the reference bundles' `feeds.npz`:

* `input_seqs [B, T+1, 5]`: stroke-5 rows with absolute x, y; row 0 is the start token.
* `input_strokes [B*N, L, 2]`: node rows (absolute points), zero padded.
* `input_stroke_len [B*N]` int32, `input_strokes_num [B]` int32.
* `input_box [B, N, N, 9]`: nine relation graphs between the nodes.

Weights depend only on He, Z, Hd, K and the cell types, so one model serves any B, T, L, N.
"""

import math

import keras
import tensorflow as tf

from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2.layers.batch_norm import FusedBatchNorm
from sketchgloc_tf2.layers.cells import SERIALIZATION_PACKAGE, make_cell
from sketchgloc_tf2.layers.mixture import output_width, reconstruction_loss, split_mixture
from sketchgloc_tf2.layers.recurrence import run_recurrences
from sketchgloc_tf2.layers.relation_gcn import RelationGCN
from sketchgloc_tf2.layers.stroke_encoder import StrokeEncoder

POINT_WIDTH = 5
BATCH_KEYS = ("input_seqs", "input_strokes", "input_stroke_len", "input_strokes_num", "input_box")


def _linear(units, fan_in, name, activation=None):
    """Upstream `FcNet` layer: kernel N(0, 2/fan_in), bias 0."""
    return keras.layers.Dense(
        units,
        activation=activation,
        kernel_initializer=keras.initializers.RandomNormal(stddev=math.sqrt(2.0 / fan_in)),
        bias_initializer="zeros",
        name=name,
    )


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class SketchGlocModel(keras.Model):
    """SketchGloc encoder-decoder.

    Encoder: `StrokeEncoder` -> `RelationGCN` -> `FusedBatchNorm` -> tanh -> `fc_mu`, `fc_sigma2`.
    Latent: `z = p_mu + exp(p_sigma2 / 2) eps` when training, `z = p_mu` in evaluation.
    Decoder: state0 = tanh(init_state(z)); step input = concat(point (5), z); the `dec_model`
    cell over T steps with teacher forcing; `output_layer` to `3 + 6K` mixture outputs.

    Args:
        hparams: `HParams` (or a dict of hparams, as in `model_config.json`).
    """

    def __init__(self, hparams, **kwargs):
        super().__init__(**kwargs)
        if isinstance(hparams, dict):
            hparams = hparams_lib.from_dict(hparams)
        self.hparams = hparams
        dropout = dict(
            use_recurrent_dropout=bool(hparams.use_recurrent_dropout),
            recurrent_dropout_prob=hparams.recurrent_dropout_prob,
        )
        node_width = 2 * hparams.enc_rnn_size
        self.num_components = hparams.num_mixture_components
        self.stroke_encoder = StrokeEncoder(
            hparams.enc_model, hparams.enc_rnn_size, name="stroke_encoder", **dropout)
        self.relation_gcn = RelationGCN(node_width, name="relation_gcn")
        self.batch_norm = FusedBatchNorm(decay=0.9, epsilon=1e-5, name="batch_norm")
        self.fc_mu = _linear(hparams.z_size, node_width, "fc_mu")
        self.fc_sigma2 = _linear(hparams.z_size, node_width, "fc_sigma2")
        self.decoder_cell = make_cell(
            hparams.dec_model, hparams.dec_rnn_size, name="decoder_cell", **dropout)
        self.init_state = _linear(
            self.decoder_cell.state_size, hparams.z_size, "init_state", activation="tanh")
        self.output_layer = _linear(
            output_width(self.num_components), hparams.dec_rnn_size, "output_layer")
        self.seed_generator = keras.random.SeedGenerator(None)
        self.build()

    @property
    def state_size(self):
        """S, width of the decoder state."""
        return self.decoder_cell.state_size

    def build(self, input_shape=None):
        hp = self.hparams
        node_width = 2 * hp.enc_rnn_size
        self.stroke_encoder.build()
        self.relation_gcn.build()
        self.batch_norm.build((None, node_width))
        self.fc_mu.build((None, node_width))
        self.fc_sigma2.build((None, node_width))
        self.decoder_cell.build((None, POINT_WIDTH + hp.z_size))
        self.init_state.build((None, hp.z_size))
        self.output_layer.build((None, hp.dec_rnn_size))
        self.built = True

    def encode(self, batch, training=False):
        """Encodes a batch to the latent distribution.

        Args:
            batch: dict with `input_strokes`, `input_stroke_len`, `input_strokes_num`, `input_box`.
            training: batch statistics (and their moving-average update) in the batch norm,
                recurrent dropout if enabled.

        Returns:
            Dict: `p_mu`, `p_sigma2` `[B, Z]` and the intermediates `enc_last_state_fw`,
            `enc_last_state_bw`, `enc_last_h` (`[B*N, .]`), `embed [B, N, D]`,
            `gcn_out0_sum`, `gcn_out2_sum` `[B*N, D]`, `gcn_out`, `bn_out`, `bn_tanh` `[B, D]`.
        """
        outputs = dict(self.stroke_encoder(
            batch["input_strokes"], batch["input_stroke_len"], training=training))
        outputs.update(self.relation_gcn(
            outputs["enc_last_h"], batch["input_strokes_num"], batch["input_box"]))
        outputs["bn_out"] = self.batch_norm(outputs["gcn_out"], training=training)
        outputs["bn_tanh"] = tf.tanh(outputs["bn_out"])
        outputs["p_mu"] = self.fc_mu(outputs["bn_tanh"])
        outputs["p_sigma2"] = self.fc_sigma2(outputs["bn_tanh"])
        return outputs

    def sample_z(self, p_mu, p_sigma2, eps=None):
        """Reparameterisation `p_mu + exp(p_sigma2 / 2) * eps`; eps `[B, Z]` drawn unless given."""
        if eps is None:
            eps = keras.random.normal(tf.shape(p_mu), seed=self.seed_generator)
        return p_mu + tf.exp(p_sigma2 / 2.0) * tf.cast(eps, p_mu.dtype)

    def initial_state(self, z):
        """`z [B, Z]` -> decoder state `[B, S]` = tanh(init_state(z))."""
        return self.init_state(z)

    def _mixture_outputs(self, cell_outputs):
        fc_out = self.output_layer(cell_outputs)
        outputs = split_mixture(fc_out, self.num_components)
        outputs["dec_fc_out"] = fc_out
        return outputs

    def decode(self, input_seqs, z, training=False):
        """Teacher-forced decoding of `input_seqs[:, :T]` conditioned on z.

        Args:
            input_seqs: `[B, T+1, 5]` stroke-5 rows (absolute x, y), row 0 the start token.
            z: `[B, Z]` latent code.
            training: recurrent / input / output dropout if enabled in the hparams.

        Returns:
            Dict: mixture tensors `pi`, `mux`, `muy`, `sigmax`, `sigmay`, `corr` `[B*T, K]`,
            `pen_logits`, `pen` `[B*T, 3]`, `dec_fc_out [B*T, 3+6K]` (rows b*T + t),
            `initial_state`, `final_state` `[B, S]`.
        """
        hp = self.hparams
        input_seqs = tf.convert_to_tensor(input_seqs, dtype=self.compute_dtype)
        z = tf.convert_to_tensor(z, dtype=self.compute_dtype)
        points = input_seqs[:, :-1]
        initial_state = self.initial_state(z)
        params = self.decoder_cell.parameters()
        if training and hp.use_input_dropout:
            z_per_step = tf.tile(z[:, None, :], [1, tf.shape(points)[1], 1])
            cell_inputs = keras.random.dropout(
                tf.concat([points, z_per_step], axis=2), 1.0 - hp.input_dropout_prob,
                seed=self.seed_generator)
            sequence = tf.transpose(self.decoder_cell.project_inputs(cell_inputs, params),
                                    [1, 0, 2])
            projection = None
        else:
            sequence = tf.transpose(points, [1, 0, 2])
            projection = self.split_input_projection(z, params)
        (final_state,), (cell_outputs,) = run_recurrences(
            [self.decoder_cell], [sequence], [initial_state],
            dropout_seeds=[self.decoder_cell.dropout_seed(training)], return_outputs=True,
            params=[params], fused_gradient=bool(training), input_projections=[projection])
        cell_outputs = tf.reshape(tf.transpose(cell_outputs, [1, 0, 2]), [-1, hp.dec_rnn_size])
        if training and hp.use_output_dropout:
            cell_outputs = keras.random.dropout(
                cell_outputs, 1.0 - hp.output_dropout_prob, seed=self.seed_generator)
        outputs = self._mixture_outputs(cell_outputs)
        outputs["initial_state"] = initial_state
        outputs["final_state"] = final_state
        return outputs

    def split_input_projection(self, z, params=None):
        """The decoder's input projection split into its point and its constant z part.

        `concat(point, z) @ kernel (+ bias)` = `point @ kernel[:5] + offset` with
        `offset = z @ kernel[5:] (+ bias)`: the time loops (training and sampling) project
        5-wide points per step and z once per sketch.

        Args:
            z: `[B, Z]`.
            params: the decoder cell's `parameters()` (read here when None).

        Returns:
            `(point_kernel [5, P], offset [B, P])`, as `run_recurrences(input_projections=...)`
            takes them.
        """
        kernel, bias = self.decoder_cell.input_projection(
            params or self.decoder_cell.parameters())
        offset = tf.matmul(z, kernel[POINT_WIDTH:])
        return kernel[:POINT_WIDTH], offset if bias is None else offset + bias

    def decoder_step(self, point, z, state):
        """One evaluation-mode decoder step (for sampling).

        Args:
            point: `[B, 5]` previous stroke-5 point (absolute x, y).
            z: `[B, Z]`.
            state: `[B, S]` decoder state.

        Returns:
            `(mixture, new_state)`: dict of `[B, K]` / `[B, 3]` tensors as in `decode` (plus
            `dec_fc_out [B, 3+6K]`), and `[B, S]`.
        """
        cell_input = tf.concat(
            [tf.convert_to_tensor(point, self.compute_dtype),
             tf.convert_to_tensor(z, self.compute_dtype)], axis=1)
        output, new_state = self.decoder_cell.recurrent_step(
            self.decoder_cell.project_inputs(cell_input),
            tf.convert_to_tensor(state, self.compute_dtype))
        return self._mixture_outputs(output), new_state

    def compute_loss_from_batch(self, batch, training, eps=None):
        """Loss of one batch (spec §3.10) and every intermediate.

        Args:
            batch: dict with the five `BATCH_KEYS`.
            training: training model (batch-statistics BN with moving-average update, unmasked
                pen loss, dropout if enabled, z sampled) or evaluation model (moving statistics,
                masked pen loss, z = p_mu).
            eps: optional `[B, Z]` N(0, 1) draw for the reparameterisation (training only).

        Returns:
            `(loss, outputs)`: scalar loss; dict with everything `encode` and `decode` return plus
            `batch_z`, `loss` and `lil_loss`.
        """
        outputs = self.encode(batch, training=training)
        if training:
            z = self.sample_z(outputs["p_mu"], outputs["p_sigma2"], eps)
        else:
            z = outputs["p_mu"]
        outputs["batch_z"] = z
        input_seqs = tf.convert_to_tensor(batch["input_seqs"], dtype=self.compute_dtype)
        outputs.update(self.decode(input_seqs, z, training=training))
        loss = reconstruction_loss(outputs, input_seqs[:, 1:], training)
        outputs["loss"] = loss
        outputs["lil_loss"] = loss
        return loss, outputs

    def call(self, inputs, training=None):
        """`inputs`: batch dict -> the outputs dict of `compute_loss_from_batch`."""
        return self.compute_loss_from_batch(inputs, bool(training))[1]

    def get_config(self):
        return {"hparams": self.hparams.values(), "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(hparams_lib.from_dict(config.pop("hparams")), **config)
