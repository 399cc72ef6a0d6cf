"""Search for a CPU testbed on which distillation helps, with the plain teacher only.

    python bench/testbed_search.py screen            # every candidate, 2 seeds
    python bench/testbed_search.py confirm NAME ...  # 5 seeds and the 3x-epochs plateau check
    python bench/testbed_search.py tiny NAME ...     # the default book's smaller testbed: 5 seeds
    python bench/testbed_search.py show              # the table, and which candidate the rule picks

Why this exists: on the old ``tiny`` and ``base`` a student distilled from the
plain teacher was no better than the same student trained with cross-entropy
alone, so "does a smoothed teacher make distillation worse?" had no signal
(issue 24). The question here is only whether distillation helps. Every run
uses a teacher with alpha = 0; no smoothed teacher is trained or read while
choosing, because choosing by the paper's effect would be tuning towards an answer.

What one candidate measures, per seed s (all on Fashion-MNIST, 2 CPU cores):

- the plain teacher (alpha = 0, seed s);
- the student trained alone with cross-entropy (seed s);
- KD students of that teacher at T = 1 and T = 3 (seed s: the same initial
  weights and batches as the cross-entropy student, the same epochs).

The rule (``CRITERIA``) is written into the results file before any result,
and ``pick`` applies it. Every candidate ever tried stays in the file with its
accuracies and wall time; the book's reproducibility page shows them all.
Runs go through the book's own engine and run cache (``LSKD_CACHE``), so a
killed search resumes where it stopped and a chosen candidate's runs are the
ones the profile will train.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lskd_core.config import TrainConfig  # noqa: E402
from lskd_core.io import atomic_write_json  # noqa: E402
from lskd_core.loop import hardware  # noqa: E402
from lskd_core.train import train_students, train_teacher  # noqa: E402
from lskd_core import testbed  # noqa: E402
from lskd_core.verdicts import paired_interval  # noqa: E402

OUT = ROOT / "results" / "testbed_search.json"
TEMPERATURES = (1.0, 3.0)
SCREEN_SEEDS = (0, 1)
CONFIRM_SEEDS = (0, 1, 2, 3, 4)

# Fixed before the first run (issue 24, item 2). Changing them after results exist is not allowed:
# `main` refuses to write a file whose criteria differ from these.
CRITERIA = {
    "kd_gain_min_points": 1.0,  # KD minus CE, at T = 1 and at T = 3, each
    "kd_gain_ci_above_zero": True,  # the paired 95 % t-interval's lower end > 0
    "min_seeds": 5,
    "teacher_gap_min_points": 3.0,  # plain teacher minus the CE student
    "plateau_tolerance_points": 0.5,  # each model within this of the same run at 3x the epochs
    "choose": ("among confirmed candidates that meet every criterion, the one with the least training time "
               "per seed; if none meets them all, the one with the largest min(KD gain at T = 1, at T = 3) "
               "and its shortfall is stated"),
    "never_read": "no run with alpha > 0 is trained or read by this search",
    "confirm": ("screened candidates (2 seeds) whose mean KD gain is at least 1.0 at both temperatures are "
                "confirmed (5 seeds and the 3x plateau check) in order of their screened teacher gap, largest "
                "first, as far as the time allows"),
    # The default book (profile tiny) must build cold in 20 minutes on 2 cores with at least 5 seeds, so it
    # cannot afford the pick. It is a smaller version of it that passes its own gate.
    "tiny": ("candidates named tiny_* keep the pick's data pipeline (Fashion-MNIST at 14x14, teacher "
             "augmented, student not, the same images for both) and shrink images, epochs or widths; each "
             "runs 5 seeds (stage 'tiny', no plateau check); among those whose KD gain's 95 % interval lies "
             "above zero at T = 1 and at T = 3, the one with the least training time per seed is tiny"),
    "tiny_timing": ("the tiny rule's training time per seed is measured side by side (stage 'time'): in one "
                    "process at one thread, each eligible candidate's plain teacher, CE student and KD sweep train "
                    "10 epochs from an empty cache, the candidates interleaved in 3 rounds (order rotated); each "
                    "part's median is scaled to the candidate's epochs and the parts are summed"),
    "eligible": ("teacher and student are CNNs with conv stages, so every chapter (feature KD included) runs "
                 "on the testbed; the data set is Fashion-MNIST, embedded in the book; teacher and student train "
                 "on the same images, as in the paper"),
}
# Changes to CRITERIA after the first result, with why; load() accepts a file only if its criteria are
# the ones above, and this list says how they came to be.
AMENDMENTS = [
    {"date": "2026-12-02", "what": "added 'eligible' (CNN students and teachers only)",
     "when": "after screening tiny_2026_11 and n10k_aug_14px (both CNN pairs, neither near the gate), "
             "before any candidate was confirmed or any smoothed run existed"},
    {"date": "2026-12-02", "what": "'eligible' also requires teacher and student to train on the same images",
     "when": "before any candidate with different images was run (none was), and before any confirmation"},
    {"date": "2026-12-02", "what": "added 'confirm', the rule for which screened candidates are confirmed",
     "when": "after screening 9 candidates, before any confirmation; no smoothed run exists"},
    {"date": "2026-12-02", "what": "added 'tiny', the rule for the default book's smaller testbed",
     "when": "after the pick (n5k_augT_14px_m_t200), before any tiny_* candidate ran; no smoothed run exists"},
    {"date": "2026-12-02", "what": "added 'tiny_timing': the tiny rule's times measured side by side",
     "when": "after tiny_n3k_s seeds 0-3 and before any other tiny_* candidate had 5 seeds; the recorded times "
             "came from runs sharing the cores unevenly, so they cannot rank candidates; no smoothed run exists"},
]

_CPU = dict(dataset="fashion_mnist", small_input=True, batch_size=256, lr=0.2, weight_decay=5e-4,
            schedule="onecycle", momentum=0.9, augment=False, channels_last=True)


# The small-data candidates' common settings: batch 128 at lr 0.1, 5,000 images, optionally pooled to 14x14.
_N5K = dict(n_train=5_000, batch_size=128, lr=0.1)
_N5K_14 = dict(_N5K, downsample=2)


def cand(name: str, why: str, teacher: dict, student: dict) -> dict:
    return {"name": name, "why": why, "teacher": {**_CPU, **teacher}, "student": {**_CPU, **student}}


# The levers of issue 24: training-set size, capacity gap, augmentation (given to teacher and
# student alike when the student augments: the loop runs the teacher on the student's own view),
# epochs and input size. Every name is a fixed configuration; new ideas get new names.
CANDIDATES = [
    cand("tiny_2026_11", "the old tiny: all data, 14x14, no augmentation (the anchor, KD expected to give nothing)",
         dict(arch="convnet3_m", downsample=2, num_epochs=12, batch_size=512, lr=0.4),
         dict(arch="convnet3_s", downsample=2, num_epochs=4)),
    cand("n10k_aug_14px", "a sixth of the data, both models augmented and trained long, 14x14",
         dict(arch="convnet3_m", downsample=2, n_train=10_000, augment=True, num_epochs=40),
         dict(arch="convnet3_s", downsample=2, n_train=10_000, augment=True, num_epochs=40)),
    cand("n10k_aug_14px_xs", "as n10k_aug_14px with a 4-8-16 student: a larger capacity gap",
         dict(arch="convnet3_m", downsample=2, n_train=10_000, augment=True, num_epochs=40),
         dict(arch="convnet3_xs", downsample=2, n_train=10_000, augment=True, num_epochs=40)),
    cand("n10k_aug_14px_wide", "as n10k_aug_14px with a 32-64-128 teacher: a stronger teacher",
         dict(arch="convnet3_l", downsample=2, n_train=10_000, augment=True, num_epochs=40),
         dict(arch="convnet3_s", downsample=2, n_train=10_000, augment=True, num_epochs=40)),
    cand("n2k_aug_14px", "2,000 images, both models augmented, 100 epochs, 14x14",
         dict(arch="convnet3_m", downsample=2, n_train=2_000, augment=True, num_epochs=100, batch_size=128, lr=0.1),
         dict(arch="convnet3_s", downsample=2, n_train=2_000, augment=True, num_epochs=100, batch_size=128, lr=0.1)),
    cand("n10k_augT_14px", "teacher augmented, student not (Hinton et al.'s jittered teacher), 14x14",
         dict(arch="convnet3_m", downsample=2, n_train=10_000, augment=True, num_epochs=40),
         dict(arch="convnet3_s", downsample=2, n_train=10_000, augment=False, num_epochs=40)),
    cand("all_aug_14px_xs", "all data, both augmented, 4-8-16 student, 14x14",
         dict(arch="convnet3_m", downsample=2, augment=True, num_epochs=12, batch_size=512, lr=0.4),
         dict(arch="convnet3_xs", downsample=2, augment=True, num_epochs=12)),
    cand("n10k_aug_28px", "as n10k_aug_14px at 28x28",
         dict(arch="convnet3_m", n_train=10_000, augment=True, num_epochs=40),
         dict(arch="convnet3_s", n_train=10_000, augment=True, num_epochs=40)),
    # Added after the first two screens (both showed KD below CE, with the teacher only 2 points
    # ahead): a stronger, augmented teacher and a student that can overfit its few images, the
    # regime of Hinton et al.'s MNIST experiment, where soft targets act as the regulariser.
    cand("n5k_augT_14px_m", "5,000 images; 32-64-128 teacher augmented (100 epochs); 16-32-64 student "
         "not augmented (60 epochs), so the student alone overfits",
         dict(_N5K_14, arch="convnet3_l", augment=True, num_epochs=100),
         dict(_N5K_14, arch="convnet3_m", augment=False, num_epochs=60)),
    cand("n5k_augT_28px_m", "as n5k_augT_14px_m at 28x28",
         dict(_N5K, arch="convnet3_l", augment=True, num_epochs=100),
         dict(_N5K, arch="convnet3_m", augment=False, num_epochs=60)),
    cand("n5k_aug_14px_long", "5,000 images, both augmented (the student sees the teacher on its own view), "
         "32-64-128 teacher 100 epochs, 8-16-32 student 200 epochs (Beyer et al.'s patient teaching)",
         dict(_N5K_14, arch="convnet3_l", augment=True, num_epochs=100),
         dict(_N5K_14, arch="convnet3_s", augment=True, num_epochs=200)),
    cand("all_augT_28px", "all data at 28x28; 32-64-128 teacher augmented (15 epochs); 8-16-32 student not "
         "augmented (5 epochs): the widest gap on the whole set",
         dict(arch="convnet3_l", augment=True, num_epochs=15),
         dict(arch="convnet3_s", augment=False, num_epochs=5)),
    cand("n5k_augT_14px_s", "as n5k_augT_14px_m with the 8-16-32 student: a wider teacher-student gap",
         dict(_N5K_14, arch="convnet3_l", augment=True, num_epochs=100),
         dict(_N5K_14, arch="convnet3_s", augment=False, num_epochs=60)),
    cand("n5k_augT_14px_xs", "as n5k_augT_14px_m with the 4-8-16 student: the widest gap at 14x14",
         dict(_N5K_14, arch="convnet3_l", augment=True, num_epochs=100),
         dict(_N5K_14, arch="convnet3_xs", augment=False, num_epochs=60)),
    cand("n5k_augT_14px_rs", "as n5k_augT_14px_s with a 32-64-128 ResNet teacher: a stronger teacher for the gap",
         dict(_N5K_14, arch="resnet_m", augment=True, num_epochs=100),
         dict(_N5K_14, arch="convnet3_s", augment=False, num_epochs=60)),
    cand("n5k_augT_28px_s", "as n5k_augT_14px_s at 28x28",
         dict(_N5K, arch="convnet3_l", augment=True, num_epochs=100),
         dict(_N5K, arch="convnet3_s", augment=False, num_epochs=60)),
    cand("n10k_augT_28px_m", "10,000 images at 28x28; 32-64-128 teacher augmented (60 epochs); 16-32-64 student "
         "not augmented (40 epochs)",
         dict(arch="convnet3_l", n_train=10_000, augment=True, num_epochs=60, batch_size=128, lr=0.1),
         dict(arch="convnet3_m", n_train=10_000, augment=False, num_epochs=40, batch_size=128, lr=0.1)),
    cand("n5k_augT_14px_m_t200", "as n5k_augT_14px_m with the teacher trained 200 epochs: a stronger teacher",
         dict(_N5K_14, arch="convnet3_l", augment=True, num_epochs=200),
         dict(_N5K_14, arch="convnet3_m", augment=False, num_epochs=60)),
    cand("n3k_augT_14px_m", "3,000 images; 32-64-128 teacher augmented (150 epochs); 16-32-64 student not "
         "augmented (80 epochs)",
         dict(arch="convnet3_l", downsample=2, n_train=3_000, augment=True, num_epochs=150, batch_size=128, lr=0.1),
         dict(arch="convnet3_m", downsample=2, n_train=3_000, augment=False, num_epochs=80, batch_size=128,
              lr=0.1)),
    cand("n2k_augT_14px_m", "2,000 images; 32-64-128 teacher augmented (200 epochs); 16-32-64 student not "
         "augmented (100 epochs)",
         dict(arch="convnet3_l", downsample=2, n_train=2_000, augment=True, num_epochs=200, batch_size=128, lr=0.1),
         dict(arch="convnet3_m", downsample=2, n_train=2_000, augment=False, num_epochs=100, batch_size=128,
              lr=0.1)),
]
# The default book's candidates (CRITERIA["tiny"]): the pick made cheaper. n5k_augT_14px_s, already
# confirmed, is eligible too (its stage stays 'confirm').
CANDIDATES += [
    cand("tiny_n5k_mT_s", "5,000 images; 16-32-64 teacher augmented (100 epochs); 8-16-32 student not augmented "
         "(60 epochs): a cheaper teacher",
         dict(_N5K_14, arch="convnet3_m", augment=True, num_epochs=100),
         dict(_N5K_14, arch="convnet3_s", augment=False, num_epochs=60)),
    cand("tiny_n3k_s", "3,000 images; 32-64-128 teacher augmented (100 epochs); 8-16-32 student not augmented "
         "(60 epochs): fewer images",
         dict(_N5K_14, n_train=3_000, arch="convnet3_l", augment=True, num_epochs=100),
         dict(_N5K_14, n_train=3_000, arch="convnet3_s", augment=False, num_epochs=60)),
    cand("tiny_n5k_half", "5,000 images; 32-64-128 teacher augmented (50 epochs); 8-16-32 student not augmented "
         "(30 epochs): half the epochs",
         dict(_N5K_14, arch="convnet3_l", augment=True, num_epochs=50),
         dict(_N5K_14, arch="convnet3_s", augment=False, num_epochs=30)),
]
BY_NAME = {c["name"]: c for c in CANDIDATES}


def configs(c: dict, seed: int, mult: int = 1) -> tuple[TrainConfig, TrainConfig]:
    """The plain teacher's and the student's configs of seed ``seed``, both trained ``mult`` times as long."""
    t = TrainConfig(**{**c["teacher"], "alpha": 0.0, "seed": seed})
    s = TrainConfig(**{**c["student"], "seed": seed})
    return replace(t, num_epochs=t.num_epochs * mult), replace(s, num_epochs=s.num_epochs * mult)


def measure_seed(c: dict, seed: int, mult: int = 1) -> dict:
    """Seed ``seed``'s plain teacher, CE student and KD students; ``mult`` > 1 trains each ``mult`` x as long.

    The KD students always learn from the teacher of the candidate's own length, so at ``mult`` = 3
    every number is the same model trained longer.
    """
    t0 = time.perf_counter()
    tcfg, scfg = configs(c, seed, mult)
    teacher = train_teacher(tcfg, progress=False).metrics()
    ce = train_teacher(scfg, progress=False).metrics()  # alpha = 0: the student alone, with CE
    # Student seed s: the same initial weights and batch order as the CE student, the same epochs.
    kd = {t: r.metrics() for t, r in train_students(configs(c, seed)[0], scfg, TEMPERATURES, progress=False).items()}
    return {"teacher": round(teacher["final_top1"], 2), "ce": round(ce["final_top1"], 2),
            **{f"kd_T{t:g}": round(m["final_top1"], 2) for t, m in kd.items()},
            "train_s": {"teacher": round(teacher["wall_time_s"], 1), "ce": round(ce["wall_time_s"], 1),
                        "kd_sweep": round(next(iter(kd.values()))["wall_time_s"], 1)},
            "wall_s": round(time.perf_counter() - t0, 1)}


def summarise(seeds: dict) -> dict:
    rows = list(seeds.values())
    out = {"n_seeds": len(rows), "teacher": round(float(np.mean([r["teacher"] for r in rows])), 2),
           "ce": round(float(np.mean([r["ce"] for r in rows])), 2),
           "teacher_gap": round(float(np.mean([r["teacher"] - r["ce"] for r in rows])), 2),
           "train_s_per_seed": round(float(np.mean([sum(r["train_s"].values()) for r in rows])), 1)}
    for t in TEMPERATURES:
        k = f"kd_T{t:g}"
        mean, lo, hi = paired_interval(np.array([r[k] - r["ce"] for r in rows]))
        out[f"gain_{k}"] = {"mean": round(mean, 2), "ci95": [round(lo, 2), round(hi, 2)] if np.isfinite(lo) else None}
    return out


def load() -> dict:
    if OUT.is_file():
        doc = json.loads(OUT.read_text())
        # An amendment adds criteria; none may change or go. The file takes the amended set.
        recorded = {k: v for k, v in json.loads(json.dumps(CRITERIA)).items() if k in doc["criteria"]}
        if doc["criteria"] != recorded or len(doc["amendments"]) > len(AMENDMENTS) \
                or doc["amendments"] != json.loads(json.dumps(AMENDMENTS))[:len(doc["amendments"])]:
            raise SystemExit("error: the criteria in bench/testbed_search.py differ from the ones recorded in "
                             f"{OUT}; they were fixed before the search and may not change")
        if len(doc["criteria"]) < len(CRITERIA):
            missing = [k for k in CRITERIA if k not in doc["criteria"]]
            if len(AMENDMENTS) == len(doc["amendments"]):
                raise SystemExit(f"error: new criteria ({', '.join(missing)}) need an entry in AMENDMENTS")
        doc["criteria"], doc["amendments"] = json.loads(json.dumps(CRITERIA)), json.loads(json.dumps(AMENDMENTS))
        return doc
    return {"criteria": CRITERIA, "amendments": AMENDMENTS, "hardware": hardware(), "candidates": {}}


def save(doc: dict, name: str | None = None) -> None:
    """Write ``doc``; with ``name``, merge only that candidate into what the file holds now, so two
    searches (or a search and ``show``) never drop each other's entries."""
    import fcntl

    # Two searches run side by side (one per core): the read-merge-write is done under a lock.
    with open(OUT.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if name is not None and OUT.is_file():
            disk = json.loads(OUT.read_text())
            disk["candidates"][name] = doc["candidates"][name]
            disk["criteria"], disk["amendments"] = doc["criteria"], doc["amendments"]
            doc = disk
        atomic_write_json(OUT, doc)


def time_side_by_side(names: list[str], epochs: int = 10, rounds: int = 3) -> None:
    """CRITERIA['tiny_timing']: each candidate's training time per seed, measured in one process."""
    import os
    import statistics
    import tempfile

    doc = load()
    parts: dict[str, dict[str, list[float]]] = {n: {"teacher": [], "ce": [], "kd_sweep": []} for n in names}
    old_cache = os.environ.get("LSKD_CACHE")
    with tempfile.TemporaryDirectory(prefix="lskd-timing-") as tmp:
        for r in range(rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                os.environ["LSKD_CACHE"] = f"{tmp}/{r}-{name}"  # nothing served from a cache
                tcfg, scfg = configs(BY_NAME[name], 0)
                t_short, s_short = replace(tcfg, num_epochs=epochs), replace(scfg, num_epochs=epochs)
                teacher = train_teacher(t_short, progress=False).metrics()["wall_time_s"]
                ce = train_teacher(s_short, progress=False).metrics()["wall_time_s"]
                kd = next(iter(train_students(t_short, s_short, TEMPERATURES, progress=False).values()))
                for key, wall, full in (("teacher", teacher, tcfg.num_epochs), ("ce", ce, scfg.num_epochs),
                                        ("kd_sweep", kd.metrics()["wall_time_s"], scfg.num_epochs)):
                    parts[name][key].append(wall * full / epochs)
                print(f"[testbed] timing round {r + 1}/{rounds}: {name} "
                      f"{sum(v[-1] for v in parts[name].values()):.1f} s per seed", flush=True)
    # The temporary caches are gone: leave LSKD_CACHE as the caller had it.
    if old_cache is None:
        os.environ.pop("LSKD_CACHE", None)
    else:
        os.environ["LSKD_CACHE"] = old_cache
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    for name in names:
        med = {k: round(statistics.median(v), 1) for k, v in parts[name].items()}
        doc["candidates"][name]["timing"] = {"parts_s": med, "per_seed_s": round(sum(med.values()), 1),
                                             "with": sorted(names), "at": stamp, "hardware": hardware()}
        save(doc, name)
        print(f"[testbed] {name}: {doc['candidates'][name]['timing']}", flush=True)


def run(names: list[str], seeds: tuple[int, ...], stage: str, plateau: bool) -> None:
    doc = load()
    for name in names:
        c = BY_NAME[name]
        entry = doc["candidates"].setdefault(name, {"why": c["why"], "teacher": c["teacher"], "student": c["student"],
                                                     "seeds": {}, "plateau": {}})
        entry["stage"] = stage
        for s in seeds:
            if str(s) in entry["seeds"]:
                continue
            print(f"[testbed] {name} seed {s} ...", flush=True)
            entry["seeds"][str(s)] = measure_seed(c, s)
            entry["summary"] = summarise(entry["seeds"])
            entry["measured"] = time.strftime("%Y-%m-%d")
            save(doc, name)  # after every seed: a killed search loses at most one seed's bookkeeping
            print(f"[testbed] {name} seed {s}: {entry['seeds'][str(s)]}", flush=True)
        if plateau and "0" not in entry["plateau"]:
            print(f"[testbed] {name} plateau (3x epochs, seed 0) ...", flush=True)
            long = measure_seed(c, 0, mult=3)
            short = entry["seeds"]["0"]
            entry["plateau"]["0"] = {"x3": long, "gap": {k: round(long[k] - short[k], 2)
                                                          for k in ("teacher", "ce", "kd_T1", "kd_T3")}}
            save(doc, name)
        print(f"[testbed] {name}: {entry.get('summary')}", flush=True)


def meets(entry: dict) -> dict[str, bool]:
    return testbed.meets(entry, CRITERIA)


def pick(doc: dict) -> tuple[str | None, str]:
    return testbed.pick(doc)


def show() -> None:
    doc = load()
    for n, e in doc["candidates"].items():
        s = e.get("summary", {})
        print(f"{n:22s} {e.get('stage', ''):8s} n={s.get('n_seeds')} teacher={s.get('teacher')} ce={s.get('ce')} "
              f"gap={s.get('teacher_gap')} T1={s.get('gain_kd_T1')} T3={s.get('gain_kd_T3')} "
              f"train/seed={s.get('train_s_per_seed')} s plateau={e.get('plateau', {}).get('0', {}).get('gap')}")
    print("pick:", *pick(doc))
    print("tiny:", *testbed.pick_tiny(doc))


def main(argv=None) -> int:
    import torch

    # One thread by default: the search shares the 2 cores with other work (LSKD_THREADS to change).
    import os

    torch.set_num_threads(int(os.environ.get("LSKD_THREADS", "1")))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sc = sub.add_parser("screen")
    sc.add_argument("names", nargs="*")
    cf = sub.add_parser("confirm")
    cf.add_argument("names", nargs="+")
    tn = sub.add_parser("tiny")
    tn.add_argument("names", nargs="+")
    tm = sub.add_parser("time", help="the tiny rule's side-by-side timing of the named candidates")
    tm.add_argument("names", nargs="+")
    sub.add_parser("show")
    a = p.parse_args(argv)
    unknown = [n for n in getattr(a, "names", []) if n not in BY_NAME]
    if unknown:
        print(f"error: unknown candidate(s) {', '.join(unknown)}; known: {', '.join(BY_NAME)}", file=sys.stderr)
        return 2
    if a.cmd == "screen":
        run(a.names or list(BY_NAME), SCREEN_SEEDS, "screen", plateau=False)
    elif a.cmd == "confirm":
        run(a.names, CONFIRM_SEEDS, "confirm", plateau=True)
    elif a.cmd == "tiny":
        if not all(n.startswith("tiny_") for n in a.names):
            print("error: the tiny stage runs tiny_* candidates only", file=sys.stderr)
            return 2
        run(a.names, CONFIRM_SEEDS, "tiny", plateau=False)
    elif a.cmd == "time":
        time_side_by_side(a.names)
    show()
    return 0


if __name__ == "__main__":
    sys.exit(main())
