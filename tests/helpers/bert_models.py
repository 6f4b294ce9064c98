"""Small Sketch-BERT configs, random batches and a NumPy reference encoder for the tests."""

import math

import numpy as np


def small_config(**changes):
    config = dict(
        task_types=["maskrec", "sketchclsinput", "sketchretrieval"], model_type="albert",
        layers_setting=[[2, 16, 24], [2, 16, 24], [2, 16, 24]], embed_layers_setting=[8, 12],
        input_dim=5, max_length=10, position_type="learn", segment_type="none",
        inter_activation="gelu", attention_dropout_prob=0.5, hidden_dropout_prob=0.5,
        output_dropout_prob=0.5, sketch_embed_type="linear", attention_norm_type="LN",
        rec_layers_setting=[12, 6], cls_layers_setting=[], rel_layers_setting=[7], cls_dim=3,
        rel_feat_dim=4, mask_axis_weight=1, rec_axis_weight=0, mask_type_weight=1,
        rec_type_weight=0, prediction_weight=1, triplet_weight=1, triplet_margin=2.0,
        learning_rate=1e-4)
    config.update(changes)
    return config


def random_batch(config, batch=3, members=None, seed=0):
    rng = np.random.default_rng(seed)
    tokens = ("sketchclsinput" in config["task_types"]) + (
        "sketchretrieval" in config["task_types"])
    length = config["max_length"]
    shape = (members, batch) if members else (batch,)
    stroke = rng.normal(size=shape + (length, 5)).astype(np.float32)
    pen = rng.integers(0, 3, size=shape + (length,))
    stroke[..., 2:] = np.eye(3, dtype=np.float32)[pen]
    mask = (rng.random(shape + (length, 5)) > 0.3).astype(np.float32)
    mask[..., 3:] = mask[..., 2:3]
    prefix = np.concatenate([np.full(shape + (1, 5), -2.0), np.full(shape + (1, 5), -1.0)],
                            axis=-2)[..., 2 - tokens:, :]
    mask_input = np.concatenate([prefix, stroke * mask], axis=-2).astype(np.float32)
    lengths = rng.integers(2, length + 1, size=shape)
    length_mask = (np.arange(length + tokens) < (lengths[..., None] + tokens)).astype(np.float32)
    segment = rng.integers(0, length, size=shape + (length + tokens,))
    return dict(mask_input=mask_input, stroke=stroke, mask=mask, length_mask=length_mask,
                segment=segment, target=rng.integers(0, config["cls_dim"], size=shape))


# NumPy float64 reference of the encoder (torch layout state dicts).


def _linear(state, prefix, x):
    return x @ state[f"{prefix}.weight"].T.astype(np.float64) + state[f"{prefix}.bias"]


def _layer_norm(state, prefix, x):
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + 1e-5) * state[f"{prefix}.weight"] + \
        state[f"{prefix}.bias"]


def numpy_encoder(state, config, inputs, length_mask, segments=None):
    x = _linear(state, "embedding.embedding", inputs.astype(np.float64))
    length = x.shape[1]
    if config["position_type"] == "learn":
        x = x + state["pos_embedding.pos_embedding.weight"][:length]
    elif config["position_type"] == "sin":
        width = x.shape[-1]
        table = np.zeros((length, width))
        for p in range(length):
            for j in range(width):
                table[p, j] = (math.sin(p / ((j + 1) / 2)) if j % 2 == 0
                               else math.cos(p / (j / 2)))
        x = x + table
    if config["segment_type"] == "learn" and segments is not None:
        x = x + state["segment_embedding.pos_embedding.weight"][segments]
    for index in range(len(config["embed_layers_setting"])):
        x = _linear(state, f"embed_refine_net.layers.{index}", x)
    bias = (1.0 - length_mask[:, None, None, :]) * -10000.0
    for depth, (heads, hidden, _) in enumerate(config["layers_setting"]):
        prefix = ("encoder.sketch_layer" if config["model_type"] == "albert"
                  else f"encoder.layers.{depth}")
        head_dim = hidden // heads

        def split(values):
            return values.reshape(values.shape[0], length, heads, head_dim).transpose(0, 2, 1, 3)

        q = split(_linear(state, f"{prefix}.attention.attention.query", x))
        k = split(_linear(state, f"{prefix}.attention.attention.key", x))
        v = split(_linear(state, f"{prefix}.attention.attention.value", x))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head_dim) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        probabilities = scores / scores.sum(-1, keepdims=True)
        context = (probabilities @ v).transpose(0, 2, 1, 3).reshape(x.shape[0], length, hidden)
        attended = _layer_norm(state, f"{prefix}.attention.output.norm",
                               x + _linear(state, f"{prefix}.attention.output.fc", context))
        inner = _linear(state, f"{prefix}.inter_layer.fc", attended)
        erf = np.vectorize(math.erf)
        inner = 0.5 * inner * (1.0 + erf(inner / math.sqrt(2.0)))
        x = _layer_norm(state, f"{prefix}.output.norm",
                        attended + _linear(state, f"{prefix}.output.fc", inner))
    return x
