"""The SketchGloc model (docs/differences.md#sg-3): stroke-graph encoder, latent heads, HyperLSTM
decoder, loss.

Batches are dicts with the keys of the reference bundles' `feeds.npz`:

* `input_seqs [B, T+1, 5]`: stroke-5 rows with absolute x, y; row 0 is the start token.
* `input_strokes [B*N, L, 2]`: node rows (absolute points), zero padded.
* `input_stroke_len [B*N]` int32, `input_strokes_num [B]` int32.
* `input_box [B, N, N, 9]`: nine relation graphs between the nodes.

Weights depend only on He, Z, Hd, K and the cell types, so one model serves any B, T, L, N.
"""

import os
import shutil
import tempfile

import h5py
import keras
import tensorflow as tf

from sketchgloc_tf2 import hparams as hparams_lib
from sketchgloc_tf2.layers.batch_norm import FusedBatchNorm
from sketchgloc_tf2.serialization import SERIALIZATION_PACKAGE
from sketchgloc_tf2.layers.decoder import Decoder
from sketchgloc_tf2.layers.fc_net import fc_net
from sketchgloc_tf2.layers.mixture import reconstruction_loss
from sketchgloc_tf2.layers.relation_gcn import RelationGCN
from sketchgloc_tf2.layers.stroke_encoder import StrokeEncoder

BATCH_KEYS = ("input_seqs", "input_strokes", "input_stroke_len", "input_strokes_num", "input_box")
ARGUMENT_NAMES = (
    "enc_model", "enc_rnn_size", "dec_model", "dec_rnn_size", "z_size", "num_mixture_components",
    "use_recurrent_dropout", "recurrent_dropout_prob", "use_input_dropout", "input_dropout_prob",
    "use_output_dropout", "output_dropout_prob")
# `model.weights.h5` groups of the layout before the decoder layer (no "decoder" group) and
# where that layer keeps them now; "layers/dense_3" is the 4th Dense of the old model's layers
# (fc_mu, fc_sigma2, init_state, output_layer), which Keras named by class.
LEGACY_WEIGHT_GROUPS = {
    "decoder_cell": "decoder/cell",
    "init_state": "decoder/init_state",
    "layers/dense_3": "decoder/output_layer",
}


def _migrate_legacy_weights(path, directory):
    """The weights file to load for `path`: `path` itself, or a copy in `directory` with the
    groups of `LEGACY_WEIGHT_GROUPS` moved when `path` has the old layout."""
    with h5py.File(path, "r") as source:
        if "decoder" in source or "decoder_cell" not in source:
            return path
    migrated = os.path.join(directory, os.path.basename(path))
    shutil.copyfile(path, migrated)
    with h5py.File(migrated, "r+") as weights:
        weights.require_group("decoder")
        for old, new in LEGACY_WEIGHT_GROUPS.items():
            weights.move(old, new)
    return migrated


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class SketchGlocModel(keras.Model):
    """SketchGloc encoder-decoder.

    Encoder: `StrokeEncoder` -> `RelationGCN` -> `FusedBatchNorm` -> tanh -> `fc_mu`, `fc_sigma2`.
    Latent: `z = p_mu + exp(p_sigma2 / 2) eps` when training, `z = p_mu` in evaluation.
    Decoder (`layers.decoder.Decoder`): state0 = tanh(init_state(z)); step input =
    concat(point (5), z); the `dec_model` cell over T steps with teacher forcing; `output_layer`
    to `3 + 6K` mixture outputs. The names are the upstream hparams; `from_hparams` builds the
    model from an `HParams` (or a `model_config.json` dict).

    Args:
        enc_model: stroke-encoder cell, 'lstm', 'layer_norm' or 'hyper'.
        enc_rnn_size: He, units of each encoder direction (node width D = 2 He).
        dec_model: decoder cell, 'lstm', 'layer_norm' or 'hyper'.
        dec_rnn_size: Hd, decoder units.
        z_size: Z, latent width.
        num_mixture_components: K, bivariate normals of the decoder's position mixture.
        use_recurrent_dropout: recurrent dropout in the encoder and decoder cells when training.
        recurrent_dropout_prob: KEEP probability of the recurrent dropout.
        use_input_dropout: dropout on the decoder inputs when training.
        input_dropout_prob: KEEP probability of the input dropout.
        use_output_dropout: dropout on the decoder outputs when training.
        output_dropout_prob: KEEP probability of the output dropout.
        **kwargs: `keras.Model` arguments (`name`).
    """

    def __init__(
        self,
        enc_model,
        enc_rnn_size,
        dec_model,
        dec_rnn_size,
        z_size,
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
        node_width = 2 * enc_rnn_size
        self.stroke_encoder = StrokeEncoder(
            enc_model, enc_rnn_size, name="stroke_encoder",
            use_recurrent_dropout=bool(use_recurrent_dropout),
            recurrent_dropout_prob=recurrent_dropout_prob)
        self.relation_gcn = RelationGCN(node_width, name="relation_gcn")
        self.batch_norm = FusedBatchNorm(decay=0.9, epsilon=1e-5, name="batch_norm")
        self.fc_mu = fc_net(z_size, node_width, "fc_mu")
        self.fc_sigma2 = fc_net(z_size, node_width, "fc_sigma2")
        self.decoder = Decoder(
            dec_model, dec_rnn_size, z_size, num_mixture_components,
            use_recurrent_dropout=bool(use_recurrent_dropout),
            recurrent_dropout_prob=recurrent_dropout_prob,
            use_input_dropout=bool(use_input_dropout), input_dropout_prob=input_dropout_prob,
            use_output_dropout=bool(use_output_dropout), output_dropout_prob=output_dropout_prob,
            name="decoder")
        self.seed_generator = keras.random.SeedGenerator(None)

        # === Config ===
        self.enc_model = enc_model
        self.enc_rnn_size = enc_rnn_size
        self.dec_model = dec_model
        self.dec_rnn_size = dec_rnn_size
        self.z_size = z_size
        self.num_mixture_components = num_mixture_components
        self.use_recurrent_dropout = use_recurrent_dropout
        self.recurrent_dropout_prob = recurrent_dropout_prob
        self.use_input_dropout = use_input_dropout
        self.input_dropout_prob = input_dropout_prob
        self.use_output_dropout = use_output_dropout
        self.output_dropout_prob = output_dropout_prob
        self.build()

    @classmethod
    def from_hparams(cls, hparams, **kwargs):
        """The model an `HParams` (or a dict of hparams, as in `model_config.json`) describes;
        hparams the model does not use (batch size, data, training options) are ignored."""
        if isinstance(hparams, dict):
            hparams = hparams_lib.from_dict(hparams)
        return cls(**{name: getattr(hparams, name) for name in ARGUMENT_NAMES}, **kwargs)

    @property
    def state_size(self):
        """S, width of the decoder state."""
        return self.decoder.state_size

    @property
    def decoder_cell(self):
        """The decoder's recurrent cell (TF1 scope `.../decoder/rnn/<cell>`)."""
        return self.decoder.cell

    @property
    def init_state(self):
        """The decoder's `z -> state0` dense layer."""
        return self.decoder.init_state

    @property
    def output_layer(self):
        """The decoder's mixture head (dense layer to `3 + 6K`)."""
        return self.decoder.output_layer

    def build(self, input_shape=None):
        node_width = 2 * self.enc_rnn_size
        self.stroke_encoder.build()
        self.relation_gcn.build()
        self.batch_norm.build((None, node_width))
        self.fc_mu.build((None, node_width))
        self.fc_sigma2.build((None, node_width))
        self.decoder.build()
        self.built = True

    def load_weights(self, filepath, *args, **kwargs):
        """`keras.Model.load_weights`, also reading `.weights.h5` files written before the
        decoder was one layer (groups moved as `LEGACY_WEIGHT_GROUPS` says)."""
        if not str(filepath).endswith(".weights.h5"):
            return super().load_weights(filepath, *args, **kwargs)
        with tempfile.TemporaryDirectory() as directory:
            return super().load_weights(
                _migrate_legacy_weights(str(filepath), directory), *args, **kwargs)

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
        return self.decoder.initial_state(z)

    def decode(self, input_seqs, z, training=False):
        """Teacher-forced decoding of `input_seqs[:, :T]` conditioned on z.

        Args:
            input_seqs: `[B, T+1, 5]` stroke-5 rows (absolute x, y), row 0 the start token.
            z: `[B, Z]` latent code.
            training: recurrent / input / output dropout if enabled.

        Returns:
            Dict: mixture tensors `pi`, `mux`, `muy`, `sigmax`, `sigmay`, `corr` `[B*T, K]`,
            `pen_logits`, `pen` `[B*T, 3]`, `dec_fc_out [B*T, 3+6K]` (rows b*T + t),
            `initial_state`, `final_state` `[B, S]`.
        """
        return self.decoder.teacher_forced(input_seqs, z, training, self.seed_generator)

    def split_input_projection(self, z, params=None):
        """`Decoder.split_input_projection`: `(point_kernel [5, P], offset [B, P])`."""
        return self.decoder.split_input_projection(z, params)

    def decoder_step(self, point, z, state):
        """One evaluation-mode decoder step (`Decoder.step`).

        Args:
            point: `[B, 5]` previous stroke-5 point (absolute x, y).
            z: `[B, Z]`.
            state: `[B, S]` decoder state.

        Returns:
            `(mixture, new_state)`: dict of `[B, K]` / `[B, 3]` tensors as in `decode` (plus
            `dec_fc_out [B, 3+6K]`), and `[B, S]`.
        """
        return self.decoder.step(point, state, z)

    def compute_loss_from_batch(self, batch, training, eps=None):
        """Loss of one batch (docs/differences.md#sg-3-10) and every intermediate.

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
        config = {"name": self.name}
        config.update({name: getattr(self, name) for name in ARGUMENT_NAMES})
        return config

    @classmethod
    def from_config(cls, config):
        """Also reads the configs of the old constructor, `{"hparams": {...}, "name": ...}`."""
        config = dict(config)
        if "hparams" in config:
            return cls.from_hparams(config.pop("hparams"), **config)
        return cls(**config)
