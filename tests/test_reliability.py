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
from lskd_core.profiles import get_profile
from lskd_core.config import TrainConfig
from lskd_core.data.batching import load_data
from lskd_core.train import train_students, train_teacher

T_CFG = TrainConfig(arch="convnet_m", n_train=300, n_test=200, num_epochs=2, batch_size=64)
S_CFG = TrainConfig(arch="convnet_s", n_train=300, n_test=200, num_epochs=2, batch_size=64)


def _curves(run):
    return run.metrics()["curves"]


@pytest.mark.slow
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
from lskd_core.config import TrainConfig
from lskd_core.train import train_students
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


@pytest.mark.slow
def test_finished_runs_record_the_checksums_of_their_files(tmp_path, monkeypatch):
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "c"))
    run = train_teacher(replace(T_CFG, num_epochs=1), progress=False)
    sums = run.metrics()["files_sha256"]
    assert set(sums) == {"model.pt", "config.json"}
    import hashlib

    for name, digest in sums.items():
        assert hashlib.sha256((run.path / name).read_bytes()).hexdigest() == digest


@pytest.mark.slow
def test_checkpoint_cadence_skips_writes_but_not_results(tmp_path, monkeypatch):
    """A time-based cadence writes fewer checkpoints; the model is the same either way."""
    writes = []
    import lskd_core.loop as train_mod

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


# ---------------------------------------------------------------- a cache that checks itself


def _finished(tmp_path, monkeypatch, name="c"):
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / name))
    return train_teacher(replace(T_CFG, num_epochs=1), progress=False)


@pytest.mark.slow
def test_truncated_model_is_reported_and_retrained(tmp_path, monkeypatch, capsys):
    run = _finished(tmp_path, monkeypatch)
    good = run.metrics()["curves"]
    data = (run.path / "model.pt").read_bytes()
    (run.path / "model.pt").write_bytes(data[: len(data) // 2])
    assert not run.done
    assert "damaged" in capsys.readouterr().err and str(run.path) in capsys.readouterr().err + str(run.path)
    with pytest.raises(cache.DamagedRun, match=str(run.path)):
        run.state_dict()
    again = train_teacher(replace(T_CFG, num_epochs=1), progress=False)
    assert again.path == run.path and again.done and again.metrics()["curves"] == good


@pytest.mark.slow
def test_an_edited_accuracy_is_caught_and_retrained(tmp_path, monkeypatch):
    """Issue 28, item 3: final_top1 set by hand used to be served as intact."""
    from lskd_core.cli import main

    run = _finished(tmp_path, monkeypatch)
    m = json.loads((run.path / "metrics.json").read_text())
    good = m["final_top1"]
    (run.path / "metrics.json").write_text(json.dumps({**m, "final_top1": 99.9}))
    assert "edited" in run.problem()
    assert main(["runs", "verify"]) == 1
    again = train_teacher(replace(T_CFG, num_epochs=1), progress=False)
    assert again.done and again.metrics()["final_top1"] == good


@pytest.mark.slow
@pytest.mark.parametrize("garbage", [False, True])
def test_a_checksum_left_out_means_damaged(tmp_path, monkeypatch, garbage):
    """A record whose files_sha256 leaves out model.pt (even with its own digest redone) is not intact."""
    run = _finished(tmp_path, monkeypatch)
    m = json.loads((run.path / "metrics.json").read_text())
    del m["files_sha256"]["model.pt"]
    m["record_sha256"] = cache.record_digest(m)
    (run.path / "metrics.json").write_text(json.dumps(m))
    if garbage:
        (run.path / "model.pt").write_bytes(b"not a model")
    assert run.problem() == "metrics.json has no checksum for model.pt"
    assert not run.done


@pytest.mark.slow
@pytest.mark.parametrize("content", [b"garbage{", b"{}", b'{"kind": "teacher"}'])
def test_bad_metrics_are_never_served(tmp_path, monkeypatch, content):
    run = _finished(tmp_path, monkeypatch)
    (run.path / "metrics.json").write_bytes(content)
    assert not run.done
    rows = cache.list_runs()  # used to die with "Expecting value" and no file name
    assert [r["status"] for r in rows if r["run"] == run.path.name][0].startswith("damaged")


@pytest.mark.slow
def test_runs_verify_names_the_damaged_run(tmp_path, monkeypatch, capsys):
    from lskd_core.cli import main

    run = _finished(tmp_path, monkeypatch)
    assert main(["runs", "verify"]) == 0
    cfg = json.loads((run.path / "config.json").read_text())
    (run.path / "config.json").write_text(json.dumps({**cfg, "lr": 9.0}))
    assert main(["runs", "verify"]) == 1
    out = capsys.readouterr()
    assert f"damaged  {run.path}: config.json does not match" in out.out
    assert out.err.startswith("error: ")


@pytest.mark.slow
def test_runs_gc_removes_debris_only(tmp_path, monkeypatch):
    import tempfile

    run = _finished(tmp_path, monkeypatch)
    root = tmp_path / "c"
    (run.path / ".model.pt.x.tmp").write_bytes(b"partial")
    orphan = root / "sweep-0123456789abcdef"
    orphan.mkdir()
    bad_ckpt = root / "sweep-fedcba9876543210"
    bad_ckpt.mkdir()
    (bad_ckpt / "checkpoint.pt").write_bytes(b"truncated")
    dead = Path(tempfile.gettempdir()) / "lskd-nb-999999999-abc"
    dead.mkdir(exist_ok=True)
    removed = cache.gc(min_age_s=0)
    assert str(run.path / ".model.pt.x.tmp") in removed and str(orphan) in removed and str(dead) in removed
    assert str(bad_ckpt / "checkpoint.pt") in removed
    assert run.done and not orphan.exists() and not dead.exists()


def test_relative_cache_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LSKD_CACHE", "relcache")
    assert cache.cache_root() == tmp_path / "relcache"


@pytest.mark.slow
def test_cache_files_honour_the_umask(tmp_path, monkeypatch):
    old = os.umask(0o022)
    try:
        run = _finished(tmp_path, monkeypatch)
    finally:
        os.umask(old)
    for name in ("model.pt", "config.json", "metrics.json"):
        assert (run.path / name).stat().st_mode & 0o777 == 0o644, name


def test_read_only_cache_still_runs_the_chapter_code(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LSKD_DEFAULTS", "1")  # as `lskd run` sets it for a run with the defaults
    import pandas as pd

    import lskd_core.io
    from lskd_core import records

    def refuse(path, obj):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(records, "atomic_write_json", refuse)
    monkeypatch.setenv("LSKD_DEFAULTS", "1")  # a default run, so that only the read-only folder stops it
    assert records.save_verdicts("tiny", pd.DataFrame({"key": ["ls_helps_at_T1"]}),
                                chapter="03_student_grid", root=tmp_path) is None
    assert records.save("tiny", {"t": pd.DataFrame({"a": [1]})}, [], chapter="02_teachers", root=tmp_path) is None
    assert capsys.readouterr().out.count("not writable") == 2
    assert lskd_core.io  # the real writer is untouched for other tests


# ---------------------------------------------------------------- parameters, one error line


def test_papermill_strings_and_yaml_numbers_are_values():
    from lskd_core.params import accept, parse_value

    ns = {"temperatures": "[1, 2]", "feature_weight": "1e-3", "profile": "tiny", "seeds": "[0, 1]",
          "classes": ["Shirt", "Coat"]}
    accept(ns)
    assert ns == {"temperatures": [1, 2], "feature_weight": 0.001, "profile": "tiny", "seeds": [0, 1],
                  "classes": ["Shirt", "Coat"]}
    assert parse_value("[1e9]") == [1e9] and parse_value("1e-3") == 0.001 and parse_value("tiny") == "tiny"


@pytest.mark.parametrize("args,needle", [
    (["-p", "temperatures", "[1, 2"], "cannot read"),
    (["-p", "profile", "{a: 1}"], "profile="),
    (["-p", "temperatures", "[1, 1]"], "repeats"),
    (["-p", "temperatures", "[1e6]"], "uniform to float precision"),
    (["-p", "seeds", "[0, 0]"], "repeats"),
    (["-o", "/proc/version/out.ipynb"], "cannot write"),
])
def test_bad_chapter_input_is_one_error_line_before_any_kernel(args, needle, capsys, monkeypatch):
    from lskd_core import notebook
    from lskd_core.cli import main

    monkeypatch.setattr(notebook, "_env", lambda **kw: pytest.fail("a kernel was about to start"))
    assert main(["run", "notebooks/03_student_grid.md", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err


@pytest.mark.parametrize("args,needle", [
    (["--seed", "-1"], "seed="), (["--beta", "2"], "beta"), (["--beta", "nan"], "beta"),
    (["--temperatures", "1", "1"], "repeats"),
])
def test_bad_training_input_fails_before_the_teacher(args, needle, capsys, tmp_path, monkeypatch):
    from lskd_core.cli import main

    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "c"))
    assert main(["train", "students", "--profile", "smoke", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "c").exists()


def test_cache_path_that_is_a_file_is_one_error_line(tmp_path, monkeypatch, capsys):
    from lskd_core.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LSKD_CACHE", str(blocker))
    assert main(["train", "teacher", "--profile", "smoke"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and str(blocker) in err[0], err


# ---------------------------------------------------------------- kill at any instant

_KILLABLE = """
import os, sys, torch
torch.set_num_threads(1)
from lskd_core.config import TrainConfig
from lskd_core.train import train_students
t = TrainConfig(arch="convnet_m", n_train=300, n_test=200, num_epochs=3, batch_size=64)
s = TrainConfig(arch="convnet_s", n_train=300, n_test=200, num_epochs=4, batch_size=32,
                augment=os.environ["AUGMENT"] == "1")
train_students(t, s, [1, 4], progress=False)
"""


@pytest.mark.slow
@pytest.mark.parametrize("augment", [True, False])  # without it the students read the teacher's table
def test_kill_dash_9_at_random_instants_then_resume_equals_uninterrupted(tmp_path, monkeypatch, augment):
    """Kills land anywhere: in start-up, mid-epoch, mid-checkpoint-write, while finishing runs."""
    import random
    import signal

    rng = random.Random(1234)  # fixed: the test itself must be reproducible
    env = {**os.environ, "LSKD_CACHE": str(tmp_path / "killed"), "LSKD_CHECKPOINT_SECONDS": "0",
           "AUGMENT": str(int(augment))}
    kills = 0
    for attempt in range(8):  # eight lives, each cut at a random instant; then one that may finish
        proc = subprocess.Popen([sys.executable, "-c", _KILLABLE], env=env)
        try:
            proc.wait(timeout=rng.uniform(0.3, 3.0))  # start-up, teacher, sweep and finishing all take ~1 s
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            continue
        assert proc.returncode == 0
        break
    final = subprocess.run([sys.executable, "-c", _KILLABLE], env=env, timeout=600)
    assert final.returncode == 0
    assert kills >= 3, "the random instants should interrupt the run several times"
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "killed"))
    t = TrainConfig(arch="convnet_m", n_train=300, n_test=200, num_epochs=3, batch_size=64)
    s = TrainConfig(arch="convnet_s", n_train=300, n_test=200, num_epochs=4, batch_size=32, augment=augment)
    resumed = train_students(t, s, [1, 4], progress=False)  # served from the cache
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "straight"))
    straight = train_students(t, s, [1, 4], progress=False)
    for temp in (1.0, 4.0):
        assert _curves(resumed[temp]) == _curves(straight[temp])
        a, b = resumed[temp].state_dict(), straight[temp].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    # Lock files stay (they are empty; `lskd runs gc` removes stale ones); nothing else may.
    leftovers = [p for p in (tmp_path / "killed").rglob("*") if ".locks" not in p.parts
                 and (p.name.endswith(".tmp") or p.name.startswith("sweep-"))]
    assert leftovers == []


@pytest.mark.slow
def test_term_of_lskd_run_leaves_no_temporary_chapter(tmp_path):
    import signal
    import tempfile
    import time

    env = {**os.environ, "LSKD_CACHE": str(tmp_path / "c")}
    proc = subprocess.Popen([sys.executable, "-m", "lskd_core", "run", "notebooks/02_teachers.md", "-p", "profile",
                             "smoke", "-o", str(tmp_path / "out.ipynb"), "-q"], env=env,
                            cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    mine = lambda: list(Path(tempfile.gettempdir()).glob(f"lskd-nb-{proc.pid}-*"))  # noqa: E731
    deadline = time.time() + 60
    while time.time() < deadline and not mine():
        time.sleep(0.05)
    assert mine(), "the chapter's temporary folder never appeared"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert mine() == []


def test_truncated_sweep_checkpoint_names_its_path(tmp_path):
    """It used to end in a bare ``OSError: [Errno 22]``."""
    from lskd_core.io import DamagedFile, load_checkpoint

    ck = tmp_path / "sweep-0123" / "checkpoint.pt"
    ck.parent.mkdir()
    torch.save({"w": torch.ones(1000)}, ck)
    ck.write_bytes(ck.read_bytes()[:300])
    with pytest.raises(DamagedFile, match=str(ck)):
        load_checkpoint(ck)


def test_non_integer_temperature_never_meets_a_paper_row():
    from lskd_core.paper import top1

    assert top1("2A", 0.0, 1.0) == top1("2A", 0.0, 1) is not None
    assert top1("2A", 0.0, 1.5) is None and top1("2A", 0.1, 3.0001) is None


def test_data_file_that_is_a_folder_is_one_error_line(tmp_path, capsys):
    from lskd_core.cli import main

    root = tmp_path / "fm"
    root.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        (root / name).mkdir()
    assert main(["data", "verify", "fashion_mnist", "--root", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "train-images" in err[0], err


def test_full_disk_is_one_error_line(tmp_path, monkeypatch, capsys):
    import errno

    import lskd_core.cache
    from lskd_core.cli import main

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("LSKD_PROGRESS", "0")  # no progress bar on stderr: only the error line
    monkeypatch.setattr(lskd_core.io, "atomic_write_bytes", full)
    monkeypatch.setattr(lskd_core.cache, "atomic_torch_save",
                        lambda p, o: full(p, b""))
    assert main(["train", "teacher", "--profile", "smoke"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: No space left on device"), err


def test_each_run_family_is_keyed_by_its_own_sources(tmp_path, monkeypatch):
    """Editing the fairseq criterion re-runs translation steps only; editing the loop, image runs only."""
    import shutil

    pkg = tmp_path / "lskd_core"
    shutil.copytree(cache.ROOT / "lskd_core", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(cache.ROOT / "data_manifests", tmp_path / "data_manifests")
    monkeypatch.setattr(cache, "ROOT", tmp_path)
    before = {f: cache.code_version(f) for f in cache.SOURCES}
    with open(pkg / "nmt" / "fairseq_plugin" / "criterion.py", "a") as fh:
        fh.write("\n# an edit\n")
    after_nmt = {f: cache.code_version(f) for f in cache.SOURCES}
    assert after_nmt["nmt"] != before["nmt"] and after_nmt["image"] == before["image"]
    with open(pkg / "loop.py", "a") as fh:
        fh.write("\n# an edit\n")
    after_loop = {f: cache.code_version(f) for f in cache.SOURCES}
    assert after_loop["image"] != after_nmt["image"] and after_loop["nmt"] == after_nmt["nmt"]
    with open(pkg / "cli.py", "a") as fh:  # the command line computes nothing a run keeps
        fh.write("\n# an edit\n")
    assert {f: cache.code_version(f) for f in cache.SOURCES} == after_loop
    with open(tmp_path / "data_manifests" / "fashion_mnist.toml", "a") as fh:  # it holds the normalisation
        fh.write("\n# an edit\n")
    after_manifest = {f: cache.code_version(f) for f in cache.SOURCES}
    assert after_manifest["image"] != after_loop["image"] and after_manifest["nmt"] == after_loop["nmt"]
    with pytest.raises(ValueError, match="unknown run family"):
        cache.code_version("audio")


def test_cpus_reads_the_lane_setting(monkeypatch):
    import os

    from lskd_core.dist import cpus

    monkeypatch.delenv("LSKD_CPUS", raising=False)
    assert cpus() == (os.cpu_count() or 1)
    monkeypatch.setenv("LSKD_CPUS", "1")
    assert cpus() == 1
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("LSKD_CPUS", bad)
        with pytest.raises(ValueError, match="LSKD_CPUS=.* must be an integer >= 1"):
            cpus()


_SWALLOWED_TERM = """
import os, signal, sys, time
from lskd_core import cli

class Dropped:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)  # the handler runs in here, where Python prints its exit and drops it

def command(a):
    Dropped()
    return 0

cli._cmd_runs_list = command
sys.exit(cli.main(["runs", "list"]))
"""


def test_term_swallowed_inside_a_finalizer_still_ends_the_command_in_143(tmp_path):
    """CI once saw a TERM'd `lskd run` exit 0: the exit raised by the handler had landed in a __del__."""
    proc = subprocess.run([sys.executable, "-c", _SWALLOWED_TERM], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1], env={**os.environ, "LSKD_CACHE": str(tmp_path)})
    assert "Exception ignored" in proc.stderr  # the exit really was swallowed ...
    assert proc.returncode == 143  # ... and the command still reports the signal


def test_cli_students_of_seed_s_distil_from_the_teacher_of_seed_s(tmp_path, monkeypatch, capsys):
    """`lskd train students --seed 1` must serve the chapters' grid, whose seed-1 students learn from the seed-1 teacher."""
    from lskd_core.cli import main
    from lskd_core.experiments import students

    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "c"))
    assert main(["train", "students", "--profile", "smoke", "--alpha", "0.1", "--seed", "1", "--temperatures", "2"]) == 0
    teachers = [json.loads(p.read_text())["seed"] for p in (tmp_path / "c").glob("teacher-*/config.json")]
    assert teachers == [1]
    before = sorted(p.name for p in (tmp_path / "c").iterdir())
    run = students("smoke", 0.1, [2.0], [1])[(1, 2.0)]  # the chapters' own call: served, nothing trains
    assert run.path.name in before and sorted(p.name for p in (tmp_path / "c").iterdir()) == before


def test_cli_alone_trains_the_gates_baseline_the_chapters_read(tmp_path, monkeypatch, capsys):
    """`lskd train alone` (the GPU script's step for the gate) trains the very runs chapter 3's gate reads."""
    from lskd_core.cli import main
    from lskd_core.experiments import ce_students

    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "c"))
    assert main(["train", "alone", "--profile", "smoke", "--seed", "1"]) == 0
    before = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert [json.loads(p.read_text())["seed"] for p in (tmp_path / "c").glob("teacher-*/config.json")] == [1]
    run = ce_students("smoke", [1])[1]  # chapter 3's own call: served, nothing trains
    assert run.path.name in before and sorted(p.name for p in (tmp_path / "c").iterdir()) == before
    assert "seed=1 alone: final top-1" in capsys.readouterr().out
    err = main(["train", "alone", "--profile", "smoke", "--alpha", "0.1"])
    assert err == 2 and capsys.readouterr().err.startswith("error: --alpha, --temperatures and --beta")


@pytest.mark.slow
def test_gpu_chapters_runs_a_chapter_as_a_script_and_it_saves_its_records(tmp_path):
    """bench/gpu_chapters.py made the committed `small` records on a machine without papermill or myst-nb."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "LSKD_CACHE": str(tmp_path / "c"), "TMPDIR": str(tmp_path)}
    subprocess.run([sys.executable, "bench/gpu_chapters.py", "prepare", str(tmp_path / "nb")], cwd=root, check=True,
                   env=env, timeout=120)
    proc = subprocess.run([sys.executable, "bench/gpu_chapters.py", "execute", str(tmp_path / "nb"), "02_teachers",
                           "--profile", "smoke"], cwd=root, env=env, timeout=600, capture_output=True, text=True)
    log = (tmp_path / "lskd-02_teachers.log").read_text()
    assert proc.returncode == 0, log[-2000:]
    assert "[glue] teacher_verdict" in log  # the chapter's computed prose went through the glue stand-in
    record = json.loads((tmp_path / "c" / "records" / "smoke" / "02_teachers.json").read_text())
    claims = json.loads((tmp_path / "c" / "claims" / "smoke" / "02_teachers.json").read_text())
    assert len(record["runs"]) == 2 * len(get_profile("smoke").seeds) and claims["rows"]


# ---------------------------------------------------------------- issue 28, items 5 and 6


def test_a_non_default_run_never_writes_records_even_if_the_chapter_forgets_a_parameter(tmp_path, monkeypatch):
    """Chapter 5 passed every parameter but `normaliser` to save_records, so `-p normaliser sets`
    overwrote the default record. The executor now decides from the whole run."""
    import pandas as pd

    from lskd_core import notebook, records

    defaults = notebook.declared_parameters(notebook.read_notebook(notebook.NOTEBOOKS / "05_diffusion.md"))
    assert not notebook.runs_with_defaults(defaults, {"profile": "tiny", "normaliser": "sets"})
    from lskd_core.profiles import get_profile

    # Another profile with its own seeds is that profile's default run.
    assert notebook.runs_with_defaults(defaults, {"profile": "base", "seeds": list(get_profile("base").seeds)})
    assert not notebook.runs_with_defaults(defaults, {"profile": "tiny", "seeds": [0, 1]})
    table = {"t": pd.DataFrame({"x": [1]})}
    monkeypatch.setenv("LSKD_DEFAULTS", "0")  # what the executor sets for `-p normaliser sets`
    assert records.save("tiny", table, [], chapter="05_diffusion", root=tmp_path) is None
    # The chapter names neither itself nor its parameters: both come from the executor.
    import json

    monkeypatch.setenv("LSKD_DEFAULTS", "1")
    monkeypatch.setenv("LSKD_CHAPTER", "05_diffusion")
    monkeypatch.setenv("LSKD_CHAPTER_DEFAULTS", json.dumps(defaults))
    path = records.save("tiny", table, [], root=tmp_path)
    assert path == tmp_path / "records" / "tiny" / "05_diffusion.json"
    assert json.loads(path.read_text())["params"] == json.loads(json.dumps(defaults))
    monkeypatch.delenv("LSKD_CHAPTER")
    with pytest.raises(RuntimeError, match="no chapter name"):
        records.save("tiny", table, [], root=tmp_path)


def test_gc_removes_a_damaged_checkpoint_it_just_named_whatever_its_age(tmp_path, monkeypatch):
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "c"))
    sweep = tmp_path / "c" / "sweep-0123456789abcdef"
    sweep.mkdir(parents=True)
    (sweep / "checkpoint.pt").write_bytes(b"truncated just now")
    removed = cache.gc()  # the default min_age_s: the file is seconds old
    assert str(sweep / "checkpoint.pt") in removed and not (sweep / "checkpoint.pt").exists()


def test_a_fifo_in_place_of_a_data_file_is_refused_not_read(tmp_path):
    from fixtures import fixture_manifest, make_cifar100

    from lskd_core import data
    from lskd_core.data import DataError, load_manifest

    root = make_cifar100(tmp_path / "cifar-100-python")
    manifest_dir = fixture_manifest(tmp_path / "m", "cifar100", root).parent
    (root / "test").unlink()
    os.mkfifo(root / "test")
    os.environ["LSKD_DATA_MANIFESTS"] = str(manifest_dir)
    try:
        with pytest.raises(DataError, match="not a regular file"):
            data.manifest.check_files(load_manifest("cifar100"), root)
    finally:
        del os.environ["LSKD_DATA_MANIFESTS"]


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_check_book_fails_on_a_missing_or_empty_folder(tmp_path, make, capsys):
    from lskd_core.cli import main

    html = tmp_path / "html"
    if make == "empty":
        html.mkdir()
    assert main(["check-book", str(html)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and ("not a folder" in err or "no HTML pages" in err)


# ---------------------------------------------------------------- issue 28, item 5: every error is one line


def _py2_cifar(root):
    """A meta pickle as Python 2 writes it when the names are unicode: keys are py2 str (SHORT_BINSTRING,
    read as bytes), names BINUNICODE (read as str, which has no .decode)."""
    def s(b):
        return b"U" + bytes([len(b)]) + b
    def u(t):
        return b"X" + len(t).to_bytes(4, "little") + t
    (root / "meta").write_bytes(b"\x80\x02}(" + s(b"fine_label_names") + b"]" + u(b"apple") + b"a"
                                + s(b"coarse_label_names") + b"]" + u(b"fruit") + b"au.")


@pytest.mark.slow
@pytest.mark.parametrize("case", ["example_class 5", "dead kernel", "missing key", "wrong types", "python 2 pickle",
                                  "manifest key", "checkpoint seconds"])
def test_each_listed_input_is_one_error_line_without_a_traceback(tmp_path, case):
    import pickle

    import numpy as np
    from fixtures import fixture_manifest, make_cifar100

    env = {**os.environ, "LSKD_CACHE": str(tmp_path / "cache")}
    root = make_cifar100(tmp_path / "cifar-100-python")
    manifest = fixture_manifest(tmp_path / "m", "cifar100", root)  # of the good copy; re-signed below
    cmd = ["data", "verify", "cifar100", "--root", str(root)]
    if case == "example_class 5":
        cmd = ["run", "notebooks/01_ls_and_kd.md", "-p", "profile", "smoke", "-p", "example_class", "5",
               "-o", str(tmp_path / "x.ipynb")]
    elif case == "dead kernel":
        nb = tmp_path / "dies.md"
        nb.write_text("---\nkernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n\n"
                      "# dies\n\n```{code-cell} ipython3\n:tags: [parameters]\n\nprofile = \"smoke\"\n```\n\n"
                      "```{code-cell} ipython3\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n```\n")
        cmd = ["run", str(nb), "-o", str(tmp_path / "x.ipynb"), "-q"]
    elif case in ("missing key", "wrong types"):
        d = {b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [0, 1], b"coarse_labels": [0, 1]}
        if case == "missing key":
            del d[b"coarse_labels"]
        else:
            d[b"fine_labels"] = [{"a": 1}, None]
        (root / "test").write_bytes(pickle.dumps(d))
    elif case == "python 2 pickle":
        _py2_cifar(root)
    elif case == "manifest key":
        manifest.write_text(manifest.read_text().replace('path = "meta"', 'path = "meta"\nsha512 = "00"'))
        env["LSKD_DATA_MANIFESTS"] = str(manifest.parent)
    elif case == "checkpoint seconds":
        env["LSKD_CHECKPOINT_SECONDS"] = "abc"
        cmd = ["train", "teacher", "--profile", "smoke"]
    if case in ("missing key", "wrong types", "python 2 pickle"):
        # The manifest signs the bad file, so the check passes and the parser meets it.
        import hashlib

        lines, cur = [], None
        for line in manifest.read_text().splitlines():
            if line.startswith("path = "):
                cur = line.split('"')[1]
            if line.startswith("md5 = ") and cur:
                line = f'md5 = "{hashlib.md5((root / cur).read_bytes()).hexdigest()}"'
            lines.append(line)
        manifest.write_text("\n".join(lines) + "\n")
        env["LSKD_DATA_MANIFESTS"] = str(manifest.parent)
    r = subprocess.run([sys.executable, "-m", "lskd_core.cli", *cmd], capture_output=True, text=True, env=env,
                       cwd=Path(__file__).resolve().parents[1], timeout=300)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr + r.stdout, r.stderr[-2000:]
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, r.stderr[-2000:]
    if case == "dead kernel":
        assert "dies.md" in errors[0] and "code cell #" in errors[0] and "kernel" in errors[0].lower()
        # Silencing the kernel's log did not hide its death, and its start-up warning is gone (issue 27).
        assert "without encryption" not in r.stderr + r.stdout


@pytest.mark.slow
def test_overlapping_sweeps_started_together_train_each_student_once(tmp_path):
    """Issue 28, item 8: [1, 4] and [4, 8] started at once both trained T = 4 (three sweeps of two).
    Now the second waits for the first and trains only what is left: one of the three is a sweep of one."""
    env = {**os.environ, "LSKD_CACHE": str(tmp_path / "c"), "LSKD_PROGRESS": "0"}
    tests = str(Path(__file__).resolve().parent)
    code = ("import sys; sys.path.insert(0, {tests!r}); from test_reliability import T_CFG, S_CFG; "
            "from lskd_core.train import train_students, train_teacher; train_teacher(T_CFG, progress=False); "
            "{then}")
    subprocess.run([sys.executable, "-c", code.format(tests=tests, then="")], env=env, check=True)  # the teacher
    procs = [subprocess.Popen([sys.executable, "-c", code.format(
        tests=tests, then=f"train_students(T_CFG, S_CFG, {t}, progress=False)")], env=env) for t in ("[1, 4]", "[4, 8]")]
    assert all(p.wait(timeout=300) == 0 for p in procs)
    sizes = {}
    for m in (tmp_path / "c").glob("student-*/metrics.json"):
        rec = json.loads(m.read_text())
        sizes.setdefault(rec["temperature"], []).append(rec["sweep_size"])
    assert sorted(sizes) == [1.0, 4.0, 8.0] and all(len(v) == 1 for v in sizes.values())
    assert sorted(v[0] for v in sizes.values()) == [1, 2, 2], sizes


@pytest.mark.slow
def test_merging_shards_keeps_every_intact_run_once(tmp_path, monkeypatch):
    """Issue 24, item 7: reference runs trained on several machines come together by merging caches."""
    a = _finished(tmp_path, monkeypatch, "shard_a")
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "shard_b"))
    b = train_teacher(replace(T_CFG, num_epochs=1, seed=1), progress=False)
    broken = tmp_path / "shard_b" / "teacher-0000000000000000"
    broken.mkdir()
    (broken / "metrics.json").write_text("{}")
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "merged"))
    got = cache.merge([tmp_path / "shard_a", tmp_path / "shard_b"])
    assert sorted(got["copied"]) == sorted([a.path.name, b.path.name]) and len(got["skipped"]) == 1
    assert cache.merge([tmp_path / "shard_a"])["present"] == [a.path.name]
    again = train_teacher(replace(T_CFG, num_epochs=1, seed=1), progress=False)  # served, not retrained
    assert again.path == tmp_path / "merged" / b.path.name and again.metrics() == b.metrics()
