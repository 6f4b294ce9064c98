"""The comparison table shared by every parity tool (SketchGloc and Sketch-BERT).

A `ParityReport` collects one row per reference array: compared (with the maximum absolute and
relative error and ok/FAIL) or "not compared" with a reason. `print_table` writes the rows and the
summary line the DESIGN.md contract asks for; `exit_code` is 0 only when every compared array is
within tolerance and at least one array was compared.
"""

import dataclasses
import sys

import numpy as np


@dataclasses.dataclass
class ParityRow:
    """One reference array: its comparison result or the reason it was not compared."""

    name: str
    shape: tuple
    max_abs: float = float("nan")
    max_rel: float = float("nan")
    ok: bool = False
    reason: str = ""

    @property
    def compared(self) -> bool:
        return not self.reason


class ParityReport:
    """Accumulates comparisons of port outputs against reference arrays.

    Args:
        rtol: relative tolerance (`|a - r| <= atol + rtol * |r|`, element-wise, as numpy's
            `allclose`).
        atol: absolute tolerance.
    """

    def __init__(self, rtol: float = 1e-4, atol: float = 1e-5):
        self.rtol = rtol
        self.atol = atol
        self.rows = []

    def compare(self, name, actual, reference, rtol=None, atol=None) -> bool:
        """Compares `actual` with `reference` and records a row; returns whether it is ok."""
        rtol = self.rtol if rtol is None else rtol
        atol = self.atol if atol is None else atol
        reference = np.asarray(reference)
        actual = np.asarray(actual)
        if actual.shape != reference.shape:
            self.rows.append(
                ParityRow(name, reference.shape, ok=False, max_abs=float("inf"),
                          max_rel=float("inf"))
            )
            print(
                f"  shape mismatch for {name}: port {actual.shape} vs reference "
                f"{reference.shape}",
                file=sys.stderr,
            )
            return False
        actual64 = actual.astype(np.float64)
        reference64 = reference.astype(np.float64)
        diff = np.abs(actual64 - reference64)
        max_abs = float(diff.max()) if diff.size else 0.0
        denominator = np.maximum(np.abs(reference64), np.finfo(np.float64).tiny)
        max_rel = float((diff / denominator).max()) if diff.size else 0.0
        ok = bool(np.all(diff <= atol + rtol * np.abs(reference64))) and bool(
            np.all(np.isfinite(actual64) == np.isfinite(reference64))
        )
        self.rows.append(ParityRow(name, reference.shape, max_abs, max_rel, ok))
        return ok

    def skip(self, name, shape, reason: str) -> None:
        """Records an array the port cannot produce, with the reason."""
        self.rows.append(ParityRow(name, tuple(shape), reason=reason))

    @property
    def num_compared(self) -> int:
        return sum(row.compared for row in self.rows)

    @property
    def num_failed(self) -> int:
        return sum(row.compared and not row.ok for row in self.rows)

    def print_table(self, stream=None) -> None:
        """Prints one line per array and the summary line."""
        stream = stream or sys.stdout
        width = max([len(row.name) for row in self.rows] + [10])
        print(f"{'array':<{width}}  {'shape':<18} {'max_abs':>11} {'max_rel':>11}  result",
              file=stream)
        for row in self.rows:
            shape = "x".join(str(d) for d in row.shape) or "scalar"
            if row.compared:
                verdict = "ok" if row.ok else "FAIL"
                print(f"{row.name:<{width}}  {shape:<18} {row.max_abs:11.3e} "
                      f"{row.max_rel:11.3e}  {verdict}", file=stream)
            else:
                print(f"{row.name:<{width}}  {shape:<18} {'-':>11} {'-':>11}  "
                      f"not compared: {row.reason}", file=stream)
        total = len(self.rows)
        status = "PASS" if self.exit_code() == 0 else "FAIL"
        print(f"{status}: {self.num_compared}/{total} arrays compared, "
              f"{self.num_failed} failed (rtol={self.rtol:g}, atol={self.atol:g})", file=stream)

    def exit_code(self) -> int:
        """0 when at least one array was compared and none failed, else 1."""
        return 0 if self.num_compared > 0 and self.num_failed == 0 else 1
