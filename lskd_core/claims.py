"""The one claims registry: every claim of the paper this book tests, defined once.

Each ``ClaimSpec`` records:

- ``key``: the name the ledger, the records and the chapters use;
- ``statement``: the paper's claim, in this book's words;
- ``where``: the section and tables of the paper that make it;
- ``chapter``: the chapter that computes it;
- ``kind``: ``"paper"`` (the paper's claim as the paper states it),
  ``"sharper"`` (a sharper test of a paper claim than the paper makes), or
  ``"book"`` (this book's own question, such as the distillation gate, which
  decides whether the paper's question can be asked on a profile at all);
- ``tables``: the paper tables whose numbers give the paper's side of the
  contrast (``paper_evidence`` lists them for and against);
- the contrast, one number per seed that is > 0 when the claim holds. For a
  claim read off a teacher-by-temperature grid it is ``contrast`` (a function
  of an accuracy lookup, applied alike to one seed of ours and to a paper
  table). For a claim a chapter measures some other way it is ``per_seed``
  (a function of the chapter's named per-seed arrays), with ``paper`` giving
  the paper's own numbers for it.

When a run may save a verdict: only when its chapter ran with its declared
default parameters (any profile), checked by ``records.is_default`` inside
``records.save_verdicts``. No chapter run with other parameters overwrites the
ledger, and no notebook defines a claim (``tests/test_claims.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from . import verdicts as V
from .verdicts import interval_row
from .paper import APPENDIX_I_DROPS, EQUAL_ENTROPY_PAIRS, LARGER_ALPHA_J1, SECOND_LARGEST_100X


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


def diff(a: tuple[float, float | None], b: tuple[float, float | None]) -> Callable[[Lookup], float | None]:
    """Contrast ``acc(a) - acc(b)``."""
    def contrast(g: Lookup) -> float | None:
        x, y = g(*a), g(*b)
        return None if _missing(x, y) else x - y
    return contrast


def drop_more(t_lo: float, t_hi: float, plain: float = 0.0, smoothed: float = 0.1) -> Callable[[Lookup], float | None]:
    """Contrast ``[acc(smoothed, t_lo) - acc(smoothed, t_hi)] - [acc(plain, t_lo) - acc(plain, t_hi)]``."""
    def contrast(g: Lookup) -> float | None:
        v = g(smoothed, t_lo), g(smoothed, t_hi), g(plain, t_lo), g(plain, t_hi)
        return None if _missing(*v) else (v[0] - v[1]) - (v[2] - v[3])
    return contrast



def best_at_low_t(smoothed: float = 0.1, alphas=(0.0, 0.1), temperatures=(1.0, 2.0, 3.0, 64.0)):
    """Contrast ``acc(smoothed, lowest T) - acc(best other cell)``, the other cells of the grid being
    every (alpha, T) present. Applied to one seed it uses that seed's best other cell, so it is
    conservative: the rule must beat each seed's luckiest alternative. It is not linear, so
    ``paper_noise`` bounds its noise from above (every cell's variance counts)."""
    def contrast(g: Lookup) -> float | None:
        cells = {(a, t): g(a, t) for a in alphas for t in temperatures}
        cells = {k: v for k, v in cells.items() if v is not None}
        lows = [t for (a, t) in cells if a == smoothed]
        if not lows:
            return None
        rule = (smoothed, min(lows))
        others = [v for k, v in cells.items() if k != rule]
        return cells[rule] - max(others) if others else None
    return contrast


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


def _to_ours(table: str, ours_plain_t1: float) -> float | None:
    """The factor that carries a paper difference in ``table`` to our testbed: our error rate at T = 1
    with the plain teacher over the paper's (BLEU over BLEU for translation); None without a reference."""
    from .paper import top1

    ref = top1(table, 0.0, 1)
    if ref is None:
        return None
    return ours_plain_t1 / ref if table in TRANSLATION_TABLES else (100 - ours_plain_t1) / (100 - ref)


def expected_effect(claim: Claim, tables, ours_plain_t1: float) -> float | None:
    """The effect expected on our runs if the paper is right (the rule registered in
    ``results/preregistration.toml``): the paper's contrast in each of the claim's tables, scaled
    by how far our plain-teacher student at T = 1 is from perfect against the paper's (error rate
    for accuracy, 100 - top-1; BLEU itself for translation), averaged over the tables. None when the
    paper's own average points the other way (the paper then predicts no effect to test for).
    """
    from .paper import top1

    scaled = []
    for tab in tables:
        d = claim.contrast(lambda a, t, _tab=tab: top1(_tab, a, t))
        ratio = _to_ours(tab, ours_plain_t1)
        if d is None or ratio is None:
            continue
        scaled.append(d * ratio)
    if not scaled or np.mean(scaled) <= 0:
        return None
    return float(np.mean(scaled))


def evaluate_claims(acc: Acc, seeds, claims=None, paper_tables=None, profile: str | None = None):
    """One row per claim: paper differences, our paired mean difference, its CI and the verdict.

    ``claims`` defaults to the student grid's claims. The paper's side comes from each claim's
    own tables in the registry (``ClaimSpec.tables``); ``paper_tables`` overrides them (an empty
    tuple: no paper columns, for a look at runs the paper has no table for).
    """
    import pandas as pd

    from .paper import top1

    if claims is None:
        claims = GRID_CLAIMS

    if len(set(seeds)) != len(list(seeds)):
        raise ValueError(f"seeds {list(seeds)} repeat; a repeated seed is not a new sample")
    rows = []
    for c in claims:
        row = {"key": c.key, "claim": c.text}
        tables = paper_tables if paper_tables is not None else (REGISTRY[c.key].tables if c.key in REGISTRY else ())
        for tab in tables:
            d = c.contrast(lambda a, t, _tab=tab: top1(_tab, a, t))
            row[f"paper {tab}"] = None if d is None else round(d, 3)
        row["paper evidence"] = paper_evidence(c, tables)
        per_seed = [c.contrast(_seed_lookup(acc, s)) for s in seeds]
        if _missing(*per_seed):
            row.update({"ours: mean diff": None, "95% CI": "n/a", "n seeds": 0, "verdict": "not run"})
            rows.append(row)
            continue
        ours_plain = [acc.get((0.0, 1.0), {}).get(s) for s in seeds]
        if c.key in REGISTRY and paper_tables is None:
            e = expectation(c.key, None if _missing(*ours_plain) else float(np.mean(ours_plain)), profile)
        else:  # an ad-hoc claim or other tables: the registered expectation does not describe it
            e = {"expected": None, "margin": None}
        row.update(interval_row(per_seed, expected=e["expected"], margin=e["margin"]))
        rows.append(row)
    return pd.DataFrame(rows)


# The registry keys of the diffusion claims, by kind and split (written out: a key is searched for by name).
ETA_KEYS = {("signature", "train"): "eta_signature_train", ("signature", "test"): "eta_signature_test",
            ("s1_lower", "train"): "eta_s1_lower_with_ls_train", ("s1_lower", "test"): "eta_s1_lower_with_ls_test"}


def eta_claims(records, ls_alpha: float = 0.1, plain_alpha: float = 0.0, paper_tables=None):
    """Verdicts on systematic diffusion from ``experiments.eta_records`` output.

    The paper's columns come from each claim's tables in the registry; ``paper_tables`` overrides
    them (an empty tuple: none, for runs the paper has no table for, such as feature distillation).

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
        key = ETA_KEYS[("signature", split)]
        row = {"key": key,
               "claim": f"LS teacher (alpha={ls_alpha}), {name}: eta(S1) < 0 < eta(S2) for every target"}
        tables = REGISTRY[key].tables if paper_tables is None else paper_tables
        row.update({f"paper {t}": paper_worst(t, split) for t in tables})
        row.update(interval_row(signature(ls_alpha, split)))
        rows.append(row)
        if plain_alpha in alphas:
            key = ETA_KEYS[("s1_lower", split)]
            row = {"key": key, "claim": f"{name}: eta(S1) is lower with the LS teacher than with the plain one"}
            # The paper has no number for this one; its columns stay empty beside the signature's.
            row.update({f"paper {t}": None for t in tables})
            row.update(interval_row(per_seed(plain_alpha, split, "S1") - per_seed(ls_alpha, split, "S1")))
            rows.append(row)
    return pd.DataFrame(rows)


KINDS = {"paper": "the paper's claim", "sharper": "a sharper test of a paper claim",
         "book": "this book's own question"}


@dataclass(frozen=True)
class ClaimSpec:
    key: str
    statement: str
    where: str
    chapter: str
    tables: tuple[str, ...] = ()
    contrast: Callable | None = None
    per_seed: Callable[..., np.ndarray] | None = None
    paper: Callable[[], object] | None = None
    kind: str = "paper"
    # The effect expected on our runs if the paper is right, from our plain-teacher student's top-1 at
    # T = 1 (None: the paper gives no number to scale), and the rule in words (``expectation``).
    expect: Callable[[float], float | None] | None = None
    rule: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.key!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")

    def as_claim(self, text: str | None = None, alphas: dict[float, float] | None = None) -> Claim:
        """The claim's contrast, read off an accuracy grid. ``alphas`` maps the registry's alphas (0.0
        and 0.1) to others, for the same contrast between other teachers."""
        if self.contrast is None:
            raise ValueError(f"claim {self.key!r} is not read off an accuracy grid")
        contrast = self.contrast
        if alphas:
            own = self.contrast
            contrast = lambda lookup: own(lambda a, t: lookup(alphas.get(a, a), t))  # noqa: E731
        return Claim(self.key, text or self.statement, contrast)

    def evaluate(self, text: str | None = None, *, profile: str | None = None, plain_t1: float | None = None,
                 **inputs) -> dict:
        """The verdict row of a per-seed claim from the chapter's named inputs.

        ``profile`` and ``plain_t1`` (our plain teacher's student at T = 1, top-1 %) give the
        expected effect (``expectation``): a registered profile reads it from the pre-registration.
        """
        if self.per_seed is None:
            raise ValueError(f"claim {self.key!r} is evaluated with claims.evaluate_claims")
        diffs = np.asarray(self.per_seed(**{k: np.asarray(v, dtype=float) for k, v in inputs.items()}), dtype=float)
        row = {"key": self.key, "claim": text or self.statement}
        if self.paper is not None:
            row["paper"] = self.paper()
        e = expectation(self.key, plain_t1, profile)
        return {**row, **V.interval_row(diffs, expected=e["expected"], margin=e["margin"])}


_GRID = IMAGE_TABLES
_NMT = TRANSLATION_TABLES
_GATE_RULE = ("the KD gain the testbed search measured for this profile's testbed (plain teacher only, 5 seeds; "
              "results/testbed_search.json)")
_NO_NUMBER = "none: the paper gives no number in these units for this claim, so its verdict is three-way"


def _scaled(values, table: str, ours_plain_t1: float | None) -> float | None:
    """The mean of the paper's ``values`` (accuracy points) scaled to our testbed by the error-rate
    ratio at T = 1 with the plain teacher; None when unscalable or pointing against the claim."""
    ratio = None if ours_plain_t1 is None else _to_ours(table, ours_plain_t1)
    if ratio is None or not values:
        return None
    m = float(np.mean(values)) * ratio
    return m if m > 0 else None


_GRID_RULE = ("the paper's contrast in each of the claim's tables, scaled by the ratio of error rates at T = 1 "
              "with the plain teacher (BLEU for translation), averaged; none where the average points the other way")


def registration_rows(ours_plain_t1: float, profile: str) -> list[dict]:
    """Every claim's expectation by its rule, for ``lskd preregister`` (``lskd_core.prereg``)."""
    return [{"key": k, "kind": spec.kind, "chapter": spec.chapter,
             **expectation(k, ours_plain_t1, profile, registered=False)} for k, spec in REGISTRY.items()]


def expectation(key: str, ours_plain_t1: float | None, profile: str | None = None,
                registered: bool = True) -> dict:
    """The effect expected on our runs if the paper is right, its margin and its rule.

    A profile registered in ``results/preregistration.toml`` takes the registered numbers (fixed
    before its runs). Otherwise the claim's rule derives them from the paper's numbers and our
    plain teacher's student at T = 1 (``ours_plain_t1``, top-1 % or BLEU). The margin of the
    four-way verdict is the expected effect itself.
    """
    if registered:
        from .prereg import registered as _registered

        reg = _registered(profile, key)
        if reg is not None:
            return reg
    spec = get(key)
    if key in GATE.values():
        from .testbed import expected_gain

        value = expected_gain(profile, gate_temperature(key))
        rule = spec.rule
    elif spec.kind == "book":
        value, rule = None, "none: this book's own question, not a claim of the paper"
    elif spec.contrast is not None and spec.tables:
        value = None if ours_plain_t1 is None else expected_effect(spec.as_claim(), spec.tables, ours_plain_t1)
        rule = _GRID_RULE
    elif spec.expect is not None:
        value, rule = spec.expect(ours_plain_t1), spec.rule
    else:
        value, rule = None, _NO_NUMBER
    return {"expected": value, "margin": value, "rule": rule}


def _j1_drop_more() -> float:
    j1 = LARGER_ALPHA_J1
    return round((j1[1][2] - j1[64][2]) - (j1[1][1] - j1[64][1]), 3)


def _dominance_share() -> float:
    return round(min(v[1] / (v[2] - 1) for v in SECOND_LARGEST_100X.values()) - 0.5, 3)


def _equal_entropy(low: bool) -> list[float]:
    return [round((ls - pl) if low else (pl - ls), 3) for _, _, t, ls, pl in EQUAL_ENTROPY_PAIRS
            if (t <= 1) == low and t < 64]


_SPECS = (
    # The gate: where distillation from the plain teacher does not beat the student alone, "does a
    # smoothed teacher make distillation worse?" has no signal, so the grid chapters say so first.
    ClaimSpec("kd_beats_ce_T1", "A student distilled from the plain teacher at T=1 beats the same student "
              "trained with cross-entropy alone (same seed, initial weights, batches and epochs)",
              "the premise of every table (the paper reports no CE-alone student)", "03_student_grid",
              per_seed=lambda kd, ce: kd - ce, kind="book", rule=_GATE_RULE),
    ClaimSpec("kd_beats_ce_T3", "... and at T=3", "the premise of every table", "03_student_grid",
              per_seed=lambda kd, ce: kd - ce, kind="book", rule=_GATE_RULE),
    ClaimSpec("ls_tightens_clusters", "Label smoothing makes the teacher's penultimate class clusters much tighter "
              "relative to the distances between classes (information erasure)",
              "Sec. 3, Observation 1 and Figure 1 (after Mueller et al. 2019)", "02_teachers",
              per_seed=lambda plain, ls: plain - ls),
    ClaimSpec("kd_beats_no_kd_T1", "Translation: a student distilled from the plain teacher at T=1 beats the same "
              "student trained on the labels alone (same fairseq seed and epochs)",
              "the premise of Tables 5 and B.2", "11_translation", per_seed=lambda kd, ce: kd - ce, kind="book"),
    ClaimSpec("kd_beats_no_kd_T3", "... and at T=3", "the premise of Tables 5 and B.2", "11_translation",
              per_seed=lambda kd, ce: kd - ce, kind="book"),
    ClaimSpec("ls_teacher_more_accurate", "Is the smoothed teacher more accurate? (Not a claim of the paper: "
              "Tables 2A and 2B show it slightly ahead, Appendix J shows a more smoothed teacher behind)",
              "Tables 2A, 2B (teachers); Table J.1", "02_teachers", ("2A", "2B"),
              diff((0.1, None), (0.0, None)), kind="book"),
    ClaimSpec("ls_helps_at_T1", "At T=1 a smoothed teacher gives a better student (Shen et al.'s finding holds)",
              "Tables 2A, 2B, 4, B.1, B.3 at T=1", "03_student_grid", _GRID, diff((0.1, 1), (0.0, 1))),
    ClaimSpec("ls_hurts_at_T3", "At T=3 a smoothed teacher gives a worse student",
              "Tables 2A, 2B, 4, B.1, B.3 at T=3", "03_student_grid", _GRID, diff((0.0, 3), (0.1, 3))),
    ClaimSpec("ls_drops_more_T1_to_T3", "From T=1 to T=3 the smoothed teacher's student loses more accuracy",
              "Sec. 5 (5.05 and 1.21 points quoted); Tables 2A, 2B, 4, B.1, B.3", "03_student_grid", _GRID,
              drop_more(1, 3)),
    ClaimSpec("ls_hurts_at_T64", "At T=64 a smoothed teacher gives a worse student", "Tables 2A, 2B, 4 at T=64",
              "03_student_grid", _GRID, diff((0.0, 64), (0.1, 64))),
    ClaimSpec("rule_of_thumb", "A smoothed teacher distilled at the lowest T gives the best student of the grid "
              "(per seed: that cell minus the seed's best other cell)",
              "Abstract and Sec. 7 (the rule of thumb)", "03_student_grid", _GRID, best_at_low_t()),
    ClaimSpec("eta_signature_train", "Students of a smoothed teacher diffuse towards similar classes and away "
              "from the others: eta(S1) < 0 < eta(S2) for every target class (train; one claim, since the "
              "normaliser ties the two signs)",
              "Table 3, B.4: the signature for 10/10 targets", "05_diffusion", ("3-R18", "3-R50", "B.4")),
    ClaimSpec("eta_signature_test", "... and on held-out images: eta(S1) < 0 < eta(S2)",
              "Table 3, B.4 (val): 9/10 and 10/10 targets", "05_diffusion", ("3-R18", "3-R50", "B.4")),
    ClaimSpec("ls_enlarges_similar_distances", "A smoothed teacher places semantically similar classes further "
              "apart, relative to its distances to all classes (Shen et al.'s argument, which the paper discusses)",
              "Sec. 3, Table 1 and Figure 1 (after Shen et al. 2021)", "05_diffusion",
              per_seed=lambda ls, plain: ls - plain),
    ClaimSpec("student_inherits_enlargement", "A student distilled from a smoothed teacher (at low T) inherits its "
              "enlarged distances between semantically similar classes",
              "Sec. 5 ('we experimentally validate the inheritance')", "05_diffusion",
              per_seed=lambda ls, plain: ls - plain),
    ClaimSpec("more_diffusion_lower_accuracy", "More systematic diffusion goes with a larger drop in accuracy: eta(S1) "
              "and the student's drop from T1 are negatively correlated (shown here as -r)",
              "Appendix H ('increased systematic diffusion definitely indicates lower performance'); "
              "no table backs its 34 experiments", "05_diffusion"),
    ClaimSpec("eta_s1_lower_with_ls_train", "The diffusion towards similar classes is stronger with the smoothed "
              "teacher than with the plain one (sharper than the paper, which notes it can appear with a plain "
              "teacher too)", "Sec. 5, Figures 1, A.1-A.5 (qualitative)", "05_diffusion", kind="sharper"),
    ClaimSpec("eta_s1_lower_with_ls_test", "... also on held-out images",
              "Figures A.1-A.5, validation panels (qualitative)", "05_diffusion", kind="sharper"),
    ClaimSpec("dominance_pattern", "A smoothed teacher's soft target at T=1 puts its second-largest class 100-fold "
              "above most of the other classes (share of classes so dominated, minus one half)",
              "Appendix E, Figure 2 and its counts", "06_teacher_targets",
              per_seed=lambda share: share - 0.5,
              paper=_dominance_share, expect=lambda ours: _dominance_share(),
              rule="Appendix E's smallest share of dominated classes, minus one half (a share: not rescaled)"),
    ClaimSpec("equal_entropy_low_T", "At equal target entropy and low T, the smoothed teacher's student is better",
              "Appendix H, cases 1-2", "06_teacher_targets", per_seed=lambda ls, plain: ls - plain,
              paper=lambda: _equal_entropy(True), expect=lambda ours: _scaled(_equal_entropy(True), "2B", ours),
              rule="Appendix H's low-T cases (CUB), averaged, scaled by error rates against Table 2B"),
    ClaimSpec("equal_entropy_high_T", "At equal target entropy and higher T, the plain teacher's student is better",
              "Appendix H, cases 3-4", "06_teacher_targets", per_seed=lambda ls, plain: plain - ls,
              paper=lambda: _equal_entropy(False), expect=lambda ours: _scaled(_equal_entropy(False), "2B", ours),
              rule="Appendix H's higher-T cases (CUB), averaged, scaled by error rates against Table 2B"),
    ClaimSpec("classwise_drop", "Classes with close neighbours lose accuracy as T rises (smoothed teacher)",
              "Appendix I: retrievers -6.8, snakes -6.0 points (val)", "07_classwise_and_alpha",
              per_seed=lambda acc_low_t, acc_high_t: acc_low_t - acc_high_t,
              paper=lambda: [round(lo - hi, 3) for lo, hi in APPENDIX_I_DROPS.values()],
              expect=lambda ours: _scaled([lo - hi for lo, hi in APPENDIX_I_DROPS.values()], "2A", ours),
              rule="Appendix I's two drops (ImageNet, ResNet-18 student), averaged, scaled by error rates "
                   "against Table 2A"),
    ClaimSpec("classwise_neighbours_drop_more", "Classes with close semantic neighbours lose more accuracy from low "
              "to high T than classes without, and more so with a smoothed teacher (a difference of differences)",
              "Appendix I (retrievers and snakes; stated for the smoothed teacher only)", "07_classwise_and_alpha",
              per_seed=lambda ls, plain: ls - plain, kind="sharper"),
    ClaimSpec("larger_alpha_drops_more", "A more smoothed teacher makes the high-T drop larger",
              "Table J.1: 6.46 points more from T=1 to T=64", "07_classwise_and_alpha",
              per_seed=lambda drop_larger, drop_alpha: drop_larger - drop_alpha, paper=_j1_drop_more,
              expect=lambda ours: _scaled([_j1_drop_more()], "2A", ours),
              rule="Table J.1's difference of drops (ImageNet, ResNet-18), scaled by error rates against Table 2A"),
    ClaimSpec("larger_alpha_worse_at_high_T", "At T=64 the more smoothed teacher gives a worse student",
              "Table J.1: 70.435 vs 63.738", "07_classwise_and_alpha",
              per_seed=lambda acc_alpha, acc_larger: acc_alpha - acc_larger,
              paper=lambda: round(LARGER_ALPHA_J1[64][1] - LARGER_ALPHA_J1[64][2], 3),
              expect=lambda ours: _scaled([LARGER_ALPHA_J1[64][1] - LARGER_ALPHA_J1[64][2]], "2A", ours),
              rule="Table J.1's difference at T=64 (ImageNet, ResNet-18), scaled by error rates against Table 2A"),
    ClaimSpec("fd_ls_helps_at_T1", "With feature distillation added to KD, a smoothed teacher still helps at T=1",
              "Table B.5: 83.794 vs 82.568 (CUB, ResNet-50 -> ResNet-50)", "12_feature_kd", ("B.5",),
              diff((0.1, 1), (0.0, 1))),
    ClaimSpec("fd_ls_hurts_at_T3", "With feature distillation added to KD, a smoothed teacher still hurts at T=3",
              "Table B.5: 81.739 vs 82.706", "12_feature_kd", ("B.5",), diff((0.0, 3), (0.1, 3))),
    ClaimSpec("fd_ls_drops_more_T1_to_T3",
              "With feature distillation, the smoothed teacher's student loses more from T=1 to T=3",
              "Table B.5: 2.055 vs -0.138 points", "12_feature_kd", ("B.5",), drop_more(1, 3)),
    ClaimSpec("nmt_ls_helps_at_T1", "Translation: at T=1 a smoothed teacher gives a better student",
              "Table 5: +0.171 BLEU (En-De); B.2: +0.057 (En-Ru)", "11_translation", _NMT, diff((0.1, 1), (0.0, 1))),
    ClaimSpec("nmt_ls_drops_more_T1_to_T3", "Translation: from T=1 to T=3 the smoothed teacher's student loses more",
              "Table 5: 3.009 vs 2.915 BLEU", "11_translation", _NMT, drop_more(1, 3)),
    ClaimSpec("nmt_high_T_hurts", "Translation: a high T ruins the smoothed teacher's student. It holds with "
              "either teacher, so it tests nothing about smoothing: a check that T matters at all (the next claim "
              "is the part due to smoothing)", "Table 5: 25.085 -> 6.461 BLEU at T=64",
              "11_translation", _NMT, diff((0.1, 1), (0.1, 64)), kind="book"),
    ClaimSpec("nmt_ls_drops_more_T1_to_T64", "Translation: from T=1 to T=64 the smoothed teacher's student loses more "
              "than the plain teacher's (the smoothing-specific part of the high-T damage)",
              "Tables 5, B.2 at T=1 and 64", "11_translation", _NMT, drop_more(1, 64)),
)

REGISTRY: dict[str, ClaimSpec] = {c.key: c for c in _SPECS}


def get(key: str) -> ClaimSpec:
    if key not in REGISTRY:
        raise KeyError(f"claim {key!r} is not in lskd_core.claims.REGISTRY")
    return REGISTRY[key]


def for_chapter(chapter: str) -> list[ClaimSpec]:
    return [c for c in _SPECS if c.chapter == chapter]


def grid_claims(*keys: str) -> tuple[Claim, ...]:
    return tuple(get(k).as_claim() for k in keys)


GRID_CLAIMS = grid_claims("ls_helps_at_T1", "ls_hurts_at_T3", "ls_drops_more_T1_to_T3", "ls_hurts_at_T64",
                          "rule_of_thumb")
FD_CLAIMS = grid_claims("fd_ls_helps_at_T1", "fd_ls_hurts_at_T3", "fd_ls_drops_more_T1_to_T3")
NMT_CLAIMS = grid_claims("nmt_ls_helps_at_T1", "nmt_ls_drops_more_T1_to_T3", "nmt_high_T_hurts",
                         "nmt_ls_drops_more_T1_to_T64")


def teacher_claim(plain: float = 0.0, smoothed: float = 0.1) -> Claim:
    """The registry's teacher claim, for any pair of alphas (its own contrast, other teachers)."""
    return get("ls_teacher_more_accurate").as_claim(
        f"The alpha={smoothed} teacher is more accurate than the alpha={plain} one", alphas={0.0: plain, 0.1: smoothed})


# ---------------------------------------------------------------- the distillation gate

GATE = {1.0: "kd_beats_ce_T1", 3.0: "kd_beats_ce_T3"}
NMT_GATE = {1.0: "kd_beats_no_kd_T1", 3.0: "kd_beats_no_kd_T3"}


def gate_temperature(key: str) -> float:
    """The temperature a gate claim tests, read from ``GATE`` and ``NMT_GATE``."""
    return next(t for gate in (GATE, NMT_GATE) for t, k in gate.items() if k == key)


def gate_rows(kd: dict[float, dict[int, float]], ce: dict[int, float], seeds, keys=None,
              profile: str | None = None) -> list[dict]:
    """Verdict rows of the gate: per seed, the plain teacher's KD student minus the CE-alone student.

    ``kd`` maps a temperature to ``{seed: top-1}`` of the plain teacher's students; ``ce`` is
    ``{seed: top-1}`` of the students trained alone. Temperatures of the gate missing from ``kd``
    give no row.
    """
    rows = []
    for t, key in (keys or GATE).items():
        if t in kd and all(s in kd[t] and s in ce for s in seeds):
            rows.append(get(key).evaluate(kd=[kd[t][s] for s in seeds], ce=[ce[s] for s in seeds], profile=profile))
    return rows


def gate_sentence(rows: list[dict], profile: str, unit: str = "points", alone: str = "cross-entropy alone") -> str:
    """What the gate allows a reader to conclude on ``profile``, in words computed from its rows."""
    if not rows:
        return (f"On `{profile}` the distillation gate has not been computed (chapter 3 computes it at T = 1 "
                "and 3), so nothing here says whether distillation helps on this profile.")
    parts = [f"T = {gate_temperature(r['key']):g}: {r['ours: mean diff']:+.2f} {unit}, 95 % CI {r['95% CI']}, "
             f"n = {r['n seeds']}" for r in rows]
    verdicts = {r["verdict"] for r in rows}
    passed = [p for p, r in zip(parts, rows) if r["verdict"] == "supported"]
    if passed and len(passed) < len(rows):
        # A gate that passes at some temperatures only: the question can be asked there and nowhere else.
        worse = [p for p, r in zip(parts, rows) if r["verdict"] == "not supported"]
        unshown = [p for p, r in zip(parts, rows) if r["verdict"] not in ("supported", "not supported")]
        failed = " and ".join(([f"does worse than it at {'; '.join(worse)}"] if worse else [])
                              + ([f"is not shown to beat it at {'; '.join(unshown)}"] if unshown else []))
        return (f"On `{profile}` distillation from the plain teacher beats the student trained with {alone} at "
                f"{'; '.join(passed)}, but {failed}. The gate passes only at the "
                "first: the compatibility question can be asked there, and verdicts resting on the other "
                "temperatures describe this testbed, not the paper's question.")
    if verdicts == {"supported"}:
        return (f"On `{profile}` distillation from the plain teacher beats the student trained alone "
                f"({'; '.join(parts)}): the gate passes, so the compatibility question can be asked here.")
    if "not supported" in verdicts:
        how = "does worse than"
    else:
        how = "is not shown to beat"
    return (f"On `{profile}` a student distilled from the plain teacher {how} the same student trained with "
            f"{alone} ({'; '.join(parts)}). The gate fails: where distillation gives nothing, "
            "whether label smoothing makes it worse cannot be answered on this profile, and the verdicts below "
            "describe this testbed, not the paper's question.")


def phrase(row: dict | None, unit: str = "points") -> str:
    """A verdict row in words for a chapter's prose: the verdict in bold, then the numbers it rests on."""
    if row is None or row.get("verdict") in (None, "not run"):
        return "not computed on this run"
    ci = row.get("95% CI", "n/a")
    return (f"**{row['verdict']}** ({row['ours: mean diff']:+.2f} {unit}, 95 % CI {ci}, "
            f"n = {row.get('n seeds', row.get('n points'))})")


# ---------------------------------------------------------------- the floor under every verdict

# A verdict compares students; it means nothing when the teachers learned nothing. Images: every
# teacher at least twice chance (20 % on ten classes). Translation: every teacher at this BLEU.
TRANSLATION_FLOOR_BLEU = 2.0


def image_floor(num_classes: int) -> float:
    """The lowest teacher top-1 (%) a chapter draws verdicts from: twice chance."""
    return 2 * 100.0 / num_classes


def floor_check(scores: dict[str, float], floor: float, unit: str, profile: str) -> tuple[bool, str]:
    """Whether every model in ``scores`` (name -> score) reaches ``floor``, and a sentence saying so."""
    low = {k: v for k, v in scores.items() if not v >= floor}
    if not scores:
        return False, f"On `{profile}` no teacher was measured, so no verdict is drawn."
    if not low:
        return True, (f"Every teacher on `{profile}` is above the floor of {floor:g} {unit} "
                      f"(lowest {min(scores.values()):.2f} {unit}), so the verdicts below are drawn from models "
                      f"that learned.")
    shown = ", ".join(f"{k}: {v:.2f}" for k, v in sorted(low.items()))
    return False, (f"On `{profile}` {len(low)} of {len(scores)} teachers are below the floor of {floor:g} {unit} "
                   f"({shown}): these models learned too little for their students to say anything about the "
                   f"paper's claims, so no verdict is drawn from this run; the reference records below stand in.")


def correlation_claim(key: str, row: dict, paper: str) -> dict:
    """A registered correlation claim's verdict row from ``verdicts.correlation_row`` output: the
    contrast column holds ``-r`` (the claims here expect a negative correlation), so that, as for
    every claim, a positive number means the claim's direction."""
    spec = get(key)
    ci = row["95% CI"]
    if row["r"] is not None:  # the interval of -r is that of r, negated and reversed
        lo, hi = (float(v) for v in ci.strip("[]").split(","))
        ci = f"[{-hi:.3f}, {-lo:.3f}]"
    return {"key": key, "claim": spec.statement, "ours: mean diff": None if row["r"] is None else -row["r"],
            "95% CI": ci, "n seeds": row["n points"], "verdict": row["verdict"], "p": row["p"],
            "detectable": row.get("detectable"), "paper evidence": paper}
