"""The engine: bitwise determinism, caching, resume == uninterrupted (batched == solo: test_batched.py)."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest
import torch

from lskd_core import cache
from lskd_core.loop import NonFiniteLoss
from lskd_core.config import TrainConfig, check_temperatures, lr_at
from lskd_core.train import train_students, train_teacher

T_CFG = TrainConfig(arch="convnet_m", n_train=300, n_test=200, num_epochs=2, batch_size=64)
S_CFG = TrainConfig(arch="convnet_s", n_train=300, n_test=200, num_epochs=2, batch_size=64)


def _curves(run):
    m = run.metrics()
    return m["curves"], m["final_top1"]


def _fresh_cache(monkeypatch, tmp_path, name):
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / name))


@pytest.mark.slow
def test_same_seed_same_metrics_bitwise(tmp_path, monkeypatch):
    _fresh_cache(monkeypatch, tmp_path, "a")
    a = train_teacher(replace(T_CFG, alpha=0.1), progress=False)
    _fresh_cache(monkeypatch, tmp_path, "b")
    b = train_teacher(replace(T_CFG, alpha=0.1), progress=False)
    assert _curves(a) == _curves(b)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    _fresh_cache(monkeypatch, tmp_path, "c")
    c = train_teacher(replace(T_CFG, alpha=0.1, seed=1), progress=False)
    assert _curves(c) != _curves(a)


@pytest.mark.slow
def test_cache_serves_a_finished_run(tmp_path, monkeypatch):
    _fresh_cache(monkeypatch, tmp_path, "cache")
    a = train_teacher(T_CFG, progress=False)
    stamp = (a.path / "metrics.json").stat().st_mtime_ns
    b = train_teacher(T_CFG, progress=False)
    assert a.path == b.path and (b.path / "metrics.json").stat().st_mtime_ns == stamp
    assert set(os.listdir(a.path)) == {"config.json", "metrics.json", "model.pt"}
    m = a.metrics()
    assert {"wall_time_s", "hardware", "seed", "curves", "best_top1", "final_top1", "final_top5"} <= set(m)
    assert cache.run_dir("teacher", {**json.loads((a.path / "config.json").read_text()), "lr": 0.5}).path != a.path


@pytest.mark.slow
def test_scoring_the_test_split_less_often_trains_the_same_weights(tmp_path, monkeypatch):
    """``eval_every`` only thins the test curve: same weights, same final accuracy, its own run key,
    and a config at the default keeps the key it had before the field existed."""
    from dataclasses import asdict

    from lskd_core.config import key_fields
    from lskd_core.train import teacher_config_dict

    cfg = replace(T_CFG, num_epochs=5, alpha=0.1)
    _fresh_cache(monkeypatch, tmp_path, "every")
    every = train_teacher(cfg, progress=False)
    sparse = train_teacher(replace(cfg, eval_every=2), progress=False)
    assert sparse.path != every.path
    ce, cs = every.metrics()["curves"], sparse.metrics()["curves"]
    assert cs["test_epoch"] == [2, 4, 5] and ce["test_epoch"] == [1, 2, 3, 4, 5]
    assert cs["test_top1"] == [ce["test_top1"][i - 1] for i in cs["test_epoch"]]
    assert cs["train_loss"] == ce["train_loss"] and len(cs["epoch"]) == 5
    assert sparse.metrics()["final_top1"] == every.metrics()["final_top1"]
    assert sparse.metrics()["best_epoch"] in cs["test_epoch"]
    a, b = every.state_dict(), sparse.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    old = {k: v for k, v in asdict(cfg).items() if k != "eval_every"}  # a config as keyed before the field
    assert teacher_config_dict(cfg) == key_fields(cfg) == old
    assert teacher_config_dict(replace(cfg, eval_every=2)) == {**old, "eval_every": 2}


_KILL_SCRIPT = """
import os, sys
import torch
torch.set_num_threads(1)  # bitwise equality holds for a fixed thread count (conftest uses 1)
os.environ["LSKD_CACHE"] = sys.argv[1]
from lskd_core.config import TrainConfig
from lskd_core.train import train_teacher
cfg = TrainConfig(arch="convnet_m", n_train=300, n_test=200, num_epochs=4, batch_size=64, alpha=0.1)
train_teacher(cfg, progress=False)
"""


@pytest.mark.slow
def test_kill_dash_9_then_resume_equals_uninterrupted(tmp_path, monkeypatch):
    cache_dir = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(cache_dir)])
    # Wait for the first epoch's checkpoint, then kill without warning.
    deadline = time.time() + 120
    while time.time() < deadline and not list(cache_dir.glob("teacher-*/checkpoint.pt")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ckpts = list(cache_dir.glob("teacher-*/checkpoint.pt"))
    assert ckpts, "no checkpoint was written before the kill"
    assert not list(cache_dir.glob("teacher-*/metrics.json")), "killed run must not look finished"
    assert not list(cache_dir.rglob("*.tmp")), "a partial file was left behind"
    cfg = TrainConfig(arch="convnet_m", n_train=300, n_test=200, num_epochs=4, batch_size=64, alpha=0.1)
    monkeypatch.setenv("LSKD_CACHE", str(cache_dir))
    resumed = train_teacher(cfg, progress=False)
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "straight"))
    straight = train_teacher(cfg, progress=False)
    assert _curves(resumed) == _curves(straight)
    assert not (resumed.path / "checkpoint.pt").exists()


@pytest.mark.slow
def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    _fresh_cache(monkeypatch, tmp_path, "nan")
    cfg = replace(T_CFG, lr=1e12, num_epochs=3)
    with pytest.raises(NonFiniteLoss, match="last good checkpoint"):
        train_teacher(cfg, progress=False)
    run = cache.run_dir("teacher", __import__("dataclasses").asdict(cfg))
    assert not run.done


@pytest.mark.parametrize("bad,match", [
    (dict(arch="vgg99"), "unknown arch"), (dict(dataset="mnist"), "unknown dataset"),
    (dict(alpha=1.0), "alpha"), (dict(alpha=-0.1), "alpha"), (dict(num_epochs=0), "num_epochs"),
    (dict(eval_every=0), "eval_every"),
])
def test_bad_config_fails_before_training(bad, match):
    with pytest.raises(ValueError, match=match):
        replace(T_CFG, **bad).validate()


@pytest.mark.parametrize("temps,match", [([], "empty"), ([0], "in \\(0, 1000\\]"), ([-2], "in \\(0, 1000\\]"),
                                        ([1, 1], "repeat"), ([1e6], "uniform to float precision"),
                                        ([float("nan")], "in \\(0, 1000\\]")])
def test_bad_temperatures(temps, match):
    with pytest.raises(ValueError, match=match):
        check_temperatures(temps)


def test_lr_schedules():
    c = TrainConfig(lr=0.1, num_epochs=10, schedule="cosine")
    assert lr_at(c, 0) == pytest.approx(0.1) and lr_at(c, 5) == pytest.approx(0.05) and lr_at(c, 10) == pytest.approx(0)
    s = TrainConfig(lr=0.1, num_epochs=200, schedule="step", step_size=80)
    assert lr_at(s, 79.9) == pytest.approx(0.1) and lr_at(s, 80) == pytest.approx(0.01) and lr_at(s, 160) == pytest.approx(0.001)
    w = TrainConfig(lr=0.1, num_epochs=10, warmup_epochs=2)
    assert lr_at(w, 1) == pytest.approx(0.05) and lr_at(w, 2) == pytest.approx(0.1)
    # One-cycle: lr/25 at the start, lr at 25 % of training, lr/1e4 at the end, cosine in between.
    o = TrainConfig(lr=0.2, num_epochs=4, schedule="onecycle")
    assert lr_at(o, 0) == pytest.approx(0.2 / 25) and lr_at(o, 1) == pytest.approx(0.2)
    assert lr_at(o, 4) == pytest.approx(0.2 / 1e4)
    assert lr_at(o, 0.5) == pytest.approx(0.2 / 25 + (0.2 - 0.2 / 25) / 2)  # cos(pi/2) = 0: half way up
    assert lr_at(o, 2.5) == pytest.approx(0.2 / 1e4 + (0.2 - 0.2 / 1e4) / 2)  # half way down


class _Payload:
    """Any pickled object other than tensors and containers: weights_only refuses it."""

    def __reduce__(self):
        return (print, ("this would run on load",))


def test_checkpoints_refuse_pickled_code(tmp_path):
    import pickle

    from lskd_core.io import load_checkpoint

    bad = tmp_path / "evil.pt"
    torch.save({"model": _Payload()}, bad)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(bad)
    good = tmp_path / "ok.pt"
    torch.save({"w": torch.ones(2)}, good)
    assert torch.equal(load_checkpoint(good)["w"], torch.ones(2))



@pytest.mark.slow
def test_channels_last_trains_to_the_same_model(tmp_path, monkeypatch):
    # channels_last changes only the memory layout; on CPU the results agree up to
    # float rounding (kernels may sum in another order), so compare with a tolerance.
    _fresh_cache(monkeypatch, tmp_path, "nchw")
    a = train_teacher(replace(T_CFG, num_epochs=1), progress=False)
    _fresh_cache(monkeypatch, tmp_path, "nhwc")
    b = train_teacher(replace(T_CFG, num_epochs=1, channels_last=True), progress=False)
    sa, sb = a.state_dict(), b.state_dict()
    for k in sa:
        torch.testing.assert_close(sb[k].float(), sa[k].float(), rtol=1e-3, atol=1e-4)
    assert b.metrics()["curves"]["train_loss"] == pytest.approx(a.metrics()["curves"]["train_loss"], rel=1e-4)


@pytest.mark.slow
def test_a_loaded_model_is_in_the_layout_of_its_batches(tmp_path, monkeypatch):
    # A model built from a checkpoint has NCHW weights; channels_last batches through them take
    # slow mixed-layout kernels. load_model puts the weights in the layout the run's config feeds,
    # and predict's outputs must not change.
    from lskd_core.loop import predict
    from lskd_core.data.batching import load_data
    from lskd_core.train import load_model

    _fresh_cache(monkeypatch, tmp_path, "cl")
    cfg = replace(T_CFG, num_epochs=1, channels_last=True)
    run = train_teacher(cfg, progress=False)
    data = load_data(cfg)
    model = load_model(run, data)
    conv = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]  # C > 1: unambiguous
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    reference = load_model(run, data).to(memory_format=torch.contiguous_format)
    with torch.no_grad():
        expected = reference(data.test.x)  # NCHW throughout: an independent reference
    logits, labels, feats = predict(model, data.test, cfg, features=True, batch_size=32)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(labels, data.test.y) and feats.shape[0] == len(data.test.y)


def test_predict_evaluates_an_unfused_stack_under_channels_last(monkeypatch):
    # The loop evaluates its Stack with predict every epoch; a stack that could not be fused holds
    # 5-D stacked weights, which have no channels_last layout, so predict must leave layouts alone.
    from lskd_core import batched
    from lskd_core.data.prepared import TensorSplit
    from lskd_core.loop import predict
    from lskd_core.models import build

    monkeypatch.setattr(batched, "_fuse", lambda models: None)
    torch.manual_seed(0)
    models = [build("convnet3_s", 1, 10, True).eval() for _ in range(2)]
    stack = batched.Stack(models)
    split = TensorSplit(torch.randn(40, 1, 14, 14), torch.randint(0, 10, (40,)), tuple("abcdefghij"), 0)
    logits, labels, _ = predict(stack, split, replace(S_CFG, channels_last=True), batch_size=16)
    with torch.no_grad():
        expected = torch.stack([m(split.x) for m in models])
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(labels, split.y)


def test_sweep_teacher_reads_batches_in_their_layout():
    from lskd_core.loop import Member, _Training
    from lskd_core.methods import KD
    from lskd_core.models import build

    for channels_last in (True, False):
        teacher, student = build("convnet3_m", 1, 10, True), build("convnet3_s", 1, 10, True)
        run = _Training([Member("T=1", student, KD(1.0))], replace(S_CFG, channels_last=channels_last), teacher)
        conv = [m for m in run.teacher.modules() if isinstance(m, torch.nn.Conv2d)][-1]  # C > 1: unambiguous
        assert conv.weight.is_contiguous(memory_format=torch.channels_last) is channels_last


def test_teacher_set_trains_from_the_far_end_and_leaves_a_busy_teacher_to_its_holder(tmp_path, monkeypatch):
    """Beside the grid (which trains alpha by alpha from seed 0 up), chapter 2 takes the teachers in
    the opposite order and passes over one that another process holds, collecting it last."""
    import fcntl

    from lskd_core import experiments as ex
    from lskd_core.train import teacher_config_dict

    _fresh_cache(monkeypatch, tmp_path, "c")
    calls = []
    monkeypatch.setattr(ex, "train_teacher", lambda cfg: calls.append((cfg.alpha, cfg.seed)) or cfg)
    held = cache.run_dir("teacher", teacher_config_dict(ex.teacher_config(ex.get_profile("tiny"), 0.0, 1)))
    lock_file = held.path.parent / ".locks" / f"{held.path.name}.lock"
    lock_file.parent.mkdir(parents=True)
    with open(lock_file, "a") as fh:  # another holder: flock conflicts across open files, even in one process
        fcntl.flock(fh, fcntl.LOCK_EX)
        assert cache.busy(held)
        out = ex.teacher_set("tiny", [0.0, 0.1], [0, 1])
        fcntl.flock(fh, fcntl.LOCK_UN)
    assert not cache.busy(held)
    assert calls == [(0.1, 1), (0.1, 0), (0.0, 0), (0.0, 1)]  # each once, the held one last
    assert list(out) == [(0.0, 0), (0.0, 1), (0.1, 0), (0.1, 1)]
    assert all((cfg.alpha, cfg.seed) == key for key, cfg in out.items())
