"""The analytic FLOP counts of bench/flops.py against hand counts of small configurations.

Each hand count lists the matrix products of the workload as `rows x inner x columns` (one
multiply-add per entry), in the order the model runs them.
"""

import importlib.util
import os
import types

import numpy as np
import pytest

_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "flops.py")
_SPEC = importlib.util.spec_from_file_location("bench_flops", _PATH)
flops = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(flops)


def macs(*products):
    """Sum of `rows * inner * columns` over `(rows, inner, columns)` triples."""
    return sum(rows * inner * columns for rows, inner, columns in products)


@pytest.mark.parametrize("cell_type, expected", [
    # x W_xh [1, 3] x [3, 8], h W_hh [1, 2] x [2, 8]
    ("lstm", macs((1, 3, 8), (1, 2, 8))),
    ("layer_norm", macs((1, 3, 8), (1, 2, 8))),
    # main as lstm; hyper cell [x, h] [1, 5] x [5, 16] and h_hyp [1, 4] x [4, 16];
    # 12 embeddings [1, 4] x [4, 1] each; 12 alpha/beta projections [1, 1] x [1, 2] each
    ("hyper", macs((1, 3, 8), (1, 2, 8), (1, 5, 16), (1, 4, 16), *[(1, 4, 1)] * 12,
                   *[(1, 1, 2)] * 12)),
])
def test_cell_step_macs_match_a_hand_count(cell_type, expected):
    assert flops.cell_step_macs(cell_type, units=2, input_width=3, hyper_units=4,
                                hyper_embedding=1) == expected


def test_sketchgloc_step_and_sampling_match_a_hand_count():
    # encoder lstm He=2 (D=4), decoder lstm Hd=3, Z=2, K=1, B=2, T=3, N=2, 5 node steps, 3 nodes
    encoder = 2 * 5 * macs((1, 2, 8), (1, 2, 8))                   # two directions, 5 steps
    gcn = 9 * (2 * macs((2, 2, 4)) + 3 * macs((1, 4, 4), (1, 4, 4)))  # A_c E, MLP on 3 nodes
    heads = 2 * macs((2, 4, 2))                                     # fc_mu, fc_sigma2
    per_sketch = macs((2, 2, 6), (2, 2, 12))                        # init_state, z W_xh[5:]
    per_step = macs((2, 5, 12), (2, 3, 12), (2, 3, 9))              # point, h W_hh, head
    decoder = per_sketch + 3 * per_step
    sizes = dict(enc_model="lstm", enc_rnn_size=2, dec_model="lstm", dec_rnn_size=3, z_size=2,
                 num_mixture=1, batch=2, steps=3, node_slots=2, node_steps=5, nodes=3)
    expected = 2 * (encoder + gcn + heads + decoder)
    assert flops.sketchgloc_forward_flops(**sizes) == expected
    assert flops.sketchgloc_train_step_flops(**sizes) == 3 * expected
    assert flops.sketchgloc_sampling_flops("lstm", 3, 2, 1, batch=2, steps=3) == 2 * decoder


def test_batches_gflop_counts_the_points_and_nodes_of_each_batch():
    hparams = types.SimpleNamespace(enc_model="lstm", enc_rnn_size=2, dec_model="lstm",
                                    dec_rnn_size=3, z_size=2, batch_size=2, max_seq_len=3,
                                    max_stroke_len=4, max_strokes_num=2)
    # Node rows of 3, 6 (cut to L=4) and 1 points: 8 node steps over 3 real nodes; then 2 and 1.
    batches = [
        {"input_stroke_len": np.array([[3, 6], [1, 0]]), "input_strokes_num": np.array([2, 1])},
        {"input_stroke_len": np.array([[2, 0], [1, 0]]), "input_strokes_num": np.array([1, 1])}]
    sizes = dict(enc_model="lstm", enc_rnn_size=2, dec_model="lstm", dec_rnn_size=3, z_size=2,
                 num_mixture=1, batch=2, steps=3, node_slots=2)
    expected = (flops.sketchgloc_train_step_flops(node_steps=8, nodes=3, **sizes)
                + flops.sketchgloc_train_step_flops(node_steps=3, nodes=2, **sizes)) / 2 / 1e9
    result = flops.sketchgloc_batches_gflop(hparams, batches, num_mixture=1)
    assert result == pytest.approx(expected)


def test_hyper_decoder_matches_a_hand_count():
    # decoder hyper Hd=3 (Hh=256, E=32), Z=2, K=1, B=1, T=1
    hyper, embed = flops.HYPER_NUM_UNITS, flops.HYPER_EMBEDDING_SIZE
    state, projection = 2 * (3 + hyper), 4 * 3 + 4 * hyper
    expected = macs((1, 2, state), (1, 2, projection),             # init_state, z part
                    (1, 5, 12), (1, 3, 12),                        # main cell
                    (1, 5 + 3, 4 * hyper), (1, hyper, 4 * hyper),  # hyper cell
                    (1, hyper, 12 * embed), *[(1, embed, 3)] * 12,  # hyper norms
                    (1, 3, 9))                                     # mixture head
    assert flops.sketchgloc_sampling_flops("hyper", 3, 2, 1, batch=1, steps=1) == 2 * expected


def test_bert_step_matches_a_hand_count():
    # 2 layers [2 heads, H=4, F=8], embedding [3, 6], stroke-5, S=7 rows, B=2, a maskrec head
    # reading 5 rows through [4, 3, 5]
    per_row = macs((1, 5, 3), (1, 3, 6), (1, 6, 4))                    # embedding, refine
    # Q, K, V, output projections and the feed-forward per row; scores Q K^T and context P V
    # over the two heads of width 2
    per_layer = (7 * macs(*[(1, 4, 4)] * 4, (1, 4, 8), (1, 8, 4))
                 + 2 * macs((7, 2, 7), (7, 7, 2)))
    head = 5 * macs((1, 4, 3), (1, 3, 5))
    sizes = dict(layers_setting=[[2, 4, 8]] * 2, embed_layers_setting=[3, 6], input_dim=5,
                 rows=7, batch=2, head_rows_and_widths=[(5, [4, 3, 5])])
    expected = 2 * 2 * (7 * per_row + 2 * per_layer + head)
    assert flops.bert_forward_flops(**sizes) == expected
    assert flops.bert_train_step_flops(**sizes) == 3 * expected
