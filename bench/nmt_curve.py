"""How strong can a translation teacher get on 2 cores? BLEU against training time, and the pick.

    python bench/nmt_curve.py [--profile base] [--epochs 48] [--score 1 2 3 4 6 8 12 16 24 32 48]
    python bench/nmt_curve.py --show

One plain teacher (alpha = 0, seed 0: the pick looks at no smoothed model, as in the image testbed
search) trains for ``--epochs`` epochs with every epoch's checkpoint kept. fairseq's inverse-sqrt
schedule does not depend on the number of epochs, so the checkpoint of epoch E *is* the teacher a
run of E epochs would end with: one run gives the whole curve. Each scored checkpoint translates the
validation split (never the test split, which the chapters report), and its wall time is the
checkpoint's write time since the run began, one fairseq thread as in the grid.

The rule (``RULE``), fixed before the first point was measured: the teacher's epochs are the fewest
scored E whose validation BLEU is within 1 BLEU of the run three times as long (3E), among those
whose 3E training fits in an hour on one core; if none, the largest E whose 3E fits, with the
shortfall stated. ``results/nmt_curve.json`` keeps every point; chapter 11 plots it.

Interrupted, it resumes: fairseq continues from ``checkpoint_last.pt`` and scored epochs are kept.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
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
    """The rule applied to ``points`` ({epoch, wall_s, bleu}): {epoch, gain_to_3x, met, why}."""
    by = {p["epoch"]: p for p in points}
    fits = [e for e in sorted(by) if e * rule["factor"] in by and by[e * rule["factor"]]["wall_s"] <= rule["budget_s"]]
    if not fits:
        return {"epoch": None, "met": False, "why": "no scored epoch has its 3x run within the budget"}
    gain = {e: by[e * rule["factor"]]["bleu"] - by[e]["bleu"] for e in fits}
    ok = [e for e in fits if gain[e] <= rule["within_bleu"]]
    e = ok[0] if ok else fits[-1]
    return {"epoch": e, "gain_to_3x": round(gain[e], 2), "met": bool(ok),
            "why": (f"the fewest epochs within {rule['within_bleu']:g} BLEU of 3x" if ok else
                    f"no E within {rule['within_bleu']:g} BLEU of 3x inside the budget; the largest that fits "
                    f"is {gain[e]:.2f} BLEU short of its 3x run")}


def measure(profile: str, epochs: int, scored: list[int], seed: int = 0) -> dict:
    base = get_profile(profile).nmt
    cfg = replace(base, alpha=0.0, seed=seed, temperature=None, max_epoch=epochs)
    data = pipeline.prepare(cfg)
    out = cache_root() / "bench" / f"nmt-curve-{profile}-s{seed}"
    out.mkdir(parents=True, exist_ok=True)
    # The start time survives a resume, so wall times stay times since the run began.
    started_file = out / "started.json"
    if not started_file.is_file():
        atomic_write_json(started_file, {"t": time.time()})
    started = json.loads(started_file.read_text())["t"]
    last = max([int(p.stem[10:]) for p in out.glob("checkpoint[0-9]*.pt")], default=0)
    if last < epochs:
        print(f"[nmt_curve] training to epoch {epochs} (from {last}), one thread; log {out / 'log.txt'}", flush=True)
        pipeline._run("fairseq_cli.train", pipeline.train_args(cfg, data, out, epoch_checkpoints=True),
                      out / "log.txt")
    points = []
    for e in scored:
        ckpt = out / f"checkpoint{e}.pt"
        if not ckpt.is_file():
            print(f"error: {ckpt} is missing (was --epochs below {e}?)", file=sys.stderr)
            continue
        res = out / f"score_{RULE['split']}_e{e}.json"
        s = json.loads(res.read_text()) if res.is_file() else pipeline.score(ckpt, data, cfg, RULE["split"], res)
        points.append({"epoch": e, "wall_s": round(ckpt.stat().st_mtime - started, 1), "bleu": round(s["bleu"], 2),
                       "chrf": round(s["chrf"], 2)})
        print(f"[nmt_curve] epoch {e:3d}  {points[-1]['wall_s']:7.0f} s  valid BLEU {s['bleu']:.2f}  "
              f"chrF {s['chrf']:.2f}", flush=True)
    return {"profile": profile, "config": asdict(cfg), "hardware": pipeline.hardware(),
            "threads": pipeline.FAIRSEQ_THREADS, "measured": time.strftime("%Y-%m-%d"), "rule": RULE,
            "points": points, "pick": pick(points)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="base")
    p.add_argument("--epochs", type=int, default=48)
    p.add_argument("--score", type=int, nargs="+", default=[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48])
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
    entry = measure(a.profile, a.epochs, sorted(set(a.score)))
    doc = json.loads(OUT.read_text()) if OUT.is_file() else {}
    doc[a.profile] = entry
    atomic_write_json(OUT, doc)
    print("pick:", entry["pick"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
