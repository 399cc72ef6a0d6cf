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


def temperature_for_entropy(logits: Tensor, entropy: float, lo: float = 1e-2, hi: float = 1e4,
                            tol: float = 1e-10) -> float:
    """The T at which the mean target entropy of ``logits`` equals ``entropy`` (nats).

    Each example's entropy of softmax(z / T) rises monotonically with T, from
    0 (or the entropy of the tie) towards ln K, so the mean does too and a
    bisection on log T finds the unique solution.
    """
    z = logits.double()

    def mean_h(t: float) -> float:
        return target_entropy(z, t).mean().item()

    h_lo, h_hi = mean_h(lo), mean_h(hi)
    if not h_lo <= entropy <= h_hi:
        raise ValueError(f"entropy {entropy:.4f} is outside [{h_lo:.4f}, {h_hi:.4f}], reachable for T in [{lo}, {hi}]")
    a, b = math.log(lo), math.log(hi)
    for _ in range(200):
        m = 0.5 * (a + b)
        if mean_h(math.exp(m)) < entropy:
            a = m
        else:
            b = m
        if b - a < tol:
            break
    return math.exp(0.5 * (a + b))


def second_largest_dominance(mean_probs: Tensor, target: int, factor: float = 100.0) -> tuple[int, int, int]:
    """Appendix E: (index of the second-largest mean probability, how many of the remaining classes it
    exceeds by at least ``factor``, how many remaining classes there are).

    ``mean_probs`` is the target class's mean soft-target vector; the target
    itself and the second-largest class are left out of the count.
    """
    p = mean_probs.double().clone()
    p[target] = -1.0
    second = int(torch.argmax(p))
    rest = [k for k in range(len(p)) if k not in (target, second)]
    dominated = int((mean_probs.double()[second] >= factor * mean_probs.double()[rest]).sum())
    return second, dominated, len(rest)
