"""High-level calls the chapters make, so notebooks stay thin."""

from __future__ import annotations

import platform

import pandas as pd
import torch

from .cache import Run
from .profiles import Profile, get_profile, student_config, teacher_config
from .train import TrainConfig, load_data, load_model, predict, train_students, train_teacher


def setup(num_threads: int | None = None) -> None:
    """Deterministic CPU kernels and a fixed thread count for every chapter."""
    torch.use_deterministic_algorithms(True, warn_only=True)
    if num_threads:
        torch.set_num_threads(num_threads)


def teachers(profile: Profile | str, alphas, seed: int = 0, **overrides) -> dict[float, Run]:
    prof = get_profile(profile) if isinstance(profile, str) else profile
    return {float(a): train_teacher(teacher_config(prof, a, seed, **overrides)) for a in alphas}


def students(profile: Profile | str, alpha: float, temperatures, seeds, teacher_overrides: dict | None = None,
             student_overrides: dict | None = None, beta: float = 0.0) -> dict[tuple[int, float], Run]:
    """Students of the alpha-teacher, keyed by (seed, temperature). One teacher (seed 0) per alpha."""
    prof = get_profile(profile) if isinstance(profile, str) else profile
    tcfg = teacher_config(prof, alpha, 0, **(teacher_overrides or {}))
    out = {}
    for s in seeds:
        runs = train_students(tcfg, student_config(prof, s, **(student_overrides or {})), temperatures, beta)
        out.update({(s, t): r for t, r in runs.items()})
    return out


def outputs(run: Run, split: str = "test", features: bool = False):
    """Logits, labels (and penultimate features) of a cached model on a split."""
    conf = run.config()
    cfg = TrainConfig(**(conf["student"] if "student" in conf else conf))
    data = load_data(cfg)
    model = load_model(run, data)
    return predict(model, data.train if split == "train" else data.test, cfg, features=features)


def provenance(runs: dict, profile: str) -> pd.DataFrame:
    """Profile, seed, hardware and wall time of every run a result rests on."""
    rows = []
    for key, run in runs.items():
        m = run.metrics()
        hw = m["hardware"]
        rows.append({"run": run.path.name, "profile": profile, "kind": m["kind"], "arch": m["arch"],
                     "alpha": m.get("teacher_alpha", m["alpha"]), "temperature": m.get("temperature"),
                     "seed": m["seed"], "epochs": len(m["curves"]["epoch"]),
                     "hardware": f"{hw['device']} {hw.get('gpu', hw['cpu'])} x{hw['cpu_threads']} threads",
                     "torch": hw["torch"], "wall_time_s": round(m["wall_time_s"], 1)})
    return pd.DataFrame(rows)


def machine() -> str:
    return f"{platform.machine()} {platform.processor() or ''} {torch.get_num_threads()} threads, torch {torch.__version__}"
