"""Student-teacher deviations (Nagarajan et al. 2023): where does a student part from its teacher?

Their first finding: on training points where the teacher is unsure, the
distilled student is *even less* confident than the teacher. These pure
functions bin examples by the teacher's confidence and compare the two.
"""

from __future__ import annotations

import torch
from torch import Tensor


def label_confidence(logits: Tensor, labels: Tensor) -> Tensor:
    """Probability given to the true class, ``softmax(z)_y``, per example (T = 1)."""
    return torch.softmax(logits.double(), dim=1).gather(1, labels.long()[:, None]).squeeze(1)


def top_confidence(logits: Tensor) -> Tensor:
    """Probability of the predicted class, ``max_k softmax(z)_k``, per example (T = 1)."""
    return torch.softmax(logits.double(), dim=1).max(dim=1).values


def confidence(logits: Tensor, labels: Tensor, kind: str = "label") -> Tensor:
    if kind == "label":
        return label_confidence(logits, labels)
    if kind == "top":
        return top_confidence(logits)
    raise ValueError(f"confidence kind must be 'label' or 'top', got {kind!r}")


def rank_bins(teacher_conf: Tensor, num_bins: int) -> Tensor:
    """Equal-count bins by the teacher's confidence: bin ``b`` holds ranks ``[b n / B, (b+1) n / B)``.

    Ties are broken by example order (stable sort), so bins are deterministic.
    """
    if num_bins < 1:
        raise ValueError(f"num_bins must be >= 1, got {num_bins}")
    n = len(teacher_conf)
    order = torch.sort(teacher_conf, stable=True).indices
    bins = torch.empty(n, dtype=torch.long)
    bins[order] = torch.arange(n) * num_bins // n
    return bins


def binned_means(teacher_conf: Tensor, student_conf: Tensor, num_bins: int = 10) -> tuple[Tensor, Tensor]:
    """Mean teacher and mean student confidence per teacher-confidence bin (low to high)."""
    bins = rank_bins(teacher_conf, num_bins)
    count = torch.bincount(bins, minlength=num_bins).double()
    t = torch.bincount(bins, weights=teacher_conf.double(), minlength=num_bins) / count
    s = torch.bincount(bins, weights=student_conf.double(), minlength=num_bins) / count
    return t, s


def low_confidence_gap(teacher_conf: Tensor, student_conf: Tensor, fraction: float = 0.1) -> float:
    """``mean(p_teacher - p_student)`` over the ``fraction`` of examples the teacher is least sure of.

    Positive when the student is even less confident than the teacher there,
    which is the deviation Nagarajan et al. report.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    k = max(1, int(round(fraction * len(teacher_conf))))
    idx = torch.sort(teacher_conf, stable=True).indices[:k]
    return float((teacher_conf[idx].double() - student_conf[idx].double()).mean())
