"""Losses and soft targets of label smoothing (LS) and knowledge distillation (KD).

Notation follows the paper (Sec. 2): K classes, LS mixture ``alpha`` of the
*teacher*, KD temperature ``temperature`` (T) of the *student's* training.
All functions are pure: tensors in, tensors out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")


def _check_alpha(alpha: float) -> None:
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"alpha must lie in [0, 1), got {alpha!r}")


def smooth_labels(targets: Tensor, num_classes: int, alpha: float,
                  dtype: torch.dtype = torch.float32) -> Tensor:
    """LS targets (paper Sec. 2): ``y_LS = (1 - alpha) * y + alpha / K``.

    ``targets`` holds class indices of shape (N,); the result is (N, K) and
    every row sums to one. The correct class receives ``1 - alpha + alpha/K``.
    """
    _check_alpha(alpha)
    one_hot = F.one_hot(targets, num_classes).to(dtype)
    return one_hot * (1.0 - alpha) + alpha / num_classes


def ls_cross_entropy(logits: Tensor, targets: Tensor, alpha: float) -> Tensor:
    """Label-smoothed cross-entropy, mean over the batch (paper Sec. 2).

    ``H(y_LS, p) = -sum_k y_LS,k log p_k`` with ``p = softmax(z)``. With
    ``alpha = 0`` it is ordinary cross-entropy.
    """
    y = smooth_labels(targets, logits.shape[-1], alpha, logits.dtype)
    return -(y * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


def soft_targets(logits: Tensor, temperature: float) -> Tensor:
    """Tempered probabilities ``p_k^T = exp(z_k / T) / sum_j exp(z_j / T)`` (Sec. 2)."""
    _check_temperature(temperature)
    return F.softmax(logits / temperature, dim=-1)


def entropy(probs: Tensor) -> Tensor:
    """Shannon entropy in nats along the last axis, with ``0 log 0 = 0``."""
    return -(torch.special.xlogy(probs, probs)).sum(dim=-1)


def target_entropy(logits: Tensor, temperature: float) -> Tensor:
    """Entropy (nats) of ``softmax(logits / T)`` per row, computed from log-probabilities.

    Working in log space keeps it finite for extreme logits, where the
    probabilities underflow to zero (Appendix H, Table H.1).
    """
    _check_temperature(temperature)
    logp = F.log_softmax(logits / temperature, dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)


def kd_parts(student_logits: Tensor, teacher_logits: Tensor, temperature: float, targets: Tensor | None = None,
             beta: float = 0.0) -> dict[str, Tensor]:
    """The two named parts of ``kd_loss``, the one place where beta mixes them:
    ``{"kd": (1 - beta) T^2 KL(p_t^T || p_s^T)}``, plus ``{"ce": beta CE(y, p_s)}`` when ``beta > 0``."""
    _check_temperature(temperature)
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must lie in [0, 1], got {beta!r}")
    log_ps = F.log_softmax(student_logits / temperature, dim=-1)
    log_pt = F.log_softmax(teacher_logits.detach() / temperature, dim=-1)
    kl = F.kl_div(log_ps, log_pt, reduction="batchmean", log_target=True)
    parts = {"kd": (1.0 - beta) * temperature**2 * kl}
    if beta > 0.0:
        if targets is None:
            raise ValueError("beta > 0 needs the hard targets")
        parts["ce"] = beta * F.cross_entropy(student_logits, targets)
    return parts


def kd_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    temperature: float,
    targets: Tensor | None = None,
    beta: float = 0.0,
) -> Tensor:
    """KD objective of Hinton et al. (2015) as used in the paper (Sec. 2).

    ``L = (1 - beta) * T^2 * KL(p_t^T || p_s^T) + beta * CE(y, p_s)``

    The KL term is summed over classes and averaged over the batch
    ("batchmean"); the ``T^2`` factor keeps the soft-target gradient of the
    same order as ``T`` varies. The paper uses ``beta = 0`` (KD term alone);
    ``beta > 0`` adds the hard-label cross-entropy at ``T = 1``.
    """
    parts = kd_parts(student_logits, teacher_logits, temperature, targets, beta)
    return parts["kd"] + parts["ce"] if "ce" in parts else parts["kd"]
