"""How strong can a translation teacher get on 2 cores? BLEU against training time, and the pick.

    python bench/nmt_curve.py [--profile base] [--epochs 48] [--score 1 2 3 4 6 8 12 16 24 32 48]
    python bench/nmt_curve.py --show

One plain teacher (alpha = 0, seed 0: the pick looks at no smoothed model, as in the image testbed
search) trains for ``--epochs`` epochs with every epoch's checkpoint kept. fairseq's inverse-sqrt
schedule does not depend on the number of epochs, so the checkpoint of epoch E *is* the teacher a
run of E epochs would end with: one run gives the whole curve. Each scored checkpoint translates the
validation split (never the test split, which the chapters report). Time is the CPU time of the
training processes (one fairseq thread, as in the grid; each epoch's process start included), which
other work on the cores does not inflate.

The rule (``RULE``), fixed before the first point was measured: the teacher's epochs are the fewest
scored E whose validation BLEU is within 1 BLEU of the run three times as long (3E), among those
whose 3E training fits in an hour of one core's CPU time; if none, the largest E whose 3E fits, with the
shortfall stated. ``results/nmt_curve.json`` keeps every point; chapter 11 plots it.

Interrupted, it resumes: finished epochs and scores are kept, and fairseq continues from
``checkpoint_last.pt``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import asdict, fields as dataclass_fields, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lskd_core.cache import cache_root  # noqa: E402
from lskd_core.io import atomic_write_json  # noqa: E402
from lskd_core.nmt import pipeline  # noqa: E402
from lskd_core.profiles import get_profile  # noqa: E402

OUT = ROOT / "results" / "nmt_curve.json"
RULE = {"within_bleu": 1.0, "factor": 3, "budget_s": 3600.0, "split": "valid",
        "choose": ("the fewest scored epochs E whose validation BLEU is within 1.0 of epoch 3E, among E whose 3E "
                   "epochs train within the budget; if none, the largest such E, and the shortfall is stated")}


def pick(points: list[dict], rule: dict = RULE) -> dict:
    """The rule applied to ``points`` ({epoch, cpu_s, bleu}): {epoch, gain_to_3x, met, why}."""
    by = {p["epoch"]: p for p in points}
    fits = [e for e in sorted(by) if e * rule["factor"] in by and by[e * rule["factor"]]["cpu_s"] <= rule["budget_s"]]
    if not fits:
        return {"epoch": None, "met": False, "why": "no scored epoch has its 3x run within the budget"}
    gain = {e: by[e * rule["factor"]]["bleu"] - by[e]["bleu"] for e in fits}
    ok = [e for e in fits if gain[e] <= rule["within_bleu"]]
    e = ok[0] if ok else fits[-1]
    return {"epoch": e, "gain_to_3x": round(gain[e], 2), "met": bool(ok),
            "why": (f"the fewest epochs within {rule['within_bleu']:g} BLEU of 3x" if ok else
                    f"no E within {rule['within_bleu']:g} BLEU of 3x inside the budget; the largest that fits "
                    f"is {gain[e]:.2f} BLEU short of its 3x run")}


def label(profile: str, overrides: dict) -> str:
    """The curve's name in the results file: the profile, with any overridden fields."""
    return profile + ("[" + ",".join(f"{k}={v}" for k, v in sorted(overrides.items())) + "]" if overrides else "")


def measure(profile: str, epochs: int, scored: list[int], seed: int = 0, overrides: dict | None = None) -> dict:
    overrides = overrides or {}
    base = replace(get_profile(profile).nmt, **overrides)
    cfg = replace(base, alpha=0.0, seed=seed, temperature=None, max_epoch=epochs)
    data = pipeline.prepare(cfg)
    out = cache_root() / "bench" / f"nmt-curve-{label(profile, overrides)}-s{seed}"
    out.mkdir(parents=True, exist_ok=True)
    # One epoch per fairseq call (it resumes from checkpoint_last.pt; its per-update seeding makes the
    # result the same as one long call), so that each epoch's CPU time is measured on its own: CPU
    # seconds of a one-thread process do not grow when other work shares the cores, wall seconds do.
    cpu_file = out / "cpu_s.json"
    cpu = {int(k): v for k, v in json.loads(cpu_file.read_text()).items()} if cpu_file.is_file() else {}
    for e in range(1, epochs + 1):
        if e in cpu and (out / f"checkpoint{e}.pt").is_file():
            continue
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        pipeline._run("fairseq_cli.train", pipeline.train_args(replace(cfg, max_epoch=e), data, out,
                                                               epoch_checkpoints=True), out / "log.txt")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu[e] = round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1)
        atomic_write_json(cpu_file, cpu)
        print(f"[nmt_curve] epoch {e}/{epochs}: {cpu[e]:.0f} CPU s", flush=True)
    points = []
    for e in scored:
        res = out / f"score_{RULE['split']}_e{e}.json"
        s = json.loads(res.read_text()) if res.is_file() else pipeline.score(out / f"checkpoint{e}.pt", data, cfg,
                                                                             RULE["split"], res)
        points.append({"epoch": e, "cpu_s": round(sum(cpu[i] for i in range(1, e + 1)), 1),
                       "bleu": round(s["bleu"], 2), "chrf": round(s["chrf"], 2)})
        print(f"[nmt_curve] epoch {e:3d}  {points[-1]['cpu_s']:7.0f} CPU s  valid BLEU {s['bleu']:.2f}  "
              f"chrF {s['chrf']:.2f}", flush=True)
    return {"profile": profile, "overrides": overrides, "config": asdict(cfg), "hardware": pipeline.hardware(),
            "threads": pipeline.FAIRSEQ_THREADS, "measured": time.strftime("%Y-%m-%d"), "rule": RULE,
            "points": points, "pick": pick(points)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="base")
    p.add_argument("--epochs", type=int, default=48)
    p.add_argument("--score", type=int, nargs="+", default=[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48])
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                   help="override fields of the profile's translation config (e.g. max_tokens=1024)")
    p.add_argument("--show", action="store_true", help="print the committed curve and its pick")
    a = p.parse_args(argv)
    if a.show:
        doc = json.loads(OUT.read_text())
        for prof, entry in doc.items():
            print(prof, entry["pick"], [(q["epoch"], q["bleu"]) for q in entry["points"]])
        return 0
    bad = [e for e in a.score if not 1 <= e <= a.epochs]
    if bad:
        print(f"error: scored epochs {bad} lie outside 1..{a.epochs}", file=sys.stderr)
        return 2
    get_profile(a.profile).require("translation")
    fields = [f.name for f in dataclass_fields(pipeline.NMTConfig)]
    overrides = {}
    for item in a.set:
        key, _, value = item.partition("=")
        if key not in fields or not value:
            print(f"error: --set {item!r}: expected FIELD=VALUE with FIELD one of {', '.join(fields)}", file=sys.stderr)
            return 2
        overrides[key] = json.loads(value) if value[0] in "0123456789-[{tfn" else value
    entry = measure(a.profile, a.epochs, sorted(set(a.score)), overrides=overrides)
    doc = json.loads(OUT.read_text()) if OUT.is_file() else {}
    doc[label(a.profile, overrides)] = entry
    atomic_write_json(OUT, doc)
    print("pick:", entry["pick"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
