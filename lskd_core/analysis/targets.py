"""How temperature reshapes a teacher's soft targets (paper Sec. 2, Appendix E and H)."""

from __future__ import annotations

import math

import pandas as pd
import torch
from torch import Tensor

from ..losses import soft_targets, target_entropy


def entropy_by_temperature(logits: Tensor, temperatures) -> pd.DataFrame:
    """Mean and std of the target entropy (nats) over examples, per temperature."""
    rows = []
    k = logits.shape[1]
    for t in temperatures:
        h = target_entropy(logits.double(), float(t))
        rows.append({"temperature": float(t), "mean_entropy": h.mean().item(), "std_entropy": h.std().item(),
                     "max_entropy": math.log(k)})
    return pd.DataFrame(rows)


def mean_target_by_class(logits: Tensor, labels: Tensor, temperature: float) -> Tensor:
    """(K, K) matrix: row k is the mean soft target over the examples of class k."""
    p = soft_targets(logits.double(), temperature)
    k = logits.shape[1]
    out = torch.zeros(k, k, dtype=torch.float64)
    for c in range(k):
        out[c] = p[labels == c].mean(dim=0)
    return out


def non_target_mass(logits: Tensor, labels: Tensor, temperature: float) -> float:
    """Mean probability the tempered targets put on the wrong classes."""
    p = soft_targets(logits.double(), temperature)
    return (1.0 - p.gather(1, labels[:, None]).squeeze(1)).mean().item()
