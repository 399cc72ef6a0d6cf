"""Each loss against an independent float64 NumPy computation or a closed form."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lskd_core import losses
import reference as ref

RNG = np.random.default_rng(1234)


def _logits(n=8, k=10, scale=3.0):
    return RNG.normal(size=(n, k)) * scale


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.5, 0.9])
def test_ls_cross_entropy_matches_numpy(alpha):
    z = _logits()
    y = RNG.integers(0, 10, size=8)
    got = losses.ls_cross_entropy(torch.tensor(z), torch.tensor(y), alpha).item()
    assert got == pytest.approx(ref.ls_ce(z, y, alpha), rel=1e-12)


def test_ls_cross_entropy_alpha0_is_plain_ce_and_matches_torch_builtin():
    z, y = torch.tensor(_logits()), torch.tensor(RNG.integers(0, 10, size=8))
    assert losses.ls_cross_entropy(z, y, 0.0).item() == pytest.approx(torch.nn.functional.cross_entropy(z, y).item(), rel=1e-12)
    assert losses.ls_cross_entropy(z, y, 0.1).item() == pytest.approx(
        torch.nn.functional.cross_entropy(z, y, label_smoothing=0.1).item(), rel=1e-12)


def test_smoothing_mass_closed_form():
    y = torch.tensor([2, 0])
    s = losses.smooth_labels(y, 5, 0.1)
    assert s[0, 2].item() == pytest.approx(0.9 + 0.1 / 5)
    assert s[0, 0].item() == pytest.approx(0.1 / 5)
    assert torch.allclose(s.sum(1), torch.ones(2, dtype=s.dtype))


def test_ls_minimum_is_reached_at_the_smoothed_target():
    # The LS loss of logits log(y_LS) equals the entropy of y_LS: its minimum (Gibbs).
    k, alpha = 6, 0.2
    y = torch.tensor([3])
    target = losses.smooth_labels(y, k, alpha, torch.float64)
    at_min = losses.ls_cross_entropy(target.log(), y, alpha).item()
    assert at_min == pytest.approx(losses.entropy(target).item(), rel=1e-12)
    for _ in range(20):
        other = target.log() + torch.randn(1, k, dtype=torch.float64) * 0.3
        assert losses.ls_cross_entropy(other, y, alpha).item() > at_min


@pytest.mark.parametrize("t", [1.0, 2.0, 3.0, 64.0])
def test_kd_loss_matches_numpy(t):
    zs, zt = _logits(), _logits()
    got = losses.kd_loss(torch.tensor(zs), torch.tensor(zt), t).item()
    assert got == pytest.approx(ref.kd(zs, zt, t), rel=1e-10)


def test_kd_loss_uses_t_squared_and_batchmean():
    zs, zt = _logits(n=5), _logits(n=5)
    t = 4.0
    pt, ps_log = ref.softmax(zt, t), ref.log_softmax(zs, t)
    kl_rows = (pt * (np.log(pt) - ps_log)).sum(axis=1)
    got = losses.kd_loss(torch.tensor(zs), torch.tensor(zt), t).item()
    # batchmean: sum over classes, mean over rows -- not a mean over all elements.
    assert got == pytest.approx(t * t * kl_rows.mean(), rel=1e-10)
    assert got != pytest.approx(t * t * kl_rows.mean() / zs.shape[1], rel=1e-3)
    assert got != pytest.approx(kl_rows.mean(), rel=1e-3)


def test_kd_loss_with_hard_label_term():
    zs, zt = _logits(), _logits()
    y = RNG.integers(0, 10, size=8)
    got = losses.kd_loss(torch.tensor(zs), torch.tensor(zt), 3.0, torch.tensor(y), beta=0.3).item()
    assert got == pytest.approx(ref.kd(zs, zt, 3.0, y, 0.3), rel=1e-10)
    with pytest.raises(ValueError, match="hard targets"):
        losses.kd_loss(torch.tensor(zs), torch.tensor(zt), 3.0, beta=0.3)


def test_kd_loss_is_zero_when_student_equals_teacher():
    z = torch.tensor(_logits())
    assert losses.kd_loss(z, z.clone(), 2.0).item() == pytest.approx(0.0, abs=1e-12)


def test_kd_gradient_closed_form():
    # d/dz_s [T^2 KL] = T (p_s^T - p_t^T) / N
    zs = torch.tensor(_logits(), requires_grad=True)
    zt = torch.tensor(_logits())
    t = 3.0
    losses.kd_loss(zs, zt, t).backward()
    expected = t * (ref.softmax(zs.detach().numpy(), t) - ref.softmax(zt.numpy(), t)) / zs.shape[0]
    np.testing.assert_allclose(zs.grad.numpy(), expected, rtol=1e-9, atol=1e-14)


def test_kd_gradient_scale_at_large_temperature():
    # Hinton et al. (2015): for zero-mean logits and T >> |z|, the gradient of
    # T^2 KL tends to (z_s - z_t) / (K N), independent of T. Without the T^2
    # factor it would shrink like 1/T^2.
    n, k, t = 4, 10, 64.0
    zs = torch.tensor(_logits(n, k, 1.0))
    zs = (zs - zs.mean(1, keepdim=True)).requires_grad_(True)
    zt = torch.tensor(_logits(n, k, 1.0))
    zt = zt - zt.mean(1, keepdim=True)
    losses.kd_loss(zs, zt, t).backward()
    limit = (zs.detach() - zt) / (k * n)
    np.testing.assert_allclose(zs.grad.numpy(), limit.numpy(), rtol=0.05, atol=1e-4)


def test_extreme_logits_stay_finite():
    zs = torch.tensor([[1e4, -1e4, 0.0], [-3e4, 3e4, 1e3]], dtype=torch.float32, requires_grad=True)
    zt = torch.tensor([[-1e4, 1e4, 0.0], [3e4, -3e4, 0.0]], dtype=torch.float32)
    for t in (1.0, 64.0):
        loss = losses.kd_loss(zs, zt, t)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(zs.grad).all()
        assert torch.isfinite(losses.target_entropy(zs.detach(), t)).all()
    assert torch.isfinite(losses.ls_cross_entropy(zs.detach(), torch.tensor([1, 0]), 0.1))


def test_soft_targets_closed_forms():
    z = torch.tensor(_logits())
    np.testing.assert_allclose(losses.soft_targets(z, 2.0).numpy(), ref.softmax(z.numpy(), 2.0), rtol=1e-12)
    # T -> infinity: uniform
    u = losses.soft_targets(z, 1e9)
    assert torch.allclose(u, torch.full_like(u, 0.1), atol=1e-8)


def test_entropy_closed_forms():
    k = 7
    assert losses.entropy(torch.full((k,), 1.0 / k, dtype=torch.float64)).item() == pytest.approx(math.log(k))
    assert losses.entropy(torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)).item() == 0.0
    # LS target of mixture alpha over K classes has a closed-form entropy.
    alpha = 0.1
    hi, lo = 1 - alpha + alpha / k, alpha / k
    closed = -(hi * math.log(hi) + (k - 1) * lo * math.log(lo))
    s = losses.smooth_labels(torch.tensor([0]), k, alpha, torch.float64)
    assert losses.entropy(s).item() == pytest.approx(closed, rel=1e-12)


@pytest.mark.parametrize("t", [1.0, 64.0])
def test_target_entropy_matches_numpy(t):
    z = _logits()
    got = losses.target_entropy(torch.tensor(z), t).numpy()
    np.testing.assert_allclose(got, ref.entropy(ref.softmax(z, t)), rtol=1e-10)


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_bad_temperature_rejected(bad):
    z = torch.zeros(1, 3)
    with pytest.raises(ValueError, match="temperature"):
        losses.kd_loss(z, z, bad)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_bad_alpha_rejected(bad):
    with pytest.raises(ValueError, match="alpha"):
        losses.ls_cross_entropy(torch.zeros(1, 3), torch.tensor([0]), bad)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 6), st.integers(2, 12),
    st.floats(0.05, 100.0), st.floats(0.01, 50.0), st.integers(0, 2**31 - 1),
)
def test_property_kd_nonnegative_finite_and_matches_reference(n, k, t, scale, seed):
    g = np.random.default_rng(seed)
    zs, zt = g.normal(size=(n, k)) * scale, g.normal(size=(n, k)) * scale
    got = losses.kd_loss(torch.tensor(zs), torch.tensor(zt), t).item()
    assert math.isfinite(got) and got >= -1e-9
    assert got == pytest.approx(ref.kd(zs, zt, t), rel=1e-6, abs=1e-9)
    h = losses.target_entropy(torch.tensor(zs), t)
    assert ((h >= -1e-9) & (h <= math.log(k) + 1e-9)).all()


def test_the_method_registry_chooses_methods_and_names_the_known_ones():
    from lskd_core import methods, train

    m = train.student_method(3.0, 0.25, 0.0, 0)
    assert type(m) is methods.METHODS["kd"] and m.temperature == 3.0 and m.beta == 0.25
    switched = train.student_method(1.0, 0.0, 0.0, 2)
    assert type(switched) is methods.METHODS["ce_then_kd"] and type(switched.inner) is methods.METHODS["kd"]
    with pytest.raises(ValueError, match="unknown method 'dkd'; registered: ce, ce_then_kd, feature_kd, kd"):
        methods.get_method("dkd")


def test_kd_method_and_kd_loss_share_one_beta_mixer():
    """methods.KD's parts add up to losses.kd_loss exactly, for beta = 0 and beta > 0."""
    from lskd_core import losses, methods

    g = torch.Generator().manual_seed(0)
    z, v = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)
    y = torch.randint(0, 5, (8,), generator=g)
    for beta in (0.0, 0.3):
        parts = methods.get_method("kd", temperature=2.0, beta=beta)(methods.Outputs(z), y, methods.Outputs(v), 0)
        assert set(parts) == ({"kd"} if beta == 0 else {"kd", "ce"})
        assert torch.equal(methods.total(parts), losses.kd_loss(z, v, 2.0, y, beta))
