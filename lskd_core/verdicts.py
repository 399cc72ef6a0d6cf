"""Claim verdicts computed from the data, never written by hand.

A claim compares conditions through a contrast of per-seed accuracies. Seeds
are *paired*: a student of seed s sees the same initial weights and the same
batches whatever its teacher and temperature, so per-seed differences remove
the between-seed variance. The rule:

- ``supported``: the two-sided 95 % t-interval of the mean paired difference
  lies entirely on the claimed side of zero;
- ``not supported``: it lies entirely on the other side;
- ``inconclusive``: it contains zero, or fewer than 2 seeds exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
from scipy import stats

Acc = Mapping[tuple[float, float], Mapping[int, float]]  # (alpha, T) -> {seed: accuracy}


@dataclass(frozen=True)
class Claim:
    key: str
    text: str
    # contrast(acc, seed) -> the quantity that is > 0 when the claim holds
    contrast: Callable[[Acc, int], float]
    paper: Callable[[Callable[[float, float], float | None]], float | None]


def paired_interval(diffs: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided t-interval of paired differences."""
    n = len(diffs)
    mean = float(np.mean(diffs))
    if n < 2:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, n - 1) * float(np.std(diffs, ddof=1)) / np.sqrt(n)
    return mean, mean - half, mean + half


def verdict(lo: float, hi: float) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "inconclusive"
    if lo > 0:
        return "supported"
    if hi < 0:
        return "not supported"
    return "inconclusive"


def _a(acc: Acc, alpha: float, t: float, s: int) -> float:
    return acc[(alpha, float(t))][s]


GRID_CLAIMS: tuple[Claim, ...] = (
    Claim("ls_helps_at_T1", "At T=1 the LS teacher (alpha=0.1) gives a better student than the plain teacher",
          lambda acc, s: _a(acc, 0.1, 1, s) - _a(acc, 0.0, 1, s),
          lambda p: None if p(0.1, 1) is None else p(0.1, 1) - p(0.0, 1)),
    Claim("ls_hurts_at_T3", "At T=3 the LS teacher gives a worse student than the plain teacher",
          lambda acc, s: _a(acc, 0.0, 3, s) - _a(acc, 0.1, 3, s),
          lambda p: None if p(0.1, 3) is None else p(0.0, 3) - p(0.1, 3)),
    Claim("ls_drops_more_T1_to_T3", "With the LS teacher, accuracy drops more from T=1 to T=3 than with the plain teacher",
          lambda acc, s: (_a(acc, 0.1, 1, s) - _a(acc, 0.1, 3, s)) - (_a(acc, 0.0, 1, s) - _a(acc, 0.0, 3, s)),
          lambda p: None if p(0.1, 3) is None else (p(0.1, 1) - p(0.1, 3)) - (p(0.0, 1) - p(0.0, 3))),
    Claim("ls_hurts_at_T64", "At T=64 the LS teacher gives a worse student than the plain teacher",
          lambda acc, s: _a(acc, 0.0, 64, s) - _a(acc, 0.1, 64, s),
          lambda p: None if p(0.1, 64) is None else p(0.0, 64) - p(0.1, 64)),
)


def evaluate_claims(acc: Acc, seeds, claims=GRID_CLAIMS, paper_tables=("2A", "2B", "4", "B.1", "B.3")):
    """One row per claim: paper differences, our paired mean difference, its CI and the verdict."""
    import pandas as pd

    from .paper import top1

    rows = []
    for c in claims:
        row = {"claim": c.text}
        for tab in paper_tables:
            d = c.paper(lambda a, t, _tab=tab: top1(_tab, a, t))
            row[f"paper {tab}"] = None if d is None else round(d, 3)
        try:
            diffs = np.array([c.contrast(acc, s) for s in seeds], dtype=float)
        except KeyError:
            row.update({"ours: mean diff": None, "95% CI": "n/a", "n seeds": 0, "verdict": "not run"})
            rows.append(row)
            continue
        mean, lo, hi = paired_interval(diffs)
        row.update({"ours: mean diff": round(mean, 3),
                    "95% CI": f"[{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else "n/a (1 seed)",
                    "n seeds": len(diffs), "verdict": verdict(lo, hi)})
        rows.append(row)
    return pd.DataFrame(rows)
