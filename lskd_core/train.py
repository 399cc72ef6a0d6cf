"""Teachers and student sweeps: the entry points that train, or serve from the run cache.

A teacher is one member trained with label-smoothed cross-entropy; a sweep is
one teacher's students at several temperatures (and one variant), trained
together by the batched loop (``lskd_core.loop``). Students found in the
cache are served from it and only the missing ones train. Each run's key is
its config plus the code it depends on (``lskd_core.cache``).
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil

import torch

from . import cache, dist, feature_kd
from .config import TrainConfig, check_temperatures, key_fields, validate_world
from .data.batching import Data, load_data
from .data.prepared import TensorSplit
from .io import atomic_write_json
from .loop import Member, fit, run_record
from .methods import Method, get_method
from .models import Classifier, build


def _new_model(cfg: TrainConfig, data: Data) -> Classifier:
    torch.manual_seed(cfg.seed)  # the initial weights depend on the seed alone
    return build(cfg.arch, data.in_channels, data.num_classes, cfg.small_input, cfg.weights, cfg.weights_sha256)


def teacher_config_dict(cfg: TrainConfig) -> dict:
    return key_fields(cfg)


def _progress_default() -> bool:
    # Executed chapters set LSKD_PROGRESS=0: bars belong on a terminal, not in the rendered book.
    from .settings import progress

    return progress()


def train_teacher(cfg: TrainConfig, progress: bool | None = None) -> cache.Run:
    """Train (or fetch from the cache) a teacher with label smoothing ``cfg.alpha``."""
    cfg.validate()
    validate_world(cfg, dist.init())
    progress = _progress_default() if progress is None else progress
    conf = teacher_config_dict(cfg)
    run = cache.run_dir("teacher", conf)
    if run.done:
        return run
    # Under torchrun the ranks train together, so only a lone process takes the lock.
    with (cache.lock(run) if dist.world_size() == 1 else contextlib.nullcontext()):
        if not run.done:  # another process may have finished it while we waited
            _train_teacher(cfg, conf, run, progress)
    return run


def _train_teacher(cfg: TrainConfig, conf: dict, run: cache.Run, progress: bool) -> None:
    data = load_data(cfg)
    member = Member(f"a={cfg.alpha}", _new_model(cfg, data), get_method("ce", alpha=cfg.alpha))
    run.path.mkdir(parents=True, exist_ok=True)
    wall = fit([member], data, cfg, None, run.path / "checkpoint.pt", f"teacher {cfg.arch} alpha={cfg.alpha}",
                progress)
    if dist.is_main():
        cache.finish_run(run, conf, run_record("teacher", cfg, wall, member, {}), member.model.state_dict())
        (run.path / "checkpoint.pt").unlink(missing_ok=True)
    dist.barrier()


def student_config_dict(cfg: TrainConfig, teacher: cache.Run, temperature: float, beta: float,
                        feature_weight: float = 0.0, kd_from_epoch: int = 0) -> dict:
    conf = {"student": key_fields(cfg), "teacher_run": teacher.path.name, "temperature": float(temperature),
            "beta": float(beta)}
    # Variants enter the key only when used, so plain KD students keep theirs.
    if feature_weight:
        conf["feature_weight"] = float(feature_weight)
    if kd_from_epoch:
        conf["kd_from_epoch"] = int(kd_from_epoch)
    return conf


def check_variant(cfg: TrainConfig, teacher_cfg: TrainConfig, feature_weight: float, kd_from_epoch: int,
                  beta: float = 0.0) -> None:
    """Reject a bad variant before any training, the teacher's included."""
    if not 0 <= beta <= 1:  # also rejects NaN
        raise ValueError(f"beta (the hard-label weight) must lie in [0, 1], got {beta}")
    if not (feature_weight >= 0 and math.isfinite(feature_weight)):
        raise ValueError(f"feature_weight must be finite and >= 0, got {feature_weight}")
    if feature_weight:
        for c in (cfg, teacher_cfg):
            feature_kd.positions(build(c.arch, 3, 10, c.small_input))
    if not 0 <= kd_from_epoch < cfg.num_epochs:
        raise ValueError(f"kd_from_epoch must lie in [0, num_epochs={cfg.num_epochs}), got {kd_from_epoch}")


def student_method(temperature: float, beta: float, feature_weight: float, kd_from_epoch: int,
                   student: Classifier | None = None, teacher: Classifier | None = None, probe=None,
                   seed: int = 0) -> Method:
    """The method a student of this sweep trains with: KD, feature KD, either after a CE phase."""
    if feature_weight:
        torch.manual_seed(seed + 104_729)  # connector weights depend on the seed alone, like the model's
        conn = feature_kd.build_connectors(student, teacher, probe)
        all_margins = feature_kd.margins(teacher)
        method = get_method("feature_kd", temperature=temperature, beta=beta, weight=feature_weight, connectors=conn,
                            margins=[all_margins[j] for _, j in conn.pairs])
    else:
        method = get_method("kd", temperature=temperature, beta=beta)
    return get_method("ce_then_kd", inner=method, from_epoch=kd_from_epoch) if kd_from_epoch else method


def train_students(teacher_cfg: TrainConfig, student_cfg: TrainConfig, temperatures, beta: float = 0.0,
                   progress: bool | None = None, feature_weight: float = 0.0,
                   kd_from_epoch: int = 0) -> dict[float, cache.Run]:
    """KD students of one teacher at several temperatures, in one shared pass.

    Students found in the cache are served from it; the missing ones train
    together. Each student's result equals a solo run with the same seed.

    Two variants apply to the whole sweep: ``feature_weight > 0`` adds Heo et
    al.'s feature loss (``lskd_core.feature_kd``) with that weight, and
    ``kd_from_epoch > 0`` trains with cross-entropy before switching to KD at
    that epoch (Nagarajan et al. 2023).
    """
    temps = check_temperatures(temperatures)
    progress = _progress_default() if progress is None else progress
    student_cfg.validate()
    check_variant(student_cfg, teacher_cfg, feature_weight, kd_from_epoch, beta)
    validate_world(student_cfg, dist.init())
    if student_cfg.alpha != 0.0:
        raise ValueError("students learn from the teacher's soft targets; set the student's alpha to 0")
    if student_cfg.dataset != teacher_cfg.dataset:
        raise ValueError("teacher and student must use the same data set")
    teacher_run = train_teacher(teacher_cfg, progress)
    def conf_for(t: float) -> dict:
        return student_config_dict(student_cfg, teacher_run, t, beta, feature_weight, kd_from_epoch)

    runs = {t: cache.run_dir("student", conf_for(t)) for t in temps}
    # One lock for every sweep of this teacher and student config, whatever its temperatures: two
    # processes asking for [1, 4] and [4, 8] at once would otherwise both train T = 4. The second
    # waits, then trains only what is still missing.
    family = cache.run_dir("sweeps", {k: v for k, v in conf_for(0.0).items() if k != "temperature"})
    with (cache.lock(family) if dist.world_size() == 1 else contextlib.nullcontext()):
        return _sweeps(teacher_cfg, student_cfg, teacher_run, temps, runs, conf_for, beta, feature_weight,
                       kd_from_epoch, progress)


def _sweeps(teacher_cfg, student_cfg, teacher_run, temps, runs, conf_for, beta, feature_weight, kd_from_epoch,
            progress) -> dict[float, cache.Run]:
    for _ in range(len(temps) + 1):
        todo = [t for t in temps if not runs[t].done]
        if not todo:
            return runs
        # Batched students' weights depend, to float rounding, on their companions, so a
        # sweep killed while writing its students is finished as it was, never retrained smaller.
        plan = _leftover_plan({runs[t].path.name for t in todo}) or todo
        for t in plan:
            runs.setdefault(t, cache.run_dir("student", conf_for(t)))
        # The work folder's name covers the plan, so a resumed sweep finds its own checkpoint.
        work = cache.run_dir("sweep", {"students": [runs[t].path.name for t in plan]})
        with (cache.lock(work) if dist.world_size() == 1 else contextlib.nullcontext()):
            if not all(runs[t].done for t in plan):  # an identical sweep may have finished meanwhile
                _train_sweep(teacher_cfg, student_cfg, teacher_run, plan, runs, conf_for, work, beta,
                             feature_weight, kd_from_epoch, progress)
    raise RuntimeError(f"students {todo} are still missing after their sweeps finished; see `lskd runs verify`")


def _leftover_plan(names: set[str]) -> list[float] | None:
    """The temperatures of an unfinished sweep that trains any of these students, if one exists."""
    for path in sorted(cache.cache_root().glob("sweep-*/plan.json")):
        try:
            plan = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if names & set(plan.get("students", [])):
            return [float(t) for t in plan["temperatures"]]
    return None


def _train_sweep(teacher_cfg: TrainConfig, student_cfg: TrainConfig, teacher_run: cache.Run, todo: list[float],
                 runs: dict[float, cache.Run], conf_for, work: cache.Run, beta: float, feature_weight: float,
                 kd_from_epoch: int, progress: bool) -> None:
    data = load_data(student_cfg)
    teacher = load_model(teacher_run, data)
    probe = data.train.x[:2] if isinstance(data.train, TensorSplit) else data.train[0][0][None].repeat(2, 1, 1, 1)
    members = []
    for t in todo:
        model = _new_model(student_cfg, data)
        members.append(Member(f"T={t:g}", model, student_method(t, beta, feature_weight, kd_from_epoch, model,
                                                                 teacher, probe, student_cfg.seed)))
    work.path.mkdir(parents=True, exist_ok=True)
    if dist.is_main():
        atomic_write_json(work.path / "plan.json",
                          {"temperatures": list(todo), "students": [runs[t].path.name for t in todo]})
    wall = fit(members, data, student_cfg, teacher, work.path / "checkpoint.pt",
                f"students {student_cfg.arch} <- alpha={teacher_cfg.alpha}", progress)
    if not dist.is_main():
        dist.barrier()
        return
    for t, m in zip(todo, members):
        if runs[t].done:  # written before a kill cut the sweep's finishing short
            continue
        rec = run_record("student", student_cfg, wall, m, {
            "temperature": t, "beta": beta, "teacher_alpha": teacher_cfg.alpha, "teacher_run": teacher_run.path.name,
            "teacher_arch": teacher_cfg.arch, "sweep_size": len(todo), "feature_weight": feature_weight,
            "kd_from_epoch": kd_from_epoch})
        cache.finish_run(runs[t], conf_for(t), rec, m.model.state_dict())
    # Everything in the work folder is now in the finished runs; a debris file must not fail the sweep.
    shutil.rmtree(work.path, ignore_errors=True)
    dist.barrier()


def load_model(run: cache.Run, data: Data | None = None) -> Classifier:
    conf = run.config()
    cfg = TrainConfig(**(conf["student"] if "student" in conf else conf))
    data = data or load_data(cfg)
    model = build(cfg.arch, data.in_channels, data.num_classes, cfg.small_input)
    model.load_state_dict(run.state_dict())
    if cfg.channels_last:
        # The weights in the layout of the batches the run's config makes: a channels_last input
        # through NCHW weights takes the slow mixed-layout kernels (2.2x, bench/run.py --only layout).
        model.to(memory_format=torch.channels_last)
    return model.eval()
