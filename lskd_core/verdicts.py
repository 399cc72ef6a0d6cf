"""The statistics of the verdicts: intervals, tests, power and Holm (pure functions, no claims).

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


import numpy as np
from scipy import stats

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
# How the prose names each verdict, in the order a count lists them.
VERDICT_WORDS = {"supported": "supported", "not supported": "not supported", SMALLER: SMALLER,
                 "inconclusive": "inconclusive", "not run": "not run"}


def count_words(verdicts) -> str:
    """``"3 supported, 1 not supported and 1 inconclusive"``: every verdict counted, so the parts add up
    to the number of rows (a verdict outside ``VERDICT_WORDS`` is named as it is, after the others)."""
    counts: dict[str, int] = {}
    for v in verdicts:
        counts[v] = counts.get(v, 0) + 1
    order = [v for v in VERDICT_WORDS if v in counts] + [v for v in counts if v not in VERDICT_WORDS]
    parts = [f"{counts[v]} {VERDICT_WORDS.get(v, v)}" for v in order]
    return "none" if not parts else parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


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
    elif len(diffs) >= 2:
        # Every seed gave the same difference (a count, say): the t statistic is infinite, and its limit
        # is p = 0 for a nonzero difference, 1 for none, so Holm's adjustment still ranks the claim.
        p = 0.0 if mean != 0 else 1.0
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
        return {"r": None, "95% CI": "n/a", "n points": n, "verdict": "not testable", "p": None, "detectable": None}
    res = stats.pearsonr(x, y)
    r = float(res.statistic)
    z, half = math.atanh(min(max(r, -0.999999), 0.999999)), stats.norm.ppf(0.975) / math.sqrt(n - 3)
    lo, hi = math.tanh(z - half), math.tanh(z + half)
    lo_s, hi_s = sorted((expected_sign * lo, expected_sign * hi))
    # The smallest |r| found with 80 % power at this n: atanh(r) must clear the interval's half-width
    # by the 80 % normal quantile (the Fisher-z counterpart of detectable_effect).
    detectable = math.tanh((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) / math.sqrt(n - 3))
    return {"r": round(r, 3), "95% CI": f"[{lo:.3f}, {hi:.3f}]", "n points": n, "verdict": verdict(lo_s, hi_s),
            "p": round(float(res.pvalue), 4), "detectable": round(detectable, 3)}


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


def adjusted_row(per_seed, covariate) -> dict:
    """A per-seed contrast adjusted for a per-seed covariate (the two teachers' accuracy gap).

    Fits ``d_s = a + b c_s + e_s`` by least squares over seeds and reports the intercept ``a``:
    the contrast expected where the covariate is zero, e.g. at teachers of equal accuracy. Its
    95 % interval uses the t distribution with ``n - 2`` degrees of freedom; fewer than 3 seeds,
    or a covariate that does not vary, give no interval. This separates "a smoothed teacher's
    student is worse" from "a less accurate teacher's student is worse".
    """
    d, c = np.asarray(list(per_seed), dtype=float), np.asarray(list(covariate), dtype=float)
    n = len(d)
    if n < 3 or np.ptp(c) == 0:
        return {"adjusted mean": None, "adjusted 95% CI": "n/a", "slope per point": None, "adjusted verdict": "inconclusive"}
    X = np.column_stack([np.ones(n), c])
    coef, *_ = np.linalg.lstsq(X, d, rcond=None)
    resid = d - X @ coef
    s2 = float(resid @ resid) / (n - 2)
    se = math.sqrt(s2 * float(np.linalg.inv(X.T @ X)[0, 0]))
    half = float(stats.t.ppf(0.975, n - 2)) * se
    a = float(coef[0])
    return {"adjusted mean": round(a, 3), "adjusted 95% CI": f"[{a - half:.3f}, {a + half:.3f}]",
            "slope per point": round(float(coef[1]), 3), "adjusted verdict": verdict(a - half, a + half)}
