"""Batched students (one stacked model per sweep) against students trained alone, and the method objects."""

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from lskd_core import cache, losses
from lskd_core import batched as engine
from lskd_core.methods import KD, METHODS, CEThenKD, CrossEntropy, Outputs, total
from lskd_core.models import build
from lskd_core.config import TrainConfig
from lskd_core.train import train_students

T_CFG = TrainConfig(arch="convnet_m", n_train=300, n_test=200, num_epochs=2, batch_size=64)
S_CFG = TrainConfig(arch="convnet_s", n_train=300, n_test=200, num_epochs=2, batch_size=64)
# Grouped convolutions sum in another order than a lone model's, so a batched student
# equals its solo twin to rounding; after two epochs of SGD that is well inside these.
WEIGHT_ATOL, TOP1_POINTS = 1e-3, 1.0


def _close(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    worst = max((sa[k].double() - sb[k].double()).abs().max().item() for k in sa)
    ca, cb = a.metrics()["curves"], b.metrics()["curves"]
    assert worst < WEIGHT_ATOL, f"largest weight difference {worst:.2e}"
    assert max(abs(x - y) for x, y in zip(ca["test_top1"], cb["test_top1"])) <= TOP1_POINTS
    assert ca["train_loss"] == pytest.approx(cb["train_loss"], rel=1e-3)
    return worst


@pytest.fixture(params=["fused", "vmap"])
def stack_kind(request, monkeypatch):
    if request.param == "vmap":  # what an architecture that cannot be fused gets
        monkeypatch.setattr(engine, "_fuse", lambda models: None)
    return request.param


@pytest.mark.parametrize("arch", ["convnet3_s", "resnet_s"])
def test_stack_forward_equals_each_model(stack_kind, arch):
    torch.manual_seed(0)
    models = [build(arch, 1, 10, True) for _ in range(3)]
    x = torch.randn(16, 1, 14, 14)
    stack = engine.Stack(models)
    assert stack.fused == (stack_kind == "fused")
    for mode in (True, False):
        stack.train(mode)
        for m in models:
            m.train(mode)
        z, feats = stack(x, features=True)
        assert z.shape == (3, 16, 10)
        from lskd_core import feature_kd

        for i, m in enumerate(models):
            with feature_kd.capture(m) as tap:
                torch.testing.assert_close(z[i], m(x), rtol=1e-5, atol=1e-5)
            for f, g in zip(feats, tap.features(), strict=True):
                torch.testing.assert_close(f[i], g, rtol=1e-5, atol=1e-5)
    for i, m in enumerate(models):  # train-mode batch norm updated each member's own running stats
        state = stack.member_state(i)
        assert state.keys() == m.state_dict().keys()
        for k, v in m.state_dict().items():
            torch.testing.assert_close(state[k], v, rtol=1e-5, atol=1e-6)


def test_stack_step_updates_each_member_by_its_own_gradient(stack_kind):
    torch.manual_seed(1)
    models = [build("convnet3_s", 1, 10, True) for _ in range(2)]
    x, y = torch.randn(8, 1, 14, 14), torch.randint(0, 10, (8,))
    stack = engine.Stack(models)
    opt = torch.optim.SGD(stack.parameters(), lr=0.5, momentum=0.9, weight_decay=5e-4)
    for _ in range(2):
        z, _ = stack(x)
        opt.zero_grad()
        (F.cross_entropy(z[0], y) + 2 * F.cross_entropy(z[1], y)).backward()
        opt.step()
    for i, (m, w) in enumerate(zip(models, (1.0, 2.0))):
        o = torch.optim.SGD(m.parameters(), lr=0.5, momentum=0.9, weight_decay=5e-4)
        for _ in range(2):
            o.zero_grad()
            (w * F.cross_entropy(m(x), y)).backward()
            o.step()
        state = stack.member_state(i)
        for k, v in m.state_dict().items():
            torch.testing.assert_close(state[k], v, rtol=1e-4, atol=1e-5)


def test_architectures_that_mix_channels_are_not_fused():
    """A layer norm over channels cannot be split by member; the stack falls back to vmap."""
    from lskd_core.models import Classifier

    def ln_model():
        return Classifier(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(1),
                                              torch.nn.LayerNorm(4 * 30 * 30)), 4 * 30 * 30, 10)

    torch.manual_seed(3)
    models = [ln_model() for _ in range(2)]
    stack = engine.Stack(models)
    assert not stack.fused
    x = torch.randn(4, 1, 32, 32)
    z, _ = stack(x)
    for i, m in enumerate(models):
        torch.testing.assert_close(z[i], m(x), rtol=1e-5, atol=1e-5)


def test_methods_return_named_parts_that_sum_to_the_paper_losses():
    assert {"ce", "kd", "feature_kd", "ce_then_kd"} <= set(METHODS)
    torch.manual_seed(2)
    z, v, y = torch.randn(32, 10), 3 * torch.randn(32, 10), torch.randint(0, 10, (32,))
    s, t = Outputs(z), Outputs(v)
    for temp, beta in ((1.0, 0.0), (4.0, 0.0), (4.0, 0.3)):
        parts = KD(temp, beta)(s, y, t, 0)
        assert set(parts) == ({"kd", "ce"} if beta else {"kd"})
        torch.testing.assert_close(total(parts), losses.kd_loss(z, v, temp, y, beta))
    torch.testing.assert_close(CrossEntropy(0.1)(s, y, None, 0)["ce"], losses.ls_cross_entropy(z, y, 0.1))
    switch = CEThenKD(KD(4.0), from_epoch=2)
    assert not switch.uses_teacher(1) and switch.uses_teacher(2)
    torch.testing.assert_close(switch(s, y, None, 1)["ce"], F.cross_entropy(z, y))
    assert set(switch(s, y, t, 2)) == {"kd"}


@pytest.mark.slow
def test_batched_sweep_equals_solo_students(tmp_path, monkeypatch):
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "sweep"))
    sweep = train_students(T_CFG, S_CFG, [1, 3, 64], progress=False)
    assert sweep[3.0].metrics()["sweep_size"] == 3
    parts = sweep[3.0].metrics()["curves"]["train_parts"]
    assert [set(p) for p in parts] == [{"kd"}, {"kd"}]
    assert parts[-1]["kd"] == pytest.approx(sweep[3.0].metrics()["curves"]["train_loss"][-1])
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "solo"))
    for t in (1.0, 3.0, 64.0):
        solo = train_students(T_CFG, S_CFG, [t], progress=False)[t]
        assert solo.metrics()["sweep_size"] == 1
        _close(solo, sweep[t])
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "again"))  # the same sweep again: bitwise
    again = train_students(T_CFG, S_CFG, [1, 3, 64], progress=False)
    for t in (1.0, 3.0, 64.0):
        a, b = again[t].state_dict(), sweep[t].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert again[t].metrics()["curves"] == sweep[t].metrics()["curves"]


@pytest.mark.slow
@pytest.mark.parametrize("variant", [{}, {"kd_from_epoch": 1}])
def test_teacher_table_stands_in_for_the_teacher_forward(tmp_path, monkeypatch, variant):
    """Without augmentation students read the teacher's logits from a table computed once; the
    students equal those of a teacher run at every step, and the teacher runs once, not per step."""
    from lskd_core import loop

    scfg = replace(S_CFG, augment=False)
    calls = []
    per_step = loop._teacher_outputs
    monkeypatch.setattr(loop, "_teacher_outputs", lambda *a: calls.append(1) or per_step(*a))
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "table"))
    table = train_students(T_CFG, scfg, [1, 4], progress=False, **variant)
    assert calls == []  # no teacher forward inside the steps
    monkeypatch.setattr(loop._Training, "teacher_table", lambda self, split: None)
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "per_step"))
    stepped = train_students(T_CFG, scfg, [1, 4], progress=False, **variant)
    kd_epochs = S_CFG.num_epochs - variant.get("kd_from_epoch", 0)
    assert len(calls) == kd_epochs * -(-S_CFG.n_train // S_CFG.batch_size)  # the path it stands in for
    for t in (1.0, 4.0):
        _close(stepped[t], table[t])


@pytest.mark.slow
@pytest.mark.parametrize("variant", [{"feature_weight": 1e-3}, {"kd_from_epoch": 1}])
def test_batched_variants_equal_solo_students(tmp_path, monkeypatch, variant):
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "sweep"))
    sweep = train_students(T_CFG, S_CFG, [1, 4], progress=False, **variant)
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "solo"))
    solo = train_students(T_CFG, S_CFG, [4], progress=False, **variant)[4.0]
    _close(solo, sweep[4.0])
    parts = sweep[4.0].metrics()["curves"]["train_parts"]
    expected = [{"kd", "feature"}] * 2 if "feature_weight" in variant else [{"ce"}, {"kd"}]
    assert [set(p) for p in parts] == expected


@pytest.mark.slow
def test_kill_while_writing_students_finishes_the_same_sweep(tmp_path, monkeypatch):
    """A sweep killed after writing one of its students finishes from its final checkpoint:
    the other student is bitwise the one an uninterrupted sweep writes, not a smaller sweep's."""
    real = cache.finish_run
    written = []

    def write_one_then_die(run, config, metrics, state):
        if metrics.get("kind") == "student":
            if written:
                raise KeyboardInterrupt("simulated kill between two students")
            written.append(run)
        real(run, config, metrics, state)

    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "killed"))
    monkeypatch.setattr(cache, "finish_run", write_one_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_students(T_CFG, S_CFG, [1, 4], progress=False)
    monkeypatch.setattr(cache, "finish_run", real)
    assert len(written) == 1 and written[0].done
    resumed = train_students(T_CFG, S_CFG, [4], progress=False)  # asks for the missing one alone
    assert resumed[4.0].metrics()["sweep_size"] == 2
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "straight"))
    straight = train_students(T_CFG, S_CFG, [1, 4], progress=False)
    a, b = resumed[4.0].state_dict(), straight[4.0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not list((tmp_path / "killed").glob("sweep-*"))


def test_batched_with_one_member_is_the_engine_teachers_use(tmp_path, monkeypatch):
    """Teachers go through the same stacked loop; the curves log their one loss part."""
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "t"))
    from lskd_core.train import train_teacher

    cfg = replace(T_CFG, n_train=128, n_test=64, num_epochs=1, alpha=0.1)
    m = train_teacher(cfg, progress=False).metrics()
    assert m["method"] == "ce" and set(m["curves"]["train_parts"][0]) == {"ce"}
    assert m["curves"]["train_parts"][0]["ce"] == pytest.approx(m["curves"]["train_loss"][0])
