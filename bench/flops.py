"""Analytic FLOP counts of the benchmarked workloads (plain Python, no TensorFlow).

What is counted: the multiply-adds of the matrix products the implementation executes (dense
layers, recurrent kernels, hyper-network projections, attention products, graph aggregation),
one multiply-add = 2 FLOP. Element-wise work (activations, layer norms, softmax, losses, the
optimizer update) is not counted: it is a few percent of the total at the published sizes and
its cost is memory traffic rather than arithmetic. A training step counts 3 times its forward
pass (the backward pass multiplies by both operands' transposes). The formulas are written out
in docs/performance.md#flop-counts and checked against hand counts in
tests/unit/test_bench_flops.py.

Sizes: B sketches, T decoder steps, N node slots per sketch, He / Hd encoder / decoder units,
Hh / E hyper units / hyper embedding width, Z latent width, K mixture components,
D = 2 He node width.
"""

HYPER_NUM_UNITS = 256
HYPER_EMBEDDING_SIZE = 32
HYPER_NORM_BLOCKS = 8
HYPER_BIAS_BLOCKS = 4
GCN_RELATIONS = 9
POINT_WIDTH = 5
ENCODER_INPUT_WIDTH = 2
TRAINING_FACTOR = 3


def cell_projection_width(cell_type, units, hyper_units=HYPER_NUM_UNITS):
    """P, width of a cell's input projection: 4H, plus the hyper cell's 4Hh for 'hyper'."""
    return 4 * units + (4 * hyper_units if cell_type == "hyper" else 0)


def cell_step_macs(cell_type, units, input_width, hyper_units=HYPER_NUM_UNITS,
                   hyper_embedding=HYPER_EMBEDDING_SIZE):
    """Multiply-adds of one step of one row of a recurrent cell, input projection included.

    * 'lstm', 'layer_norm': `(I + H) 4H` (`x W_xh`, `h W_hh`).
    * 'hyper': the main products `(I + H) 4H`; the hyper cell reads `[x, h]` and its own state:
      `(I + H + Hh) 4Hh`; the twelve hyper embeddings (8 zw, 4 zb) `Hh 12E`; the eight alpha
      and four beta projections `12 E H`.

    Args:
        cell_type: 'lstm', 'layer_norm' or 'hyper'.
        units: H.
        input_width: I, width of the step input the cell multiplies per step.
        hyper_units: Hh.
        hyper_embedding: E.

    Returns:
        int multiply-adds.
    """
    macs = (input_width + units) * 4 * units
    if cell_type == "hyper":
        blocks = HYPER_NORM_BLOCKS + HYPER_BIAS_BLOCKS
        macs += (input_width + units + hyper_units) * 4 * hyper_units
        macs += hyper_units * blocks * hyper_embedding + blocks * hyper_embedding * units
    return macs


def cell_state_width(cell_type, units, hyper_units=HYPER_NUM_UNITS):
    """S, the state width: 2H, or 2(H + Hh) for 'hyper'."""
    return 2 * (units + (hyper_units if cell_type == "hyper" else 0))


def sketchgloc_decoder_macs(dec_model, dec_rnn_size, z_size, num_mixture, batch, steps):
    """Multiply-adds of the decoder over `steps` steps of `batch` sketches (forward).

    Per sketch, once: `init_state` `Z S` and the z part of the input projection `Z P`. Per step
    and sketch: the cell with a 5-wide point input (`cell_step_macs(., Hd, 5)`) and the mixture
    head `Hd (3 + 6K)`.
    """
    per_sketch = z_size * (cell_state_width(dec_model, dec_rnn_size)
                           + cell_projection_width(dec_model, dec_rnn_size))
    per_step = (cell_step_macs(dec_model, dec_rnn_size, POINT_WIDTH)
                + dec_rnn_size * (3 + 6 * num_mixture))
    return batch * (per_sketch + steps * per_step)


def sketchgloc_forward_flops(enc_model, enc_rnn_size, dec_model, dec_rnn_size, z_size,
                             num_mixture, batch, steps, node_slots, node_steps, nodes):
    """FLOP of one SketchGloc forward pass (encoder, GCN, latent heads, teacher-forced decoder).

    * stroke encoder: both directions for the node steps the data has,
      `2 node_steps cell_step_macs(enc, He, 2)` (padding rows and steps are not run);
    * GCN: aggregation over all slots `9 B N^2 D`, relation MLP on the real nodes
      `nodes 9 (2 D^2)`; `fc_mu`, `fc_sigma2`: `2 B D Z`;
    * decoder: `sketchgloc_decoder_macs` over T steps.

    Args:
        enc_model, dec_model: cell types.
        enc_rnn_size, dec_rnn_size, z_size, num_mixture: He, Hd, Z, K.
        batch: B.
        steps: T.
        node_slots: N.
        node_steps: total valid points over all node rows (sum of `input_stroke_len`, each
            clipped to L); `B N L` if every row were full.
        nodes: real nodes in the batch (sum of `input_strokes_num`).

    Returns:
        float FLOP.
    """
    width = 2 * enc_rnn_size
    encoder = 2 * node_steps * cell_step_macs(enc_model, enc_rnn_size, ENCODER_INPUT_WIDTH)
    gcn = GCN_RELATIONS * (batch * node_slots ** 2 * width + nodes * 2 * width ** 2)
    heads = 2 * batch * width * z_size
    decoder = sketchgloc_decoder_macs(dec_model, dec_rnn_size, z_size, num_mixture, batch, steps)
    return 2.0 * (encoder + gcn + heads + decoder)


def sketchgloc_train_step_flops(**sizes):
    """FLOP of one SketchGloc training step: 3 x `sketchgloc_forward_flops(**sizes)`."""
    return TRAINING_FACTOR * sketchgloc_forward_flops(**sizes)


def sketchgloc_batches_gflop(hparams, batches, num_mixture):
    """Mean GFLOP of one SketchGloc training step over the given training batches.

    Args:
        hparams: the model's hparams (`enc_model`, `enc_rnn_size`, `dec_model`,
            `dec_rnn_size`, `z_size`, `batch_size`, `max_seq_len`, `max_stroke_len`,
            `max_strokes_num`).
        batches: training batches with `input_stroke_len [B, N]` (points per node row) and
            `input_strokes_num [B]` (real nodes per sketch).
        num_mixture: K of the mixture head.
    """
    import numpy as np

    counts = [
        sketchgloc_train_step_flops(
            enc_model=hparams.enc_model, enc_rnn_size=hparams.enc_rnn_size,
            dec_model=hparams.dec_model, dec_rnn_size=hparams.dec_rnn_size,
            z_size=hparams.z_size, num_mixture=num_mixture, batch=hparams.batch_size,
            steps=hparams.max_seq_len, node_slots=hparams.max_strokes_num,
            node_steps=int(np.minimum(batch["input_stroke_len"], hparams.max_stroke_len).sum()),
            nodes=int(np.sum(batch["input_strokes_num"])))
        for batch in batches]
    return sum(counts) / len(counts) / 1e9


def sketchgloc_sampling_flops(dec_model, dec_rnn_size, z_size, num_mixture, batch, steps):
    """FLOP of sampling `batch` sketches for `steps` decoder steps each: the decoder's
    multiply-adds (`sketchgloc_decoder_macs`) x 2; the sampling rule is element-wise."""
    return 2.0 * sketchgloc_decoder_macs(dec_model, dec_rnn_size, z_size, num_mixture, batch,
                                         steps)


def dense_stack_macs(widths):
    """Multiply-adds per row of a chain of dense layers `widths[0] -> widths[1] -> ...`."""
    return sum(fan_in * units for fan_in, units in zip(widths[:-1], widths[1:]))


def bert_forward_flops(layers_setting, embed_layers_setting, input_dim, rows, batch,
                       head_rows_and_widths):
    """FLOP of one Sketch-BERT forward pass over `batch` sketches of `rows` rows.

    Per row: point embedding `I E0` and the refine stack `embed_layers_setting + [H]`; per layer
    `[heads, H, F]` and row: Q, K, V, output projections `4 H^2`, feed-forward `2 H F`, attention
    scores and context `2 S H` (S = `rows`); the heads' dense stacks on the rows they read.

    Args:
        layers_setting: list of `[attention_heads, H, F]`, one per layer (ALBERT repeats one
            shared layer; the work is the same).
        embed_layers_setting: `[E0, ...]`.
        input_dim: I (5 for stroke-5).
        rows: S, rows per sketch including special tokens.
        batch: B.
        head_rows_and_widths: list of `(rows read per sketch, [H, hidden..., output])`.

    Returns:
        float FLOP.
    """
    hidden = layers_setting[0][1]
    per_row = input_dim * embed_layers_setting[0]
    per_row += dense_stack_macs(list(embed_layers_setting) + [hidden])
    for _, width, inner in layers_setting:
        per_row += 4 * width * width + 2 * width * inner + 2 * rows * width
    heads = sum(head_rows * dense_stack_macs(widths) for head_rows, widths in head_rows_and_widths)
    return 2.0 * batch * (rows * per_row + heads)


def bert_train_step_flops(**sizes):
    """FLOP of one Sketch-BERT training step: 3 x `bert_forward_flops(**sizes)`."""
    return TRAINING_FACTOR * bert_forward_flops(**sizes)
