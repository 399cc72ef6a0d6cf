"""Claim verdicts computed from the data, never written by hand.

A claim compares conditions through a contrast of per-seed accuracies. Seeds
are *paired*: a student of seed s sees the same initial weights and the same
batches whatever its teacher and temperature, so per-seed differences remove
the between-seed variance. The rule:

- ``supported``: the two-sided 95 % t-interval of the mean paired difference
  lies entirely on the claimed side of zero;
- ``not supported``: it lies entirely on the other side;
- ``inconclusive``: it contains zero, or fewer than 2 seeds exist.

Seed s trains both teachers and all their students, so the unit of variation
is the seed, covering teacher and student together. Across the twenty-odd
claims of a profile, ``holm_verdicts`` gives the family-wise verdict beside
the per-claim one.
"""

from __future__ import annotations

import math

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
from scipy import stats

Acc = Mapping[tuple[float, float | None], Mapping[int, float]]  # (alpha, T) -> {seed: accuracy}
Lookup = Callable[[float, float | None], float | None]  # (alpha, T) -> accuracy, None if absent


@dataclass(frozen=True)
class Claim:
    key: str
    text: str
    # contrast(lookup) -> the quantity that is > 0 when the claim holds. The same
    # function is applied to one seed of ours and to a table of the paper.
    contrast: Callable[[Lookup], float | None]


def _missing(*values: float | None) -> bool:
    return any(v is None for v in values)


def _diff(a: tuple[float, float | None], b: tuple[float, float | None]) -> Callable[[Lookup], float | None]:
    """Contrast ``acc(a) - acc(b)``."""
    def contrast(g: Lookup) -> float | None:
        x, y = g(*a), g(*b)
        return None if _missing(x, y) else x - y
    return contrast


def _drop_more(t_lo: float, t_hi: float) -> Callable[[Lookup], float | None]:
    """Contrast ``[acc(LS, t_lo) - acc(LS, t_hi)] - [acc(plain, t_lo) - acc(plain, t_hi)]``."""
    def contrast(g: Lookup) -> float | None:
        v = g(0.1, t_lo), g(0.1, t_hi), g(0.0, t_lo), g(0.0, t_hi)
        return None if _missing(*v) else (v[0] - v[1]) - (v[2] - v[3])
    return contrast


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


def interval_row(per_seed) -> dict:
    """Mean of a per-seed contrast (> 0 when the claim holds), its 95 % t-interval and the verdict.

    Also: the two-sided p-value of the paired t-test (for the Holm adjustment
    across a profile's claims) and the interval's half-width, the smallest
    mean difference this design could have called non-zero with the spread it saw.
    """
    diffs = np.array(list(per_seed), dtype=float)
    mean, lo, hi = paired_interval(diffs)
    if len(diffs) >= 2 and np.std(diffs, ddof=1) > 0:
        p = float(stats.ttest_1samp(diffs, 0.0).pvalue)
    else:
        p = float("nan")
    return {"ours: mean diff": round(mean, 3),
            "95% CI": f"[{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else "n/a (1 seed)",
            "n seeds": len(diffs), "verdict": verdict(lo, hi),
            "p": round(p, 4) if np.isfinite(p) else None,
            "detectable": round(float(hi - lo) / 2, 3) if np.isfinite(lo) else None}


def correlation_row(x, y, expected_sign: int = -1) -> dict:
    """Pearson's r between paired measurements, its 95 % Fisher-z interval and the verdict.

    ``z = atanh(r)`` is close to normal with standard error ``1 / sqrt(n - 3)``,
    so the interval is ``tanh(z -/+ 1.96 / sqrt(n - 3))``. The verdict asks
    whether the sign is ``expected_sign``: supported when the whole interval
    has it, not supported when the whole interval has the other sign. The
    interval treats the n points as independent; points that share a seed are
    not, so it is optimistic and the chapter says so.
    """
    x, y = np.asarray(list(x), dtype=float), np.asarray(list(y), dtype=float)
    n = len(x)
    if n < 4 or np.std(x) == 0 or np.std(y) == 0:
        return {"r": None, "95% CI": "n/a", "n points": n, "verdict": "not testable", "p": None}
    res = stats.pearsonr(x, y)
    r = float(res.statistic)
    z, half = math.atanh(min(max(r, -0.999999), 0.999999)), stats.norm.ppf(0.975) / math.sqrt(n - 3)
    lo, hi = math.tanh(z - half), math.tanh(z + half)
    lo_s, hi_s = sorted((expected_sign * lo, expected_sign * hi))
    return {"r": round(r, 3), "95% CI": f"[{lo:.3f}, {hi:.3f}]", "n points": n, "verdict": verdict(lo_s, hi_s),
            "p": round(float(res.pvalue), 4)}


def holm(pvalues: list[float | None], level: float = 0.05) -> list[bool | None]:
    """Holm's step-down procedure: which hypotheses are rejected at family-wise ``level``.

    ``None`` p-values (claims that could not be tested) are left out of the
    family and get ``None``.
    """
    idx = [i for i, p in enumerate(pvalues) if p is not None and np.isfinite(p)]
    order = sorted(idx, key=lambda i: pvalues[i])
    out: list[bool | None] = [None] * len(pvalues)
    m, still = len(order), True
    for rank, i in enumerate(order):
        still = still and pvalues[i] <= level / (m - rank)
        out[i] = still
    return out


def holm_verdicts(rows: list[dict]) -> list[str]:
    """The verdict of each row after Holm's adjustment across all ``rows`` (one profile's claims)."""
    rejected = holm([r.get("p") for r in rows])
    out = []
    for r, rej in zip(rows, rejected):
        if r.get("verdict") == "not run":
            out.append("not run")
        elif rej:
            out.append("supported" if (r.get("ours: mean diff") or 0) > 0 else "not supported")
        else:
            out.append("inconclusive")
    return out


def _seed_lookup(acc: Acc, seed: int) -> Lookup:
    def g(alpha: float, t: float | None) -> float | None:
        cell = acc.get((alpha, None if t is None else float(t)))
        return None if cell is None else cell.get(seed)
    return g


# Every image-classification table of the paper with a teacher-by-temperature grid: no
# default subset hides a row that bears on a claim (the ResNet-50 students included).
IMAGE_TABLES = ("2A", "2A-R50", "2B", "2B-R50", "4", "B.1", "B.3")
TRANSLATION_TABLES = ("5", "B.2")


def paper_evidence(claim: Claim, tables) -> str:
    """The paper's contrast for ``claim`` in every table that has its cells, split into for and against."""
    from .paper import top1

    got = [(tab, claim.contrast(lambda a, t, _tab=tab: top1(_tab, a, t))) for tab in tables]
    pro = [f"{tab} {d:+.2f}" for tab, d in got if d is not None and d > 0]
    con = [f"{tab} {d:+.2f}" for tab, d in got if d is not None and d <= 0]
    return f"for: {', '.join(pro) or 'none'}; against: {', '.join(con) or 'none'}"


def evaluate_claims(acc: Acc, seeds, claims=None, paper_tables=IMAGE_TABLES):
    """One row per claim: paper differences, our paired mean difference, its CI and the verdict.

    ``claims`` defaults to the student grid's claims of ``lskd_core.claims``.
    """
    import pandas as pd

    from .paper import top1

    if claims is None:
        from .claims import GRID_CLAIMS as claims

    if len(set(seeds)) != len(list(seeds)):
        raise ValueError(f"seeds {list(seeds)} repeat; a repeated seed is not a new sample")
    rows = []
    for c in claims:
        row = {"key": c.key, "claim": c.text}
        for tab in paper_tables:
            d = c.contrast(lambda a, t, _tab=tab: top1(_tab, a, t))
            row[f"paper {tab}"] = None if d is None else round(d, 3)
        row["paper evidence"] = paper_evidence(c, paper_tables)
        per_seed = [c.contrast(_seed_lookup(acc, s)) for s in seeds]
        if _missing(*per_seed):
            row.update({"ours: mean diff": None, "95% CI": "n/a", "n seeds": 0, "verdict": "not run"})
            rows.append(row)
            continue
        row.update(interval_row(per_seed))
        rows.append(row)
    return pd.DataFrame(rows)


def eta_claims(records, ls_alpha: float = 0.1, plain_alpha: float = 0.0, paper_tables=("3-R18", "3-R50", "B.4")):
    """Verdicts on systematic diffusion from ``experiments.eta_records`` output.

    Per seed, eta is averaged over the target classes; the seeds are the
    sample. The paper's column is the same average over its ten targets.
    """
    import pandas as pd

    from .paper import ETA, ETA_COLUMNS

    mean = records.groupby(["alpha", "seed", "split", "set"]).eta.mean()

    def per_seed(alpha, split, s):
        return mean.loc[(alpha, slice(None), split, s)].to_numpy()

    def paper_mean(tab, split, s):
        col = ETA_COLUMNS.index(f"{'train' if split == 'train' else 'val'} {s}")
        return round(float(np.mean([v[col] for v in ETA[tab]["rows"].values()])), 3)

    rows = []
    splits = [sp for sp in ("train", "test") if sp in set(records.split)]
    alphas = set(records.alpha)
    for split in splits:
        name = "train" if split == "train" else "validation/test"
        # eta(S1) < 0 and eta(S2) > 0 are nearly forced together by the shared normaliser, so they
        # are one claim: per seed, min(-eta(S1), eta(S2)) > 0 exactly when both signs hold.
        row = {"key": f"eta_signature_{split}",
               "claim": f"LS teacher (alpha={ls_alpha}), {name}: eta(S1) < 0 < eta(S2)"}
        row.update({f"paper {t}": round(min(-paper_mean(t, split, "S1"), paper_mean(t, split, "S2")), 3)
                    for t in paper_tables})
        row.update(interval_row(np.minimum(-per_seed(ls_alpha, split, "S1"), per_seed(ls_alpha, split, "S2"))))
        rows.append(row)
        if plain_alpha in alphas:
            row = {"key": f"eta_s1_lower_with_ls_{split}",
                   "claim": f"{name}: eta(S1) is lower with the LS teacher than with the plain one"}
            row.update({f"paper {t}": None for t in paper_tables})
            row.update(interval_row(per_seed(plain_alpha, split, "S1") - per_seed(ls_alpha, split, "S1")))
            rows.append(row)
    return pd.DataFrame(rows)
