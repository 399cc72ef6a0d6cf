"""Reading the testbed search (``results/testbed_search.json``, written by ``bench/testbed_search.py``).

The search asks one question of each candidate configuration, with the plain teacher only: does a
student distilled from it beat the same student trained alone? This module applies the criteria
the file records (fixed before the first result) to the candidates it holds; the book's
reproducibility page shows every candidate and the pick.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .paths import RESULTS

SEARCH = RESULTS / "testbed_search.json"
TEMPERATURES = (1.0, 3.0)


def load(path: Path = SEARCH) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def meets(entry: dict, criteria: dict) -> dict[str, bool]:
    """Each criterion, met or not, by one candidate's summary (and its plateau check, if made)."""
    s = entry["summary"]
    gains = [s[f"gain_kd_T{t:g}"] for t in TEMPERATURES]
    plat = entry.get("plateau", {}).get("0")
    return {"gain": all(g["mean"] >= criteria["kd_gain_min_points"] for g in gains),
            "ci": all(g["ci95"] is not None and g["ci95"][0] > 0 for g in gains),
            "seeds": s["n_seeds"] >= criteria["min_seeds"],
            "teacher_gap": s["teacher_gap"] >= criteria["teacher_gap_min_points"],
            "plateau": plat is not None and all(abs(v) <= criteria["plateau_tolerance_points"]
                                                for v in plat["gap"].values())}


def pick(doc: dict) -> tuple[str | None, str]:
    """The candidate the recorded rule chooses, and why (or what it falls short on)."""
    confirmed = {n: e for n, e in doc["candidates"].items() if e.get("stage") == "confirm" and "summary" in e}
    if not confirmed:
        return None, "no candidate has been confirmed yet"
    crit = doc["criteria"]
    ok = [n for n, e in confirmed.items() if all(meets(e, crit).values())]
    if ok:
        return min(ok, key=lambda n: confirmed[n]["summary"]["train_s_per_seed"]), "meets every criterion"
    best = max(confirmed, key=lambda n: min(confirmed[n]["summary"][f"gain_kd_T{t:g}"]["mean"] for t in TEMPERATURES))
    missed = [k for k, v in meets(confirmed[best], crit).items() if not v]
    return best, f"no confirmed candidate meets every criterion; the best by its smaller KD gain falls short on: " \
                 f"{', '.join(missed)}"


def pick_tiny(doc: dict) -> tuple[str | None, str]:
    """The default book's testbed by the recorded ``tiny`` rule: the cheapest 5-seed candidate whose
    KD gain's 95 % interval lies above zero at both temperatures (None, why: no candidate qualifies)."""
    if "tiny" not in doc["criteria"]:
        return None, "the search records no rule for tiny"
    pool = {n: e for n, e in doc["candidates"].items()
            if "summary" in e and (n.startswith("tiny_") or e.get("stage") == "confirm")}
    ok = [n for n, e in pool.items() if meets(e, doc["criteria"])["ci"]
          and e["summary"]["n_seeds"] >= doc["criteria"]["min_seeds"]]
    if not ok:
        return None, "no candidate with 5 seeds has both KD gains' intervals above zero"
    # CRITERIA['tiny_timing']: times count only when every eligible candidate was timed in one session.
    timed = {pool[n].get("timing", {}).get("at") for n in ok}
    if "tiny_timing" in doc["criteria"] and (None in timed or len(timed) > 1
                                             or any(set(ok) - set(pool[n]["timing"]["with"]) for n in ok)):
        return None, (f"the eligible candidates ({', '.join(sorted(ok))}) are not yet timed side by side "
                      f"(bench/testbed_search.py time {' '.join(sorted(ok))})")
    per_seed = {n: pool[n].get("timing", {}).get("per_seed_s", pool[n]["summary"]["train_s_per_seed"]) for n in ok}
    return min(ok, key=per_seed.get), "the least training per seed among the candidates whose gate passes"


def plain_kd_t1(entry: dict) -> float:
    """A candidate's mean top-1 of the plain teacher's students at T = 1 over its seeds."""
    return float(sum(r["kd_T1"] for r in entry["seeds"].values()) / len(entry["seeds"]))


def expected_gain(profile: str | None, temperature: float) -> float | None:
    """The KD gain over CE the search measured for ``profile``'s testbed at ``temperature`` (None:
    the profile names no searched candidate, or the search did not run that temperature)."""
    from .profiles import PROFILES

    prof = PROFILES.get(profile) if profile else None
    doc = load()
    if prof is None or prof.testbed is None or doc is None or prof.testbed not in doc["candidates"]:
        return None
    g = doc["candidates"][prof.testbed].get("summary", {}).get(f"gain_kd_T{temperature:g}")
    return None if g is None else float(g["mean"])


def table(doc: dict) -> pd.DataFrame:
    """One row per candidate ever tried: its accuracies, gains with intervals, cost and plateau gaps."""
    rows = []
    for name, e in doc["candidates"].items():
        s = e.get("summary")
        if not s:
            continue
        plat = e.get("plateau", {}).get("0", {}).get("gap")

        def gain(t):
            g = s[f"gain_kd_T{t:g}"]
            return f"{g['mean']:+.2f}" + (f" [{g['ci95'][0]:+.2f}, {g['ci95'][1]:+.2f}]" if g["ci95"] else "")

        rows.append({"candidate": name, "stage": e.get("stage"), "seeds": s["n_seeds"], "teacher (%)": s["teacher"],
                     "CE student (%)": s["ce"], "teacher gap (points)": s["teacher_gap"],
                     "KD - CE at T=1 (points)": gain(1.0), "KD - CE at T=3 (points)": gain(3.0),
                     "training per seed (s)": s["train_s_per_seed"],
                     # The tiny rule's comparison: every eligible candidate timed in one process, side by side.
                     "side by side (s)": e.get("timing", {}).get("per_seed_s"),
                     "3x-epochs gaps (points)": ", ".join(f"{k} {v:+.2f}" for k, v in plat.items()) if plat else "",
                     "what it tries": e.get("why", "")})
    return pd.DataFrame(rows)
