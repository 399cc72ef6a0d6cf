"""Word-level KD: the token loss against NumPy, and the fairseq criterion (where fairseq is installed)."""

import numpy as np
import pytest
import torch

from lskd_core.nmt.token_kd import token_kd_loss
from reference import kd, log_softmax, softmax

PAD = 1


def _batch(seed=0, b=3, length=6, v=11):
    g = torch.Generator().manual_seed(seed)
    zs = torch.randn(b, length, v, generator=g, dtype=torch.float64) * 3
    zt = torch.randn(b, length, v, generator=g, dtype=torch.float64) * 3
    y = torch.randint(2, v, (b, length), generator=g)
    y[0, 4:] = PAD  # padded positions must not count
    y[2, 1:] = PAD
    return zs, zt, y


@pytest.mark.parametrize("t,beta", [(1.0, 0.0), (3.0, 0.0), (64.0, 0.0), (2.0, 0.5)])
def test_token_kd_equals_a_per_token_numpy_sum(t, beta):
    zs, zt, y = _batch()
    loss, n = token_kd_loss(zs, zt, y, PAD, t, beta)
    mask = (y != PAD).numpy()
    assert n == mask.sum() == 3 * 6 - 2 - 5
    s, tt, yy = zs.numpy()[mask], zt.numpy()[mask], y.numpy()[mask]
    # Independent: a loop over tokens, each its own one-row KD.
    expect = sum(kd(s[i:i + 1], tt[i:i + 1], t, yy[i:i + 1], beta) for i in range(n))
    assert loss.item() == pytest.approx(expect, rel=1e-10)
    # Closed form of one token at beta = 0: T^2 sum p_t (log p_t - log p_s).
    if beta == 0.0:
        one = t * t * float((softmax(tt[0], t) * (log_softmax(tt[0], t) - log_softmax(s[0], t))).sum())
        assert one == pytest.approx(kd(s[:1], tt[:1], t), rel=1e-10)


def test_token_kd_rejects_mismatched_vocabularies_and_handles_all_pad():
    zs, zt, y = _batch()
    with pytest.raises(ValueError, match="dictionary"):
        token_kd_loss(zs, zt[..., :-1], y, PAD, 2.0)
    loss, n = token_kd_loss(zs, zt, torch.full_like(y, PAD), PAD, 2.0)
    assert n == 0 and loss.item() == 0.0


def test_fairseq_criterion_on_a_toy_transformer(tmp_path):
    fairseq = pytest.importorskip("fairseq")  # noqa: F841  (the optional `nmt` extra)
    from fairseq_toy import toy_task_and_models

    from lskd_core.nmt.fairseq_plugin.criterion import KDCriterion

    task, student, teacher_path, sample = toy_task_and_models(tmp_path)
    crit = KDCriterion(task, str(teacher_path), kd_temperature=3.0, kd_beta=0.0)
    student.eval()
    loss, sample_size, log = crit(student, sample)
    with torch.no_grad():
        zs = student(**sample["net_input"])[0]
        zt = crit.teacher(**sample["net_input"])[0]
    expect, n = token_kd_loss(zs, zt, sample["target"], task.target_dictionary.pad(), 3.0)
    assert sample_size == sample["ntokens"] == n
    assert loss.item() == pytest.approx(expect.item(), rel=1e-6)
    # A teacher binarised with another dictionary is refused with a clear message.
    other_task, _, _, _ = toy_task_and_models(tmp_path / "other", extra_symbol="zzz")
    with pytest.raises(ValueError, match="dictionaries differ"):
        KDCriterion(other_task, str(teacher_path), kd_temperature=3.0)
