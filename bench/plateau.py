"""Is a profile converged? Train its teacher and its T=1 student for the profile's
epochs and for 3x as many, and record both accuracies (the reproducibility page shows them).

    python bench/plateau.py --profile tiny [--profile base] [--out results/plateau.json]

The 3x runs use the same seed, data and schedule shape (one-cycle stretched
over the longer run). A model counts as at its plateau when its final
accuracy is within 1.5 points of the 3x run's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lskd_core.profiles import get_profile  # noqa: E402
from lskd_core.loop import hardware  # noqa: E402
from lskd_core.train import train_students, train_teacher  # noqa: E402

TOLERANCE = 1.5


def measure(name: str, factor: int = 3) -> list[dict]:
    prof = get_profile(name)
    rows = []
    for mult in (1, factor):
        t0 = time.perf_counter()
        tcfg = replace(prof.teacher, alpha=0.1, seed=0, num_epochs=prof.teacher.num_epochs * mult)
        scfg = replace(prof.student, seed=0, num_epochs=prof.student.num_epochs * mult)
        teacher = train_teacher(tcfg, progress=False)
        student = train_students(tcfg, scfg, [1.0], progress=False)[1.0]
        for kind, run in (("teacher alpha=0.1", teacher), ("student T=1", student)):
            m = run.metrics()
            rows.append({"profile": name, "model": kind, "epochs": len(m["curves"]["epoch"]), "multiple": mult,
                         "final_top1": m["final_top1"], "wall_time_s": round(m["wall_time_s"], 1)})
        print(f"[plateau] {name} x{mult}: {time.perf_counter() - t0:.0f} s", flush=True)
    for r in rows:
        if r["multiple"] == 1:
            long = next(x for x in rows if x["model"] == r["model"] and x["multiple"] == factor)
            r["gap_to_3x"] = round(long["final_top1"] - r["final_top1"], 2)
            r["at_plateau"] = r["gap_to_3x"] <= TOLERANCE
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", action="append", required=True)
    p.add_argument("--out", default=str(ROOT / "results" / "plateau.json"))
    a = p.parse_args(argv)
    out = Path(a.out)
    old = json.loads(out.read_text()) if out.is_file() else {"rows": []}
    rows = [r for r in old["rows"] if r["profile"] not in a.profile]
    for name in a.profile:
        rows += measure(name)
    out.write_text(json.dumps({"tolerance_points": TOLERANCE, "hardware": hardware(),
                               "measured": time.strftime("%Y-%m-%d"), "rows": rows}, indent=1) + "\n")
    for r in rows:
        print(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
