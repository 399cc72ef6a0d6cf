"""Verdicts are computed from the data: checked against hand-worked intervals."""

import math

import numpy as np
import pytest

from lskd_core.paper import GRID, top1
from lskd_core.claims import GRID_CLAIMS
from lskd_core.claims import evaluate_claims
from lskd_core.verdicts import paired_interval, verdict


def test_paired_interval_hand_computed():
    d = np.array([1.0, 2.0, 3.0])
    mean, lo, hi = paired_interval(d)
    # mean 2, sd 1, se 1/sqrt(3), t_{0.975,2} = 4.302653
    half = 4.302652729911275 / math.sqrt(3)
    assert mean == 2.0 and lo == pytest.approx(2 - half) and hi == pytest.approx(2 + half)


@pytest.mark.parametrize("lo,hi,want", [(0.1, 2, "supported"), (-2, -0.1, "not supported"),
                                        (-1, 1, "inconclusive"), (float("nan"), float("nan"), "inconclusive")])
def test_verdict_rule(lo, hi, want):
    assert verdict(lo, hi) == want


def _acc(effect: float, noise: float, seeds=(0, 1, 2, 3, 4)):
    rng = np.random.default_rng(0)
    base = {1: 80.0, 2: 79.0, 3: 78.0, 64: 70.0}
    out = {}
    for a in (0.0, 0.1):
        for t, b in base.items():
            # LS helps by `effect` at T=1 and hurts by `effect` * log2(T) + effect elsewhere
            shift = effect if t == 1 else -effect * (1 + math.log2(t))
            out[(a, float(t))] = {s: b + (shift if a == 0.1 else 0) + noise * rng.normal() for s in seeds}
    return out


def test_claims_follow_the_data_not_a_script():
    seeds = (0, 1, 2, 3, 4)
    pos = evaluate_claims(_acc(1.0, 0.05), seeds)
    assert (pos.verdict == "supported").all()
    neg = evaluate_claims(_acc(-1.0, 0.05), seeds)
    assert (neg.verdict == "not supported").all()
    noisy = evaluate_claims(_acc(0.0, 1.0), seeds)
    # no true effect: never supported or contradicted; where the paper's expected effect (scaled to these
    # accuracies) is large against the noise, the equivalence test rules it out
    assert set(noisy.verdict) <= {"inconclusive", "smaller than the paper's effect"}
    assert (noisy.set_index("key").loc["ls_hurts_at_T64", "verdict"] == "smaller than the paper's effect")
    assert (noisy.expected > 0).all() and (noisy.margin == noisy.expected).all()


def test_missing_condition_is_reported_not_run():
    acc = {(0.0, 1.0): {0: 1.0}, (0.1, 1.0): {0: 2.0}}
    out = evaluate_claims(acc, [0])
    # rule_of_thumb compares the lowest-T smoothed cell with every other cell present: here only one
    assert out.verdict.tolist() == ["inconclusive", "not run", "not run", "not run", "inconclusive"]


def test_teacher_claim_uses_the_same_rule():
    from lskd_core.claims import teacher_claim

    acc = {(0.0, None): {0: 80.0, 1: 81.0, 2: 80.5}, (0.1, None): {0: 82.0, 1: 83.1, 2: 82.4}}
    out = evaluate_claims(acc, [0, 1, 2], [teacher_claim(0.0, 0.1)], paper_tables=("2A", "2B"))
    assert out.verdict.tolist() == ["supported"]
    assert out["paper 2A"].item() == pytest.approx(76.196 - 76.130, abs=1e-3)
    assert out["ours: mean diff"].item() == pytest.approx(2.0, abs=1e-3)


def test_teacher_claim_for_other_alphas_reads_those_teachers_with_the_registrys_contrast():
    from lskd_core.claims import teacher_claim

    # alpha 0.3 against 0.1: the 0.0 teacher's numbers must not enter, and the sign is smoothed - plain.
    acc = {(0.0, None): {0: 99.0, 1: 99.0}, (0.1, None): {0: 80.0, 1: 81.0}, (0.3, None): {0: 79.0, 1: 79.5}}
    out = evaluate_claims(acc, [0, 1], [teacher_claim(0.1, 0.3)], paper_tables=())
    assert out["ours: mean diff"].item() == pytest.approx(((79.0 - 80.0) + (79.5 - 81.0)) / 2)
    assert out.key.item() == "ls_teacher_more_accurate"


def test_paper_differences_match_the_tables():
    # "5.05 %" quoted in Sec. 5 is 71.616 - 66.570 (Table 2A, alpha=0.1, T=1 -> 3).
    assert top1("2A", 0.1, 1) - top1("2A", 0.1, 3) == pytest.approx(5.046)
    c = {c.key: c for c in GRID_CLAIMS}
    assert c["ls_hurts_at_T64"].contrast(lambda a, t: top1("2B", a, t)) == pytest.approx(73.611 - 67.161)
    assert c["ls_hurts_at_T64"].contrast(lambda a, t: top1("B.1", a, t)) is None  # B.1 has no T=64 row
    assert all(len(v["rows"]) >= 4 for v in GRID.values())


def test_eta_claims_from_records():
    import pandas as pd

    from lskd_core.claims import eta_claims

    rows = []
    for seed, (e1, e2, p1) in enumerate([(-2.0, 0.5, -0.1), (-3.0, 0.4, 0.2), (-2.5, 0.6, 0.0)]):
        for target in (0, 1):  # two targets with the same values: the per-seed mean is e1
            rows += [{"alpha": 0.1, "seed": seed, "split": "train", "target": target, "set": "S1", "eta": e1},
                     {"alpha": 0.1, "seed": seed, "split": "train", "target": target, "set": "S2", "eta": e2},
                     {"alpha": 0.0, "seed": seed, "split": "train", "target": target, "set": "S1", "eta": p1},
                     {"alpha": 0.0, "seed": seed, "split": "train", "target": target, "set": "S2", "eta": 0.0}]
    out = eta_claims(pd.DataFrame(rows)).set_index("key")
    assert list(out.index) == ["eta_signature_train", "eta_s1_lower_with_ls_train"]
    assert list(out.verdict) == ["supported", "supported"]
    # the signature: per seed, min over targets of min(-eta(S1), eta(S2)) = 0.5, 0.4, 0.6
    assert out["ours: mean diff"].iloc[0] == 0.5
    assert out["ours: mean diff"].iloc[1] == round(0.1 / 3 + 2.5, 3)
    # Paper column: the worst of Table 3's ten ResNet-18 targets, ringneck snake's S2 of 0.058 (train).
    assert out["paper 3-R18"].iloc[0] == 0.058
    # one target without the signature in every seed fails the claim, as the paper states it per target
    one_bad = pd.DataFrame(rows)
    one_bad.loc[(one_bad.alpha == 0.1) & (one_bad.target == 1) & (one_bad.set == "S2"), "eta"] = -0.2
    row = eta_claims(one_bad).set_index("key").loc["eta_signature_train"]
    assert row["ours: mean diff"] == -0.2 and row.verdict == "not supported"
    flipped = pd.DataFrame(rows).assign(eta=lambda d: -d.eta)
    assert list(eta_claims(flipped).verdict)[:1] == ["not supported"]


def _holm_adjusted(p):
    """Holm's adjusted p-values, the textbook form: max over j <= i of (m - j + 1) p_(j), capped at 1."""
    order = np.argsort(p)
    m, adj, running = len(p), np.empty(len(p)), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


def test_holm_matches_adjusted_p_values():
    from lskd_core.verdicts import holm

    rng = np.random.default_rng(0)
    for _ in range(200):
        p = rng.uniform(0, 0.1, size=rng.integers(1, 25))
        assert holm(list(p)) == list(_holm_adjusted(p) <= 0.05)
    assert holm([0.01, None, 0.2]) == [True, None, False]


def test_interval_row_p_value_and_detectable_difference():
    from scipy import stats

    from lskd_core.verdicts import interval_row

    d = np.array([1.0, 1.2, 0.9, 1.4])
    row = interval_row(d)
    assert row["p"] == round(float(stats.ttest_1samp(d, 0).pvalue), 4)
    half = stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2
    # detectable is the 80 %-power effect, larger than the interval's half-width (detected about half the time)
    from lskd_core.verdicts import detectable_effect

    assert row["detectable"] == round(detectable_effect(d.std(ddof=1), 4), 3) and row["detectable"] > half


def test_repeated_seeds_are_rejected():
    from lskd_core.claims import evaluate_claims

    acc = {(a, float(t)): {0: 80.0} for a in (0.0, 0.1) for t in (1, 2, 3, 64)}
    with pytest.raises(ValueError, match="repeat"):
        evaluate_claims(acc, [0, 0])


def test_correlation_interval_is_fishers_z_computed_by_hand():
    from lskd_core.verdicts import correlation_row

    x = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    y = [1.0, 0.5, 0.9, -0.2, -1.1, -0.8, -2.0, -2.4]
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    r = sxy / (sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in y)) ** 0.5
    z, half = math.atanh(r), 1.959963984540054 / math.sqrt(n - 3)
    row = correlation_row(x, y)
    assert row["r"] == round(r, 3) and row["n points"] == n
    assert row["95% CI"] == f"[{math.tanh(z - half):.3f}, {math.tanh(z + half):.3f}]"
    assert row["verdict"] == "supported"  # strongly negative, as expected_sign=-1 asks
    assert correlation_row(x, [-v for v in y])["verdict"] == "not supported"
    assert correlation_row(x[:3], y[:3])["verdict"] == "not testable"


# ---------------------------------------------------------------- power and the four-way verdict


def test_detectable_effect_tends_to_the_normal_closed_form():
    from scipy import stats

    from lskd_core.verdicts import detectable_effect

    n, sd = 4000, 1.3
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert detectable_effect(sd, n) == pytest.approx(z * sd / math.sqrt(n), rel=2e-3)


def test_detectable_effect_has_80_percent_power_by_simulation():
    """An independent check: simulate paired t-tests at the returned effect and count rejections."""
    from scipy import stats

    from lskd_core.verdicts import detectable_effect

    n, sd = 10, 0.5
    delta = detectable_effect(sd, n)
    rng = np.random.default_rng(1)
    d = rng.normal(delta, sd, size=(40_000, n))
    t = d.mean(1) / (d.std(1, ddof=1) / math.sqrt(n))
    power = np.mean(np.abs(t) > stats.t.ppf(0.975, n - 1))
    assert power == pytest.approx(0.80, abs=0.01)
    # ... and the interval's half-width, which the README once called detectable, has far less power
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    d = rng.normal(half, sd, size=(40_000, n))
    t = d.mean(1) / (d.std(1, ddof=1) / math.sqrt(n))
    assert np.mean(np.abs(t) > stats.t.ppf(0.975, n - 1)) < 0.55


def test_tost_hand_computed():
    from lskd_core.verdicts import tost

    d = np.array([0.1, -0.1, 0.0, 0.2, -0.2])  # mean 0, sd 0.158114, se 0.0707107
    eq, p = tost(d, 0.5)
    # larger one-sided p: P(t_4 > (0 + 0.5) / 0.0707107) = P(t_4 > 7.0711)
    assert eq and p == pytest.approx(float(__import__("scipy").stats.t.sf(0.5 / (0.158114 / math.sqrt(5)), 4)),
                                     rel=1e-4)
    assert not tost(d, 0.1)[0]  # the 90 % interval [-0.15, 0.15] crosses 0.1


@pytest.mark.parametrize("diffs,expected,want", [
    ([1.1, 0.9, 1.0, 1.2, 0.8], 1.0, "supported"),
    ([-1.1, -0.9, -1.0, -1.2, -0.8], 1.0, "not supported"),
    ([0.05, -0.05, 0.0, 0.1, -0.1], 1.0, "smaller than the paper's effect"),
    ([2.0, -2.0, 1.0, -1.5, 0.4], 1.0, "inconclusive"),
])
def test_four_way_verdicts(diffs, expected, want):
    from lskd_core.verdicts import interval_row

    row = interval_row(diffs, expected=expected)
    assert row["verdict"] == want
    assert row["expected"] == expected and row["detectable"] > 0
    assert interval_row(diffs)["verdict"] == (want if want != "smaller than the paper's effect" else "inconclusive")


def test_holm_keeps_the_equivalence_family_apart():
    from lskd_core.verdicts import holm_verdicts, interval_row

    rows = [interval_row([0.05, -0.05, 0.0, 0.1, -0.1], expected=1.0),
            interval_row([2.0, -2.0, 1.0, -1.5, 0.4], expected=1.0),
            interval_row([1.1, 0.9, 1.0, 1.2, 0.8], expected=1.0)]
    assert holm_verdicts(rows) == ["smaller than the paper's effect", "inconclusive", "supported"]


def test_paper_evidence_counts_only_beyond_the_papers_own_spread():
    """Issue 25: 2A's +0.07 at T = 1 counted as support, though D.1's spreads there are 0.11-0.12."""
    from lskd_core.claims import get
    from lskd_core.claims import paper_evidence, paper_noise

    c = get("ls_helps_at_T1").as_claim()
    # 2A at T = 1: D.1 gives sd 0.122 (plain) and 0.114 (smoothed), 3 runs each: 2 SE = 0.193 > 0.069
    assert paper_noise(c.contrast, "2A") == pytest.approx(2 * math.sqrt((0.122**2 + 0.114**2) / 3))
    # 2B at T = 1: sd 0.336 and 0.030: 2 SE = 0.390 < 0.777, outside the noise
    assert paper_noise(c.contrast, "2B") == pytest.approx(2 * math.sqrt((0.336**2 + 0.030**2) / 3))
    ev = paper_evidence(c, ("2A", "2B", "B.1"))
    assert "within the paper's noise: 2A +0.07" in ev and ev.startswith("for: 2B +0.78")
    assert "no spread reported: B.1 +0.24" in ev  # B.1 has no D table
    # a difference of differences reads four cells: its noise adds all four variances
    d = get("ls_drops_more_T1_to_T3").as_claim()
    from lskd_core.paper import GRID

    sd = GRID["2A"]["std"]
    want = 2 * math.sqrt(sum(sd[k] ** 2 for k in ((0.0, 1), (0.1, 1), (0.0, 3), (0.1, 3))) / 3)
    assert paper_noise(d.contrast, "2A") == pytest.approx(want)


def test_a_contrast_adjusted_for_the_teachers_accuracy_gap():
    """The intercept of d = a + b c, checked against numpy's polyfit and a hand-computed interval."""
    from scipy import stats

    from lskd_core.verdicts import adjusted_row

    c = np.array([-0.4, -0.2, -0.5, -0.1, -0.3])  # smoothed minus plain teacher, points
    d = 0.1 + 1.5 * c + np.array([0.02, -0.01, 0.0, 0.01, -0.02])  # the students follow the teachers
    row = adjusted_row(d, c)
    b, a = np.polyfit(c, d, 1)
    assert row["adjusted mean"] == round(a, 3) and row["slope per point"] == round(b, 3)
    resid = d - (a + b * c)
    se = math.sqrt(resid @ resid / 3 * (1 / 5 + c.mean() ** 2 / ((c - c.mean()) ** 2).sum()))
    lo, hi = a - stats.t.ppf(0.975, 3) * se, a + stats.t.ppf(0.975, 3) * se
    assert row["adjusted 95% CI"] == f"[{lo:.3f}, {hi:.3f}]"
    # the raw contrast is negative only because the smoothed teachers are worse
    assert d.mean() < 0 and row["adjusted verdict"] == "supported"
    assert adjusted_row(d[:2], c[:2])["adjusted verdict"] == "inconclusive"


def test_expected_effect_is_the_papers_contrast_scaled_by_the_error_ratio():
    from lskd_core.claims import expected_effect, get
    from lskd_core.paper import top1

    c = get("ls_hurts_at_T64")
    ours = 90.0  # our plain-teacher student at T = 1: 10 % error
    want = []
    for tab in ("2A", "2B", "4"):  # the tables with a T = 64 row for both teachers
        d = top1(tab, 0.0, 64) - top1(tab, 0.1, 64)
        want.append(d * (100 - ours) / (100 - top1(tab, 0.0, 1)))
    assert expected_effect(c.as_claim(), ("2A", "2B", "4"), ours) == pytest.approx(np.mean(want))
    # translation scales by BLEU, not by error: half the paper's BLEU, half its effect
    n = get("nmt_ls_helps_at_T1").as_claim()
    assert expected_effect(n, ("5",), top1("5", 0.0, 1) / 2) == pytest.approx(
        (top1("5", 0.1, 1) - top1("5", 0.0, 1)) / 2)
    # where the paper's own tables point against a claim on average, nothing is expected
    assert expected_effect(get("ls_hurts_at_T64").as_claim(), ("2A-R50",), ours) is None


def test_a_correlation_claim_shows_minus_r_with_its_own_interval():
    """The row reports -r (positive = the claim's direction); its interval must be -r's, holding it."""
    from lskd_core.claims import correlation_claim
    from lskd_core.verdicts import correlation_row

    x = [0.1, 0.4, 0.2, 0.9, 0.5, 0.7, 0.3, 0.8]
    y = [2.0, 1.1, 1.9, 0.2, 1.0, 0.9, 1.2, 0.1]
    raw = correlation_row(x, y)
    row = correlation_claim("more_diffusion_lower_accuracy", raw, "none")
    lo, hi = (float(v) for v in row["95% CI"].strip("[]").split(","))
    assert row["ours: mean diff"] == -raw["r"] > 0 and lo <= row["ours: mean diff"] <= hi
    r_lo, r_hi = (float(v) for v in raw["95% CI"].strip("[]").split(","))
    assert (lo, hi) == (-r_hi, -r_lo) and row["verdict"] == "supported"
    # 80 % power at n = 8: atanh(r) = (1.960 + 0.842) / sqrt(5) = 1.2531, r = 0.849 (closed form).
    assert row["detectable"] == pytest.approx(math.tanh((1.959964 + 0.841621) / math.sqrt(5)), abs=1e-3)
    assert row["detectable"] == pytest.approx(0.849, abs=1e-3)


def test_a_contrast_equal_on_every_seed_keeps_a_p_value_for_holm():
    from lskd_core.verdicts import interval_row

    assert interval_row([-0.5] * 10)["p"] == 0.0 and interval_row([-0.5] * 10)["verdict"] == "not supported"
    assert interval_row([0.0] * 4)["p"] == 1.0
    assert interval_row([0.3])["p"] is None  # one seed: no test at all


def test_a_verdict_count_names_every_kind_so_the_parts_add_up():
    from lskd_core.verdicts import SMALLER, count_words

    got = count_words(["supported", SMALLER, "not supported", "supported", "inconclusive"])
    assert got == f"2 supported, 1 not supported, 1 {SMALLER} and 1 inconclusive"
    assert count_words(["odd", "supported"]) == "1 supported and 1 odd"
    assert count_words([]) == "none"
