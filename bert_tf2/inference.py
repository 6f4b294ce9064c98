"""Inference on the rows that matter: trim the padding shared by a whole batch.

Padding rows never influence real rows: their keys get the additive -10000 bias, whose softmax
weight underflows to exactly 0 in float32. So for inference the model can run on the first
`n` rows only, `n` = the longest sketch of the batch (plus special tokens) rounded up to a
multiple of `bucket_size` (a handful of static shapes for XLA). Real rows, the class token and
the retrieval token come out the same as with the full `max_length` rows (up to float32
rounding of differently blocked matrix products); the reconstruction head's rows beyond `n`
are padding and are returned as zeros. Training must not trim: the original pen-state loss also
covers masked padding rows (spec B7).
"""

import numpy as np
import tensorflow as tf

from sketch_common.jit_compile import resolve_jit_compile


def used_rows(length_mask, bucket_size):
    """Rows to keep: the last attended row of any sketch + 1, rounded up to `bucket_size`.

    Args:
        length_mask: `[..., S]` 1 = real row or token, 0 = padding.
        bucket_size: rounding step (1 = no rounding).

    Returns:
        int in `[1, S]`.
    """
    length_mask = np.asarray(length_mask)
    total = length_mask.shape[-1]
    attended = np.nonzero(length_mask.reshape(-1, total).any(axis=0))[0]
    last = int(attended[-1]) + 1 if attended.size else 1
    return min(total, -(-last // bucket_size) * bucket_size)


class TrimmedPredictor:
    """Runs a `SketchBertModel` (dropout off) on the used rows of each batch.

    Args:
        model: the `SketchBertModel`.
        bucket_size: row rounding step; each distinct row count compiles once.
        jit_compile: compile the forward pass with XLA: True, False, or "auto" (only when a
            GPU or TPU is visible; `sketch_common.jit_compile`).

    Call args:
        batch: dict with `mask_input` `[..., S, D]` and `length_mask` `[..., S]` (optionally
            `segment`), with or without the triplet member axis.

    Returns:
        dict task → numpy output; `maskrec` keeps its full `[..., L, D]` shape (zeros beyond
        the used rows).
    """

    def __init__(self, model, bucket_size=25, jit_compile="auto"):
        self.model = model
        self.bucket_size = bucket_size
        self.jit_compile = resolve_jit_compile(jit_compile)
        self._forward = tf.function(lambda inputs: model(inputs, training=False),
                                    jit_compile=self.jit_compile)

    def __call__(self, batch):
        total = np.shape(batch["length_mask"])[-1]
        rows = used_rows(batch["length_mask"], self.bucket_size)
        inputs = {"mask_input": np.asarray(batch["mask_input"])[..., :rows, :],
                  "length_mask": np.asarray(batch["length_mask"])[..., :rows]}
        if "segment" in batch:
            inputs["segment"] = np.asarray(batch["segment"])[..., :rows]
        outputs = {task: np.asarray(value) for task, value in self._forward(inputs).items()}
        if "maskrec" in outputs and rows < total:
            missing = total - rows
            padding = [(0, 0)] * (outputs["maskrec"].ndim - 2) + [(0, missing), (0, 0)]
            outputs["maskrec"] = np.pad(outputs["maskrec"], padding)
        return outputs
