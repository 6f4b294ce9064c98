"""Random input masks of the Sketch Gestalt Model and the special-token prefix rows (spec §2.5-2.6).

Masks are float32 arrays [L, D] with 1 = kept and 0 = masked. Masked input values are plain
zeros (`stroke * mask`); there is no learned [MASK] vector.

Random draws go through `rng.choice(m, m, replace=False)`, one permutation per non-empty group in
the original order, so a `numpy.random.RandomState(seed)` reproduces the original's masks after
`numpy.random.seed(seed)` draw for draw; a `numpy.random.Generator` gives the same distribution.
"""

import numpy as np
from absl import logging

from bert_tf2.errors import BertDataError

MASK_TASK_TYPES = ("task", "single", "full")

# Constant rows prepended to the model input (spec §2.6; B41).
CLS_TOKEN_VALUE = -1.0
RETRIEVAL_TOKEN_VALUE = -2.0
TOKEN_SEGMENT = 0
TOKEN_LENGTH_MASK = 1.0


def num_masked(group_size: int, mask_prob: float) -> int:
    """Number of masked members of a group: int(m * (1 - mask_prob)) in float64 (B6).

    `mask_prob` is the probability of *keeping*; groups smaller than 1 / (1 - mask_prob) are never
    masked, and the float subtraction matters (1 - 0.8 = 0.19999999999999996).
    """
    return int(group_size * (1 - mask_prob))


def _choose(rng, rows: np.ndarray, mask_prob: float) -> np.ndarray:
    """Rows of a group chosen for masking; draws nothing when none is masked."""
    count = num_masked(len(rows), mask_prob)
    if count == 0:
        return rows[:0]
    return rows[rng.choice(len(rows), len(rows), replace=False)[:count]]


def stroke_start_rows(stroke5: np.ndarray, length: int) -> np.ndarray:
    """Boolean [L]: row 0 and every real row whose p_down rises from 0 to 1 (a pen-up move).

    A one-point stroke is not caught (as upstream, B9). Padding rows are False.
    """
    starts = np.zeros(len(stroke5), dtype=bool)
    if length > 0:
        starts[0] = True
        starts[1:length] = (stroke5[1:length, 2] - stroke5[:length - 1, 2]) == 1
    return starts


def generate_mask(stroke: np.ndarray, length: int, mask_task_type: str, mask_prob: float, rng,
                  always_mask_end: bool = True) -> np.ndarray:
    """Draws the random input mask of one sketch.

    Schemes (spec §2.5):
      * 'task' (stroke-5 only): offsets (columns 0-1) masked separately in the group of
        non-stroke-start real rows, then the group of stroke-start rows; pen states (columns 2-4)
        masked in the group of ALL rows (padding included) with p_down = 1, then p_up = 1, then
        p_end = 1; finally the pen state of row `length - 1` is masked (`always_mask_end`, B8).
      * 'single': int(length * (1 - mask_prob)) real rows (start row included) fully masked; one
        permutation is always drawn.
      * 'full': no masking at all (upstream accepts it and masks nothing, B3).
    Each group masks k = int(size * (1 - mask_prob)) members chosen by the first k entries of
    `rng.choice(size, size, replace=False)`; a group with k = 0 draws nothing.

    Args:
        stroke: [L, D] float transformed sketch (D = 5 for 'task').
        length: number of real rows (start row included), 1 <= length <= L.
        mask_task_type: 'task', 'single' or 'full'.
        mask_prob: probability of keeping an element.
        rng: `numpy.random.RandomState` (original draw order) or `numpy.random.Generator`.
        always_mask_end: mask the pen state of the last real row ('task' only).

    Returns:
        [L, D] float32 mask, 1 = kept, 0 = masked.

    Raises:
        BertDataError: unknown scheme, or 'task' on a representation without 5 columns.
    """
    max_length, dim = stroke.shape
    mask = np.ones((max_length, dim), dtype=np.float32)
    if mask_task_type == "single":
        count = num_masked(length, mask_prob)
        mask[rng.choice(length, length, replace=False)[:count], :] = 0
    elif mask_task_type == "task":
        if dim != 5:
            raise BertDataError(
                f"mask_task_type 'task' needs stroke-5 rows, got {dim} columns; use "
                f"stroke_type 'stroke-5' or mask_task_type 'single'")
        starts = stroke_start_rows(stroke, length)
        real = np.arange(max_length) < length
        for group in (real & ~starts, starts):
            mask[_choose(rng, np.flatnonzero(group), mask_prob), 0:2] = 0
        for column in (2, 3, 4):
            mask[_choose(rng, np.flatnonzero(stroke[:, column] == 1), mask_prob), 2:5] = 0
        if always_mask_end:
            mask[length - 1, 2:5] = 0
    elif mask_task_type == "full":
        logging.log_first_n(logging.WARNING,
                            "mask_task_type 'full' masks nothing (as upstream, bug B3)", 1)
    else:
        raise BertDataError(
            f"mask_task_type '{mask_task_type}' is not one of {MASK_TASK_TYPES}")
    return mask


def num_prefix_tokens(task_types) -> int:
    """Number of special rows prepended for these tasks (class token, retrieval token)."""
    return int("sketchclsinput" in task_types) + int("sketchretrieval" in task_types)


def add_special_tokens(mask_input: np.ndarray, segment: np.ndarray, length_mask: np.ndarray,
                       cls_in_input: bool, rel_in_input: bool):
    """Prepends the class-token row (all -1) and then the retrieval-token row (all -2).

    With both the order is [retrieval, class, start row, points..., padding]. Each token gets
    segment id 0 and length-mask value 1.

    Args:
        mask_input: [L, D] masked model input.
        segment: [L] segment ids.
        length_mask: [L] 1 = real row.
        cls_in_input: 'sketchclsinput' is a task.
        rel_in_input: 'sketchretrieval' is a task.

    Returns:
        (mask_input [L+T, D], segment [L+T], length_mask [L+T]) with T = number of tokens.
    """
    tokens = ([RETRIEVAL_TOKEN_VALUE] if rel_in_input else []) + (
        [CLS_TOKEN_VALUE] if cls_in_input else [])
    if not tokens:
        return mask_input, segment, length_mask
    count = len(tokens)
    token_rows = np.repeat(np.asarray(tokens, mask_input.dtype)[:, None], mask_input.shape[1], 1)
    return (np.concatenate([token_rows, mask_input]),
            np.concatenate([np.full(count, TOKEN_SEGMENT, segment.dtype), segment]),
            np.concatenate([np.full(count, TOKEN_LENGTH_MASK, length_mask.dtype), length_mask]))
