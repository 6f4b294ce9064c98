"""Progress bars for loops longer than a few seconds (both trainers).

On a terminal, Keras' dynamic bar; otherwise (logs, pipes) `PlainProgress`: one plain line (no
ANSI codes, no carriage return) at most every `interval` seconds and at the end.
"""

import sys
import time


class PlainProgress:
    """A progress report for logs: one plain line (no ANSI codes, no carriage return) at most
    every `interval` seconds and at the end, with running means of the values.

    Args:
        target: number of steps.
        unit_name: what a step is, e.g. 'iter'.
        interval: minimum seconds between lines.
        stream: where lines go (default `sys.stdout`).
    """

    def __init__(self, target: int, unit_name: str = "step", interval: float = 10.0,
                 stream=None):
        self.target, self.unit_name, self.interval = target, unit_name, interval
        self.stream = stream or sys.stdout
        self._start = self._last = time.time()
        self._sums, self._count, self._current = {}, 0, 0

    def add(self, steps: int, values=None) -> None:
        """`update(current + steps, values)`."""
        self.update(self._current + steps, values)

    def update(self, current: int, values=None) -> None:
        """Records step `current` (1-based) and its `(name, value)` pairs; maybe prints."""
        self._current = current
        self._count += 1
        for key, value in values or ():
            self._sums[key] = self._sums.get(key, 0.0) + float(value)
        now = time.time()
        if current < self.target and now - self._last < self.interval:
            return
        self._last = now
        means = "".join(f" - {key}: {total / self._count:.4f}"
                        for key, total in self._sums.items())
        print(f"{current}/{self.target} {self.unit_name} - {now - self._start:.0f}s{means}",
              file=self.stream, flush=True)


def progress_bar(target: int, unit_name: str, verbose: bool = True, stream=None):
    """A progress bar over `target` steps named `unit_name` ('iter', 'sketch', ...).

    Keras' live `Progbar` when `stream` (default stdout) is a terminal, else a `PlainProgress`;
    a silent `Progbar` when not `verbose`. All take `update(current, values=[(name, value)])`
    with a 1-based `current`, and `add(steps, values)`.
    """
    stream = sys.stdout if stream is None else stream
    if verbose and not stream.isatty():
        return PlainProgress(target, unit_name, stream=stream)
    import keras

    return keras.utils.Progbar(target, verbose=1 if verbose else 0, unit_name=unit_name)
