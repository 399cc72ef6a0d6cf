"""Word-level KD for sequence models, in fairseq's convention (a sum over target tokens).

Every non-padding target position is one row of ``lskd_core.losses.kd_loss``
(Hinton et al.'s loss, the paper's Eq. for KD with beta = 0), so the token
loss is

    sum_{tokens i} [(1 - beta) T^2 KL(softmax(z_t,i / T) || softmax(z_s,i / T)) + beta CE(z_s,i, y_i)]

computed under teacher forcing. fairseq divides by the token count for
reporting, so the mean per token equals ``kd_loss`` on the flattened rows.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..losses import kd_loss


def token_kd_loss(student_logits: Tensor, teacher_logits: Tensor, target: Tensor, pad_idx: int,
                  temperature: float, beta: float = 0.0) -> tuple[Tensor, int]:
    """(summed loss over non-pad tokens, number of those tokens); logits are (B, L, V), target (B, L)."""
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} differ: do the two models share one target dictionary?")
    mask = target.ne(pad_idx)
    n = int(mask.sum())
    if n == 0:
        return student_logits.sum() * 0.0, 0
    # Half-precision logits are promoted: the T^2-scaled KL loses too many digits in fp16/bf16.
    s, t = (x[mask].float() if x.dtype in (torch.float16, torch.bfloat16) else x[mask]
            for x in (student_logits, teacher_logits))
    loss = kd_loss(s, t, temperature, target[mask], beta)
    return loss * n, n
