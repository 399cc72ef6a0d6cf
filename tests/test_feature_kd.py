"""Feature distillation (Heo et al. 2019) and the CE->KD switch, against independent computations."""

import os
from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from lskd_core import feature_kd as fk
from lskd_core import loop as engine
from lskd_core.models import build
from lskd_core.config import TrainConfig
from lskd_core.train import train_students, train_teacher

T_CFG = TrainConfig(arch="convnet_m", n_train=300, n_test=200, num_epochs=2, batch_size=64)
S_CFG = TrainConfig(arch="convnet_s", n_train=300, n_test=200, num_epochs=2, batch_size=64)


@pytest.mark.parametrize("mean,std", [(0.0, 1.0), (0.7, 0.5), (-1.2, 2.0), (0.3, 3.0), (-0.01, 0.2)])
def test_margin_is_the_mean_of_the_negative_part(mean, std):
    # Independent: scipy's truncated normal on (-inf, 0].
    want = stats.truncnorm(-np.inf, (0 - mean) / std, loc=mean, scale=std).mean()
    got = fk.gaussian_margin(torch.tensor([mean]), torch.tensor([std])).item()
    assert got == pytest.approx(want, rel=1e-5)


def test_margin_falls_back_to_minus_three_sigma_when_negatives_are_rare():
    # Phi(-mean/std) = Phi(-4) ~ 3e-5 < 1e-3.
    got = fk.gaussian_margin(torch.tensor([4.0, 0.0]), torch.tensor([1.0, 2.0]))
    assert got[0].item() == pytest.approx(-3.0)
    assert got[1].item() == pytest.approx(-2 * np.sqrt(2 / np.pi), rel=1e-6)


def test_margin_relu_is_per_channel():
    t = torch.tensor([[[[-5.0, 1.0]], [[-5.0, -0.25]]]])  # (1, 2, 1, 2)
    out = fk.margin_relu(t, torch.tensor([-1.0, -0.5]))
    assert out.flatten().tolist() == [-1.0, 1.0, -0.5, -0.25]


def _partial_l2_loop(s: np.ndarray, t: np.ndarray) -> float:
    total = 0.0
    for si, ti in zip(s.ravel(), t.ravel()):
        if si <= ti <= 0:
            continue
        total += (ti - si) ** 2
    return total


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-3, 3), st.floats(-3, 3)), min_size=1, max_size=40))
def test_partial_l2_matches_the_case_definition(pairs):
    s = np.array([p[0] for p in pairs], dtype=np.float64)
    t = np.array([p[1] for p in pairs], dtype=np.float64)
    got = fk.partial_l2(torch.from_numpy(s), torch.from_numpy(t)).item()
    assert got == pytest.approx(_partial_l2_loop(s, t), rel=1e-12, abs=1e-12)


def test_feature_distance_weights_deeper_positions_more():
    g = torch.Generator().manual_seed(0)
    s = [torch.randn(3, 2, 4, 4, generator=g), torch.randn(3, 5, 2, 2, generator=g)]
    t = [torch.randn(3, 2, 4, 4, generator=g), torch.randn(3, 5, 2, 2, generator=g)]
    m = [torch.full((2,), -0.3), torch.full((5,), -0.8)]
    want = 0.0
    for i, w in enumerate((0.5, 1.0)):
        tt = np.maximum(t[i].numpy(), m[i].numpy()[None, :, None, None])
        want += w * _partial_l2_loop(s[i].numpy(), tt)
    assert fk.feature_distance(s, t, m).item() == pytest.approx(want / 3, rel=1e-5)


def _captured(arch: str, shape: tuple[int, ...]):
    """A seeded model in eval mode, an input, and the features ``capture`` took on it."""
    torch.manual_seed(0)
    model = build(arch, shape[1], 10, True).eval()
    x = torch.randn(*shape)
    with fk.capture(model) as tap:
        model(x)
    return model, x, tap.features()


def test_capture_returns_the_pre_relu_stage_outputs():
    model, x, feats = _captured("resnet_s", (2, 1, 28, 28))
    # Recompute by hand: each residual stage is relu(body(h) + skip(h)).
    h = model.backbone[0](x)
    for i, block in enumerate(model.backbone[1:4]):
        pre = block.body(h) + block.skip(h)
        assert torch.equal(feats[i], pre)
        assert (pre < 0).any()  # really before the ReLU
        h = torch.relu(pre)


def test_capture_on_torchvision_takes_the_last_relu_input_of_each_layer():
    model, x, feats = _captured("resnet18", (1, 3, 32, 32))
    net = model.backbone
    h = net.relu(net.bn1(net.conv1(x)))
    for i, name in enumerate(("layer1", "layer2", "layer3", "layer4")):
        layer = getattr(net, name)
        for block in layer[:-1]:
            h = block(h)
        b = layer[-1]
        out = b.bn2(b.conv2(torch.relu(b.bn1(b.conv1(h)))))
        pre = out + (b.downsample(h) if b.downsample is not None else h)
        torch.testing.assert_close(feats[i], pre)
        h = torch.relu(pre)


def test_stage_marker_keeps_state_dict_keys_and_outputs():
    torch.manual_seed(0)
    model = build("resnet_s", 1, 10, True)
    assert not any(".act." in k or k.endswith(".bn.weight") for k in model.state_dict())
    assert [bn.num_features for _, bn in fk.positions(model)] == [16, 32, 64]


def test_pairs_by_spatial_size_and_clear_error_without_a_match():
    s = [torch.Size([1, 8, 28, 28]), torch.Size([1, 16, 14, 14])]
    t = [torch.Size([1, 4, 28, 28]), torch.Size([1, 6, 28, 28]), torch.Size([1, 9, 7, 7])]
    assert fk.pair_positions(s, t) == [(0, 1)]
    with pytest.raises(ValueError, match="spatial size"):
        fk.pair_positions([torch.Size([1, 8, 3, 3])], t)


@pytest.mark.parametrize("kw,match", [(dict(feature_weight=-1.0), "feature_weight"),
                                      (dict(feature_weight=float("nan")), "feature_weight"),
                                      (dict(kd_from_epoch=2), "kd_from_epoch"),
                                      (dict(feature_weight=1e-3, student_arch="mlp_s"), "no convolutional stages")])
def test_bad_variants_fail_before_any_training(tmp_path, kw, match, monkeypatch):
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "c"))
    arch = kw.pop("student_arch", S_CFG.arch)
    with pytest.raises(ValueError, match=match):
        train_students(T_CFG, replace(S_CFG, arch=arch), [1], progress=False, **kw)
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())


def _curves(run):
    return run.metrics()["curves"]


@pytest.mark.slow
def test_feature_kd_students_are_deterministic(tmp_path, monkeypatch):
    """Batched = solo for feature KD is tested in test_batched.py; here: the term acts, and runs repeat bitwise."""
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "sweep"))
    sweep = train_students(T_CFG, S_CFG, [1, 3], progress=False, feature_weight=1e-3)
    plain = train_students(T_CFG, S_CFG, [1], progress=False)
    assert _curves(sweep[1.0]) != _curves(plain[1.0])  # the feature term changes training
    assert sweep[1.0].path != plain[1.0].path and sweep[1.0].config()["feature_weight"] == 1e-3
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "again"))
    again = train_students(T_CFG, S_CFG, [1, 3], progress=False, feature_weight=1e-3)
    assert _curves(again[3.0]) == _curves(sweep[3.0])
    a, b = again[3.0].state_dict(), sweep[3.0].state_dict()
    assert a.keys() == plain[1.0].state_dict().keys()  # connectors are not part of the saved student
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_interrupted_feature_kd_sweep_resumes_to_the_same_students(tmp_path, monkeypatch):
    real = engine.atomic_torch_save
    calls = {"n": 0}

    def save_then_die(path, obj):
        real(path, obj)
        if path.name == "checkpoint.pt" and any("connectors" in k for k in obj["methods"]):
            calls["n"] += 1
            raise KeyboardInterrupt("simulated interruption after the first student epoch")

    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "resumed"))
    monkeypatch.setattr(engine, "atomic_torch_save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_students(T_CFG, S_CFG, [1, 3], progress=False, feature_weight=1e-3)
    monkeypatch.setattr(engine, "atomic_torch_save", real)
    assert calls["n"] == 1
    resumed = train_students(T_CFG, S_CFG, [1, 3], progress=False, feature_weight=1e-3)
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "straight"))
    straight = train_students(T_CFG, S_CFG, [1, 3], progress=False, feature_weight=1e-3)
    for t in (1.0, 3.0):
        assert _curves(resumed[t]) == _curves(straight[t])


@pytest.mark.slow
def test_switch_student_follows_cross_entropy_until_the_switch(tmp_path, monkeypatch):
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "c"))
    switched = train_students(T_CFG, S_CFG, [3], progress=False, kd_from_epoch=1)[3.0]
    kd = train_students(T_CFG, S_CFG, [3], progress=False)[3.0]
    # A CE-trained model with the student's config sees the same init and batches.
    ce = train_teacher(S_CFG, progress=False)
    sw, c, k = _curves(switched), _curves(ce), _curves(kd)
    assert sw["train_loss"][0] == c["train_loss"][0] and sw["test_top1"][0] == c["test_top1"][0]
    assert sw["train_loss"][0] != k["train_loss"][0]
    assert sw["test_top1"][1] != c["test_top1"][1] or sw["train_loss"][1] != c["train_loss"][1]
    assert switched.metrics()["kd_from_epoch"] == 1
