"""Claim verdicts computed from the data, never written by hand.

A claim compares conditions through a contrast of per-seed accuracies. Seeds
are *paired*: a student of seed s sees the same initial weights and the same
batches whatever its teacher and temperature, so per-seed differences remove
the between-seed variance. The rule:

- ``supported``: the two-sided 95 % t-interval of the mean paired difference
  lies entirely on the claimed side of zero;
- ``not supported``: it lies entirely on the other side;
- ``smaller than the paper's effect``: it contains zero, and two one-sided
  tests put the mean inside the registered margin (the effect expected if the
  paper is right, ``results/preregistration.toml``): an effect of the paper's
  size is ruled out. Only rows with an expected effect can get it;
- ``inconclusive``: none of these, or fewer than 2 seeds exist.

Each row also shows ``detectable``: the smallest true effect the design finds
with 80 % power at the spread it saw, so an inconclusive row says how large an
effect it could have missed.

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


# The four-way verdict's third outcome: the data bound the effect inside the registered margin,
# so an effect of the paper's size is ruled out although a small one may remain.
SMALLER = "smaller than the paper's effect"


def detectable_effect(sd: float, n: int, power: float = 0.8, level: float = 0.95) -> float:
    """The smallest true mean difference that a two-sided paired t-test at ``level`` detects with ``power``.

    With ``n`` seeds and per-seed standard deviation ``sd``, the test statistic
    of a true mean ``delta`` follows a noncentral t with ``n - 1`` degrees of
    freedom and noncentrality ``delta * sqrt(n) / sd``; the power is
    ``P(|t| > t_crit)``. This solves ``power(delta) = power`` for ``delta``.
    For large ``n`` it tends to ``(z_{(1+level)/2} + z_power) * sd / sqrt(n)``
    (2.80 sd / sqrt(n) at 95 % and 80 %). Note that the interval's half-width,
    ``t_crit * sd / sqrt(n)``, is detected only about half the time.
    """
    if n < 2 or not np.isfinite(sd):
        return float("nan")
    if sd == 0:
        return 0.0
    df, crit = n - 1, stats.t.ppf(0.5 + level / 2, n - 1)

    def power_at(delta: float) -> float:
        # P(|Z + nc| > crit * sqrt(V / df)) with V ~ chi2(df), integrated over V: scipy's noncentral t
        # returns NaN far in its tails (few seeds, large noncentrality), this stays finite.
        from scipy.integrate import quad

        nc = delta * math.sqrt(n) / sd

        def given(v: float) -> float:
            c = crit * math.sqrt(v / df)
            return (stats.norm.sf(c - nc) + stats.norm.cdf(-c - nc)) * stats.chi2.pdf(v, df)

        lo, hi = stats.chi2.ppf(1e-12, df), stats.chi2.ppf(1 - 1e-12, df)  # where V's mass lies, for any df
        return float(quad(given, lo, hi, limit=200)[0])

    from scipy.optimize import brentq

    hi = 4 * sd / math.sqrt(n)  # power near 0.98 for large n; the loop widens it for small n
    for _ in range(60):
        if power_at(hi) >= power:
            break
        hi *= 2
    return float(brentq(lambda d: power_at(d) - power, 0.0, hi, xtol=1e-10))


def tost(diffs, margin: float, level: float = 0.95) -> tuple[bool, float]:
    """Two one-sided t-tests: is the mean paired difference inside ``(-margin, margin)``?

    Returns (equivalent, p): each one-sided test at ``1 - level`` rejects, i.e.
    the ``2 * level - 1`` (90 %) t-interval lies inside the margin; ``p`` is the
    larger of the two one-sided p-values.
    """
    d = np.asarray(list(diffs), dtype=float)
    n = len(d)
    if n < 2 or not margin > 0:
        return False, float("nan")
    sd = float(np.std(d, ddof=1))
    if sd == 0:
        return bool(abs(d.mean()) < margin), (0.0 if abs(d.mean()) < margin else 1.0)
    se = sd / math.sqrt(n)
    p_low = stats.t.sf((d.mean() + margin) / se, n - 1)   # H0: mean <= -margin
    p_high = stats.t.cdf((d.mean() - margin) / se, n - 1)  # H0: mean >= +margin
    p = float(max(p_low, p_high))
    return p < 1 - level, p


def four_way(lo: float, hi: float, equivalent: bool) -> str:
    """supported / not supported from the 95 % interval; else the TOST decides between
    "smaller than the paper's effect" and inconclusive."""
    v = verdict(lo, hi)
    if v != "inconclusive":
        return v
    return SMALLER if equivalent else "inconclusive"


def interval_row(per_seed, expected: float | None = None, margin: float | None = None) -> dict:
    """Mean of a per-seed contrast (> 0 when the claim holds), its 95 % t-interval and the verdict.

    Also: the two-sided p-value of the paired t-test (for the Holm adjustment
    across a profile's claims), and ``detectable``, the smallest true mean
    difference this design finds with 80 % power at the spread it saw
    (``detectable_effect``). With a registered ``expected`` effect (the paper's,
    in our units) the row shows it, and the verdict is four-way: a contrast
    whose 90 % interval lies inside ``(-margin, margin)`` (``margin`` defaults
    to ``expected``) is "smaller than the paper's effect".
    """
    diffs = np.array(list(per_seed), dtype=float)
    mean, lo, hi = paired_interval(diffs)
    sd = float(np.std(diffs, ddof=1)) if len(diffs) >= 2 else float("nan")
    if len(diffs) >= 2 and sd > 0:
        p = float(stats.ttest_1samp(diffs, 0.0).pvalue)
    else:
        p = float("nan")
    det = detectable_effect(sd, len(diffs))
    row = {"ours: mean diff": round(mean, 3),
           "95% CI": f"[{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else "n/a (1 seed)",
           "n seeds": len(diffs), "verdict": verdict(lo, hi),
           "p": round(p, 4) if np.isfinite(p) else None,
           "detectable": round(det, 3) if np.isfinite(det) else None}
    if expected is not None:
        m = abs(expected) if margin is None else margin
        eq, p_eq = tost(diffs, m)
        row.update({"expected": round(float(expected), 3), "margin": round(float(m), 3),
                    "verdict": four_way(lo, hi, eq), "p (TOST)": round(p_eq, 4) if np.isfinite(p_eq) else None})
    return row


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
    """The verdict of each row after Holm's adjustment across all ``rows`` (one profile's claims).

    The paired t-tests form one family; the equivalence tests (``p (TOST)``) of
    the rows that carry an expected effect form another, so a row is "smaller
    than the paper's effect" after adjustment only if its TOST survives Holm too.
    """
    rejected = holm([r.get("p") for r in rows])
    equivalent = holm([r.get("p (TOST)") for r in rows])
    out = []
    for r, rej, eq in zip(rows, rejected, equivalent):
        if r.get("verdict") == "not run":
            out.append("not run")
        elif rej:
            out.append("supported" if (r.get("ours: mean diff") or 0) > 0 else "not supported")
        elif eq:
            out.append(SMALLER)
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


# Every experiment of the paper was repeated three times; its D tables give the standard deviation.
PAPER_RUNS = 3


def paper_noise(contrast: Callable[[Lookup], float | None], table: str) -> float | None:
    """Two standard errors of the paper's own value of a contrast, from the table's reported spreads.

    A grid contrast is linear in the cells it reads (a difference, or a difference of
    differences); its coefficients are found by evaluating it on indicator tables. With each
    cell a mean of ``PAPER_RUNS`` independent runs of standard deviation ``sd``, the contrast's
    standard error is ``sqrt(sum c_i^2 sd_i^2 / PAPER_RUNS)``. None when the table reports no
    spread for a cell the contrast reads.
    """
    from .paper import GRID

    std, rows = GRID[table].get("std"), GRID[table]["rows"]
    if not std:
        return None

    def lookup(hot):
        def g(a, t):
            key = (a, None if t is None else float(t))
            return None if key not in rows else (1.0 if key == hot else 0.0)
        return g

    zero = contrast(lookup(None))
    if zero is None:
        return None
    var = 0.0
    for cell in rows:
        coef = contrast(lookup(cell)) - zero
        if coef:
            sd = std.get(cell)
            if sd is None:
                return None
            var += coef ** 2 * sd ** 2
    return 2 * math.sqrt(var / PAPER_RUNS)


def paper_evidence(claim: Claim, tables) -> str:
    """The paper's contrast for ``claim`` in every table that has its cells: for the claim or
    against it only where it lies beyond two standard errors of the paper's own spread (D.1-D.4),
    "within the paper's noise" otherwise, and apart where the table reports no spread."""
    from .paper import top1

    groups: dict[str, list[str]] = {"for": [], "against": [], "within the paper's noise": [], "no spread reported": []}
    for tab in tables:
        d = claim.contrast(lambda a, t, _tab=tab: top1(_tab, a, t))
        if d is None:
            continue
        noise = paper_noise(claim.contrast, tab)
        if noise is None:
            groups["no spread reported"].append(f"{tab} {d:+.2f}")
        elif abs(d) <= noise:
            groups["within the paper's noise"].append(f"{tab} {d:+.2f} (±{noise:.2f})")
        else:
            groups["for" if d > 0 else "against"].append(f"{tab} {d:+.2f} (±{noise:.2f})")
    return "; ".join(f"{k}: {', '.join(v) or 'none'}" for k, v in groups.items())


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

    The signature is the paper's per-target statement: eta(S1) < 0 and
    eta(S2) > 0 for *every* target class. Per seed the contrast is the
    smallest, over targets, of ``min(-eta(S1), eta(S2))``: positive exactly when
    every target shows both signs. The seeds are the sample. The paper's column
    is the same minimum over its ten targets. The comparison with the plain
    teacher averages eta(S1) over the targets per seed.
    """
    import pandas as pd

    from .paper import ETA, ETA_COLUMNS

    mean = records.groupby(["alpha", "seed", "split", "set"]).eta.mean()

    def per_seed(alpha, split, s):
        return mean.loc[(alpha, slice(None), split, s)].to_numpy()

    wide = records.pivot_table(index=["alpha", "seed", "split", "target"], columns="set", values="eta")
    worst = np.minimum(-wide["S1"], wide["S2"]).groupby(level=["alpha", "seed", "split"]).min()

    def signature(alpha, split):
        return worst.loc[(alpha, slice(None), split)].to_numpy()

    def paper_worst(tab, split):
        c1, c2 = (ETA_COLUMNS.index(f"{'train' if split == 'train' else 'val'} {s}") for s in ("S1", "S2"))
        return round(float(min(min(-v[c1], v[c2]) for v in ETA[tab]["rows"].values())), 3)

    rows = []
    splits = [sp for sp in ("train", "test") if sp in set(records.split)]
    alphas = set(records.alpha)
    for split in splits:
        name = "train" if split == "train" else "validation/test"
        # eta(S1) < 0 and eta(S2) > 0 are nearly forced together by the shared normaliser, so they
        # are one claim: per seed and target, min(-eta(S1), eta(S2)) > 0 exactly when both signs hold.
        row = {"key": f"eta_signature_{split}",
               "claim": f"LS teacher (alpha={ls_alpha}), {name}: eta(S1) < 0 < eta(S2) for every target"}
        row.update({f"paper {t}": paper_worst(t, split) for t in paper_tables})
        row.update(interval_row(signature(ls_alpha, split)))
        rows.append(row)
        if plain_alpha in alphas:
            row = {"key": f"eta_s1_lower_with_ls_{split}",
                   "claim": f"{name}: eta(S1) is lower with the LS teacher than with the plain one"}
            row.update({f"paper {t}": None for t in paper_tables})
            row.update(interval_row(per_seed(plain_alpha, split, "S1") - per_seed(ls_alpha, split, "S1")))
            rows.append(row)
    return pd.DataFrame(rows)
