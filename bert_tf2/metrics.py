"""Sketch-BERT validation metrics (upstream definitions) and the best-checkpoint rule.

`classification_topk` (top-k accuracy of the class head), `retrieval_metrics` (sketch-to-sketch
retrieval over one set: top-k hits and mAP, vectorised in blocks, B28), `best_metric` (which
validation value decides `best/`, B17) and `write_metrics_json` (the `--metrics_json` file).
"""

import json

import numpy as np

from sketch_common.atomic_io import write_text

RETRIEVAL_TOPK = (1, 5, 10)
CLASSIFICATION_TOPK = (1, 5)
SELF_DISTANCE = 1e8
RETRIEVAL_BLOCK = 1024


def classification_topk(logits: np.ndarray, targets: np.ndarray, topk=CLASSIFICATION_TOPK):
    """Fraction of samples whose target is among the k largest logits, for each k.

    Args:
        logits: [N, C] float.
        targets: [N] int.

    Returns:
        {'accuracy_<k>': float in [0, 1]}.
    """
    order = np.argsort(-logits, axis=1, kind="stable")
    hits = order == targets[:, None]
    return {f"accuracy_{k}": float(hits[:, :k].any(axis=1).mean()) for k in topk}


def retrieval_metrics(features: np.ndarray, labels: np.ndarray, topk=RETRIEVAL_TOPK):
    """Sketch-to-sketch retrieval over one set (queries = gallery), upstream definitions.

    Squared Euclidean distances, self-distance set to 1e8; `retrieval_<k>` = fraction of queries
    with at least one same-class item among the k nearest; `map` = mean over queries of the
    average precision over the ranks of the other items of the query's class (queries whose
    class has no other item are left out instead of dividing by zero, B28).

    Args:
        features: [N, F] float.
        labels: [N] int.

    Returns:
        {'retrieval_<k>': float, ..., 'map': float}.
    """
    features = features.astype(np.float64)
    labels = np.asarray(labels)
    count = len(labels)
    squared = (features ** 2).sum(axis=1)
    hits_at = {k: 0 for k in topk}
    precisions = []
    for start in range(0, count, RETRIEVAL_BLOCK):
        rows = np.arange(start, min(start + RETRIEVAL_BLOCK, count))
        distances = squared[rows, None] + squared[None, :] - 2.0 * features[rows] @ features.T
        distances[np.arange(len(rows)), rows] = SELF_DISTANCE
        order = np.argsort(distances, axis=1, kind="stable")
        relevant = labels[order] == labels[rows, None]
        relevant[order == rows[:, None]] = False
        for k in topk:
            hits_at[k] += int(relevant[:, :k].any(axis=1).sum())
        ranks = np.arange(1, count + 1)
        cumulative = np.cumsum(relevant, axis=1)
        totals = relevant.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            average = (relevant * cumulative / ranks).sum(axis=1) / totals
        precisions.extend(average[totals > 0].tolist())
    metrics = {f"retrieval_{k}": hits_at[k] / max(count, 1) for k in topk}
    metrics["map"] = float(np.mean(precisions)) if precisions else 0.0
    return metrics


def best_metric(task_types) -> tuple:
    """`(validation key, higher is better)` that decides the best checkpoint (B17).

    `accuracy_1` with `sketchclsinput`, else `map` with `sketchretrieval`, else the total loss.
    """
    if "sketchclsinput" in task_types:
        return "accuracy_1", True
    if "sketchretrieval" in task_types:
        return "map", True
    return "total", False


def write_metrics_json(path, metrics):
    """Writes the metrics dict as JSON (sorted keys, indented) atomically."""
    write_text(path, json.dumps(metrics, indent=2, sort_keys=True))
