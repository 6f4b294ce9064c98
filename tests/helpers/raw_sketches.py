"""Hand-made raw stroke-3 sketches for the task, export and demo tests."""

import numpy as np


def random_sketches(counts, spread: int, seed: int = 0) -> list:
    """One float32 `[n, 3]` sketch per entry of `counts`: integer offsets in [-spread, spread]
    (original units), two strokes (pen lifted at the middle and the last point)."""
    rng = np.random.RandomState(seed)
    drawn = []
    for count in counts:
        sketch = np.zeros((count, 3), np.float32)
        sketch[:, :2] = rng.randint(-spread, spread + 1, size=(count, 2))
        sketch[count // 2, 2] = sketch[-1, 2] = 1
        drawn.append(sketch)
    return drawn
