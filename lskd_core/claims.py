"""The one claims registry: every claim of the paper this book tests, defined once.

Each ``ClaimSpec`` records:

- ``key``: the name the ledger, the records and the chapters use;
- ``statement``: the paper's claim, in this book's words;
- ``where``: the section and tables of the paper that make it;
- ``chapter``: the chapter that computes it;
- ``tables``: the paper tables whose numbers give the paper's side of the
  contrast (``verdicts.paper_evidence`` lists them for and against);
- the contrast, one number per seed that is > 0 when the claim holds. For a
  claim read off a teacher-by-temperature grid it is ``contrast`` (a function
  of an accuracy lookup, applied alike to one seed of ours and to a paper
  table). For a claim a chapter measures some other way it is ``per_seed``
  (a function of the chapter's named per-seed arrays), with ``paper`` giving
  the paper's own numbers for it.

When a run may save a verdict: only when its chapter ran with its declared
default parameters (any profile), checked by ``records.is_default`` inside
``ledger.save_verdicts``. No chapter run with other parameters overwrites the
ledger, and no notebook defines a claim (``tests/test_claims.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import verdicts as V
from .paper import EQUAL_ENTROPY_PAIRS, LARGER_ALPHA_J1


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

    def as_claim(self, text: str | None = None) -> V.Claim:
        if self.contrast is None:
            raise ValueError(f"claim {self.key!r} is not read off an accuracy grid")
        return V.Claim(self.key, text or self.statement, self.contrast)

    def evaluate(self, text: str | None = None, **inputs) -> dict:
        """The verdict row of a per-seed claim from the chapter's named inputs."""
        if self.per_seed is None:
            raise ValueError(f"claim {self.key!r} is evaluated with verdicts.evaluate_claims")
        diffs = np.asarray(self.per_seed(**{k: np.asarray(v, dtype=float) for k, v in inputs.items()}), dtype=float)
        row = {"key": self.key, "claim": text or self.statement}
        if self.paper is not None:
            row["paper"] = self.paper()
        return {**row, **V.interval_row(diffs)}


_GRID = V.IMAGE_TABLES
_NMT = V.TRANSLATION_TABLES


def _j1_drop_more() -> float:
    j1 = LARGER_ALPHA_J1
    return round((j1[1][2] - j1[64][2]) - (j1[1][1] - j1[64][1]), 3)


def _equal_entropy(low: bool) -> list[float]:
    return [round((ls - pl) if low else (pl - ls), 3) for _, _, t, ls, pl in EQUAL_ENTROPY_PAIRS
            if (t <= 1) == low and t < 64]


_SPECS = (
    ClaimSpec("ls_teacher_more_accurate", "Label smoothing gives a slightly more accurate teacher",
              "Tables 2A, 2B (teachers)", "02_teachers", ("2A", "2B"), V._diff((0.1, None), (0.0, None))),
    ClaimSpec("ls_helps_at_T1", "At T=1 a smoothed teacher gives a better student (Shen et al.'s finding holds)",
              "Tables 2A, 2B, 4, B.1, B.3 at T=1", "03_student_grid", _GRID, V._diff((0.1, 1), (0.0, 1))),
    ClaimSpec("ls_hurts_at_T3", "At T=3 a smoothed teacher gives a worse student",
              "Tables 2A, 2B, 4, B.1, B.3 at T=3", "03_student_grid", _GRID, V._diff((0.0, 3), (0.1, 3))),
    ClaimSpec("ls_drops_more_T1_to_T3", "From T=1 to T=3 the smoothed teacher's student loses more accuracy",
              "Sec. 5 (5.05 and 1.21 points quoted); Tables 2A, 2B, 4, B.1, B.3", "03_student_grid", _GRID,
              V._drop_more(1, 3)),
    ClaimSpec("ls_hurts_at_T64", "At T=64 a smoothed teacher gives a worse student", "Tables 2A, 2B, 4 at T=64",
              "03_student_grid", _GRID, V._diff((0.0, 64), (0.1, 64))),
    ClaimSpec("eta_signature_train", "Students of a smoothed teacher diffuse towards similar classes and away "
              "from the others: eta(S1) < 0 < eta(S2) (train; one claim, since the normaliser ties the two signs)",
              "Table 3, B.4: the signature for 10/10 targets", "05_diffusion", ("3-R18", "3-R50", "B.4")),
    ClaimSpec("eta_signature_test", "... and on held-out images: eta(S1) < 0 < eta(S2)",
              "Table 3, B.4 (val): 9/10 and 10/10 targets", "05_diffusion", ("3-R18", "3-R50", "B.4")),
    ClaimSpec("ls_enlarges_similar_distances", "A smoothed teacher places semantically similar classes further "
              "apart, relative to its distances to all classes (Shen et al.'s argument, which the paper discusses)",
              "Sec. 2 and 5 (Shen et al. 2021); no table", "05_diffusion",
              per_seed=lambda ls, plain: ls - plain),
    ClaimSpec("eta_s1_lower_with_ls_train", "The diffusion towards similar classes is due to the smoothed teacher",
              "Sec. 5, Figures 1, A.1-A.5 (qualitative)", "05_diffusion"),
    ClaimSpec("eta_s1_lower_with_ls_test", "... also on held-out images",
              "Figures A.1-A.5, validation panels (qualitative)", "05_diffusion"),
    ClaimSpec("equal_entropy_low_T", "At equal target entropy and low T, the smoothed teacher's student is better",
              "Appendix H, cases 1-2", "06_teacher_targets", per_seed=lambda ls, plain: ls - plain,
              paper=lambda: _equal_entropy(True)),
    ClaimSpec("equal_entropy_high_T", "At equal target entropy and higher T, the plain teacher's student is better",
              "Appendix H, cases 3-4", "06_teacher_targets", per_seed=lambda ls, plain: plain - ls,
              paper=lambda: _equal_entropy(False)),
    ClaimSpec("classwise_drop", "Classes with close neighbours lose accuracy as T rises (smoothed teacher)",
              "Appendix I: retrievers -6.8, snakes -6.0 points (val)", "07_classwise_and_alpha",
              per_seed=lambda acc_low_t, acc_high_t: acc_low_t - acc_high_t,
              paper=lambda: [round(81.600 - 74.800, 3), round(73.200 - 67.200, 3)]),
    ClaimSpec("classwise_neighbours_drop_more", "Classes with close semantic neighbours lose more accuracy from low "
              "to high T than classes without, and more so with a smoothed teacher (a difference of differences)",
              "Appendix I (retrievers and snakes; stated for the smoothed teacher only)", "07_classwise_and_alpha",
              per_seed=lambda ls, plain: ls - plain),
    ClaimSpec("larger_alpha_drops_more", "A more smoothed teacher makes the high-T drop larger",
              "Table J.1: 6.46 points more from T=1 to T=64", "07_classwise_and_alpha",
              per_seed=lambda drop_larger, drop_alpha: drop_larger - drop_alpha, paper=_j1_drop_more),
    ClaimSpec("larger_alpha_worse_at_high_T", "At T=64 the more smoothed teacher gives a worse student",
              "Table J.1: 70.435 vs 63.738", "07_classwise_and_alpha",
              per_seed=lambda acc_alpha, acc_larger: acc_alpha - acc_larger,
              paper=lambda: round(LARGER_ALPHA_J1[64][1] - LARGER_ALPHA_J1[64][2], 3)),
    ClaimSpec("fd_ls_helps_at_T1", "With feature distillation added to KD, a smoothed teacher still helps at T=1",
              "Table B.5: 83.794 vs 82.568 (CUB, ResNet-50 -> ResNet-50)", "12_feature_kd", ("B.5",),
              V._diff((0.1, 1), (0.0, 1))),
    ClaimSpec("fd_ls_hurts_at_T3", "With feature distillation added to KD, a smoothed teacher still hurts at T=3",
              "Table B.5: 81.739 vs 82.706", "12_feature_kd", ("B.5",), V._diff((0.0, 3), (0.1, 3))),
    ClaimSpec("fd_ls_drops_more_T1_to_T3",
              "With feature distillation, the smoothed teacher's student loses more from T=1 to T=3",
              "Table B.5: 2.055 vs -0.138 points", "12_feature_kd", ("B.5",), V._drop_more(1, 3)),
    ClaimSpec("nmt_ls_helps_at_T1", "Translation: at T=1 a smoothed teacher gives a better student",
              "Table 5: +0.171 BLEU (En-De); B.2: +0.057 (En-Ru)", "11_translation", _NMT, V._diff((0.1, 1), (0.0, 1))),
    ClaimSpec("nmt_ls_drops_more_T1_to_T3", "Translation: from T=1 to T=3 the smoothed teacher's student loses more",
              "Table 5: 3.009 vs 2.915 BLEU", "11_translation", _NMT, V._drop_more(1, 3)),
    ClaimSpec("nmt_high_T_hurts", "Translation: a high T ruins the smoothed teacher's student (with either teacher: "
              "the next claim is the part due to smoothing)", "Table 5: 25.085 -> 6.461 BLEU at T=64",
              "11_translation", _NMT, V._diff((0.1, 1), (0.1, 64))),
    ClaimSpec("nmt_ls_drops_more_T1_to_T64", "Translation: from T=1 to T=64 the smoothed teacher's student loses more "
              "than the plain teacher's (the smoothing-specific part of the high-T damage)",
              "Tables 5, B.2 at T=1 and 64", "11_translation", _NMT, V._drop_more(1, 64)),
)

REGISTRY: dict[str, ClaimSpec] = {c.key: c for c in _SPECS}


def get(key: str) -> ClaimSpec:
    if key not in REGISTRY:
        raise KeyError(f"claim {key!r} is not in lskd_core.claims.REGISTRY")
    return REGISTRY[key]


def for_chapter(chapter: str) -> list[ClaimSpec]:
    return [c for c in _SPECS if c.chapter == chapter]


def grid_claims(*keys: str) -> tuple[V.Claim, ...]:
    return tuple(get(k).as_claim() for k in keys)


GRID_CLAIMS = grid_claims("ls_helps_at_T1", "ls_hurts_at_T3", "ls_drops_more_T1_to_T3", "ls_hurts_at_T64")
FD_CLAIMS = grid_claims("fd_ls_helps_at_T1", "fd_ls_hurts_at_T3", "fd_ls_drops_more_T1_to_T3")
NMT_CLAIMS = grid_claims("nmt_ls_helps_at_T1", "nmt_ls_drops_more_T1_to_T3", "nmt_high_T_hurts",
                         "nmt_ls_drops_more_T1_to_T64")


def teacher_claim(plain: float = 0.0, smoothed: float = 0.1) -> V.Claim:
    """The registry's teacher claim, for any pair of alphas (teachers use T = None)."""
    return V.Claim("ls_teacher_more_accurate", f"The alpha={smoothed} teacher is more accurate than the alpha={plain} one",
                   V._diff((smoothed, None), (plain, None)))
