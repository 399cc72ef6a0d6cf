"""Interruption at the wrong instant, concurrent identical runs, and checks before any compute.

Each test reproduces a defect found by probing the CLI and the cache (issue 17).
"""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from lskd_core import cache
from lskd_core.train import TrainConfig, load_data, train_students, train_teacher

T_CFG = TrainConfig(arch="convnet_m", n_train=300, n_test=200, num_epochs=2, batch_size=64)
S_CFG = TrainConfig(arch="convnet_s", n_train=300, n_test=200, num_epochs=2, batch_size=64)


def _curves(run):
    return run.metrics()["curves"]


def test_debris_of_a_checkpoint_write_does_not_break_the_resumed_sweep(tmp_path, monkeypatch):
    """A kill during a checkpoint write leaves ``.checkpoint.pt.*.tmp``; the sweep used to
    finish its students and then crash at ``rmdir`` for good."""
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "c"))
    teacher = train_teacher(T_CFG, progress=False)
    from lskd_core.train import student_config_dict

    names = [cache.run_dir("student", student_config_dict(S_CFG, teacher, t, 0.0)).path.name for t in (1.0, 4.0)]
    work = cache.run_dir("sweep", {"students": names})
    work.path.mkdir(parents=True)
    (work.path / ".checkpoint.pt.abc123.tmp").write_bytes(b"half a checkpo")
    runs = train_students(T_CFG, S_CFG, [1, 4], progress=False)
    assert all(r.done for r in runs.values())
    assert not work.path.exists()
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "clean"))
    clean = train_students(T_CFG, S_CFG, [1, 4], progress=False)
    assert all(_curves(clean[t]) == _curves(runs[t]) for t in runs)


_SWEEP = """
import os, sys, torch
torch.set_num_threads(1)
from lskd_core.train import TrainConfig, train_students
t = TrainConfig(arch="convnet_m", n_train=300, n_test=200, num_epochs=2, batch_size=64)
s = TrainConfig(arch="convnet_s", n_train=300, n_test=200, num_epochs=2, batch_size=64)
runs = train_students(t, s, [1, 4], progress=False)
print(sorted(r.path.name for r in runs.values()))
"""


@pytest.mark.slow
def test_identical_sweeps_started_together_both_succeed(tmp_path):
    """Two identical ``lskd train students`` used to race on the sweep folder (exit 2 about 1 in 4)."""
    env = {**os.environ, "LSKD_CACHE": str(tmp_path / "shared")}
    procs = [subprocess.Popen([sys.executable, "-c", _SWEEP], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [e for _, e in outs]
    assert len({o for o, _ in outs}) == 1  # the same runs, trained once and served to the others
    assert not list((tmp_path / "shared").glob("sweep-*"))


def test_bad_beta_is_rejected_before_the_teacher_trains(tmp_path, monkeypatch):
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "c"))
    for beta in (2.0, float("nan"), -0.5):
        with pytest.raises(ValueError, match="beta"):
            train_students(T_CFG, S_CFG, [1], beta=beta, progress=False)
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").glob("*-*"))


def test_finished_runs_record_the_checksums_of_their_files(tmp_path, monkeypatch):
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "c"))
    run = train_teacher(replace(T_CFG, num_epochs=1), progress=False)
    sums = run.metrics()["files_sha256"]
    assert set(sums) == {"model.pt", "config.json"}
    import hashlib

    for name, digest in sums.items():
        assert hashlib.sha256((run.path / name).read_bytes()).hexdigest() == digest


def test_checkpoint_cadence_skips_writes_but_not_results(tmp_path, monkeypatch):
    """A time-based cadence writes fewer checkpoints; the model is the same either way."""
    writes = []
    import lskd_core.train as train_mod

    real = train_mod.atomic_torch_save
    monkeypatch.setattr(train_mod, "atomic_torch_save", lambda p, o: (writes.append(p), real(p, o)))
    cfg = replace(T_CFG, num_epochs=3)
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "every"))
    monkeypatch.setenv("LSKD_CHECKPOINT_SECONDS", "0")
    a = train_teacher(cfg, progress=False)
    n_every = len(writes)
    writes.clear()
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "rare"))
    monkeypatch.setenv("LSKD_CHECKPOINT_SECONDS", "3600")
    b = train_teacher(cfg, progress=False)
    assert n_every == 2 and writes == []  # epochs 1 and 2; the last epoch goes straight to the finished run
    assert _curves(a) == _curves(b)


def test_downsample_is_average_pooling_of_the_whole_split():
    full = load_data(replace(T_CFG, n_train=100, n_test=50))
    half = load_data(replace(T_CFG, n_train=100, n_test=50, downsample=2))
    assert half.train.x.shape[-2:] == (14, 14)
    torch.testing.assert_close(half.train.x[0, 0, 0, 0], full.train.x[0, 0, :2, :2].mean())
    assert torch.equal(half.test.y, full.test.y)
    with pytest.raises(ValueError, match="downsample"):
        replace(T_CFG, downsample=0).validate()
    with pytest.raises(ValueError, match="in-memory"):
        replace(T_CFG, dataset="imagenet1k", downsample=2).validate()
