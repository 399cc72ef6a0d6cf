"""The pre-registration: what the reference runs of a profile are expected to show, fixed before they run.

``results/preregistration.toml`` is written once, by ``lskd preregister``, and
committed before the reference runs start. It holds the testbed (the profile's
teacher and student configs and the search candidate they come from), the
seeds, the code commit the runs start from, and for every claim the effect
expected if the paper is right, the rule that derived it, and the equivalence
margin of the four-way verdict. The verdicts of that profile then read their
expected effects and margins from this file (``claims.expectation``), not from
the data they judge; ``tests/test_preregistration.py`` checks that the
committed records were produced with the registered configuration by code at
or after the registered commit.

The expected effects use only the paper's tables and the testbed search's
plain-teacher students (no run with a smoothed teacher existed when the file
was written).
"""

from __future__ import annotations

import functools
import json
import subprocess
import time
import tomllib
from pathlib import Path

from .config import key_fields
from .paths import RESULTS, ROOT

PATH = RESULTS / "preregistration.toml"


def load(path: Path | None = None) -> dict | None:
    path = path or PATH
    if not path.is_file():
        return None
    st = path.stat()
    return _parse(str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _parse(path: str, mtime_ns: int, size: int) -> dict:
    # Every verdict row asks for its claim's registration: the file is parsed once per version of it.
    return tomllib.loads(Path(path).read_text())


def registered(profile: str | None, key: str, path: Path | None = None) -> dict | None:
    """The registered ``{"expected": float | None, "margin": float | None, "rule": str}`` of claim ``key``
    on ``profile``, or None when the profile has no registration (its expectations are then derived
    by the same rules at run time)."""
    doc = load(path)
    if not doc or profile is None or doc["testbed"]["profile"] != profile:
        return None
    c = doc["claims"].get(key)
    if c is None:
        return None
    return {"expected": c.get("expected"), "margin": c.get("margin"), "rule": c["rule"]}


def git_commit(root: Path = ROOT) -> tuple[str | None, bool]:
    """The checked-out commit and whether the sources differ from it (None: not a git checkout)."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "lskd_core"],
                               cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None, False
    return head.stdout.strip(), bool(dirty.stdout.strip())


def config_digest(profile) -> str:
    """A digest of a profile's teacher and student configs and seeds: what the records must match."""
    import hashlib

    body = {"teacher": key_fields(profile.teacher), "student": key_fields(profile.student), "seeds": list(profile.seeds)}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def stamp(profile_name: str) -> dict:
    """What a record says about how it was made: the code commit and the profile's config digest."""
    from .profiles import PROFILES

    commit, dirty = git_commit()
    prof = PROFILES.get(profile_name)
    return {"git_commit": commit, "git_dirty": dirty,
            "config_digest": config_digest(prof) if prof is not None and prof.teacher is not None else None}


def _toml_value(v) -> str:
    if v is None:
        raise ValueError("TOML has no null; leave the key out")
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items() if x is not None) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def candidate(profile_name: str) -> tuple[object, dict]:
    """A profile and the testbed-search entry it names (ValueError: none)."""
    from . import testbed
    from .profiles import get_profile

    prof = get_profile(profile_name)
    if prof.testbed is None:
        raise ValueError(f"profile {profile_name} names no testbed candidate to register")
    search = testbed.load()
    if search is None or prof.testbed not in search["candidates"]:
        raise ValueError(f"the testbed search records no candidate {prof.testbed!r}")
    return prof, search["candidates"][prof.testbed]


def build(profile_name: str, claim_rows: list[dict]) -> str:
    """The registration of ``profile_name`` as TOML text (``lskd preregister`` writes it).

    ``claim_rows`` come from ``claims.registration_rows``: per claim its key, kind, chapter and
    expectation, derived from the plain-teacher students of the testbed search.
    """
    from . import testbed

    prof, cand = candidate(profile_name)
    plain_t1 = testbed.plain_kd_t1(cand)
    commit, dirty = git_commit()
    if commit is None or dirty:
        raise ValueError("register from a clean git checkout: the registration names the commit the runs start from")
    lines = [
        "# Pre-registration of the reference runs of one profile (lskd_core/prereg.py; written by",
        "# `lskd preregister`). Committed before the runs; never rewritten.",
        "",
        "[testbed]",
        f"profile = {_toml_value(profile_name)}",
        f"candidate = {_toml_value(prof.testbed)}",
        f"search = {_toml_value('results/testbed_search.json')}",
        f"seeds = {_toml_value(list(prof.seeds))}",
        f"config_digest = {_toml_value(config_digest(prof))}",
        f"teacher = {_toml_value({k: v for k, v in key_fields(prof.teacher).items() if v is not None})}",
        f"student = {_toml_value({k: v for k, v in key_fields(prof.student).items() if v is not None})}",
        f"hardware = {_toml_value(prof.hardware)}",
        "",
        "[code]",
        f"commit = {_toml_value(commit)}",
        f"written = {_toml_value(time.strftime('%Y-%m-%d'))}",
        "",
        "[rule]",
        f"plain_kd_t1 = {_toml_value(round(plain_t1, 3))}",
        "plain_kd_t1_source = " + _toml_value(
            f"the testbed search's students of the plain teacher at T = 1 ({prof.testbed}, seeds "
            f"{', '.join(cand['seeds'])}): the only accuracy of ours the expectations use"),
        "expected = " + _toml_value(
            "per claim (its 'rule'): the paper's number in the claim's own tables, scaled to this testbed by the "
            "ratio of error rates at T = 1 with the plain teacher (100 - plain_kd_t1 over 100 - the paper's), "
            "averaged over the tables; no expected effect where the paper's average points the other way or the "
            "paper gives no number in these units"),
        "margin = " + _toml_value(
            "the expected effect: a contrast whose 90 % interval lies inside (-margin, margin) is 'smaller than "
            "the paper's effect' (two one-sided tests at 5 %)"),
        "verdict = " + _toml_value(
            "four-way per claim: supported (95 % t-interval of the paired per-seed contrast above 0), not "
            "supported (below 0), smaller than the paper's effect (TOST inside the margin), inconclusive; Holm's "
            "adjustment across the profile's claims is shown beside, in two families (paper and sharper claims; "
            "the book's own questions)"),
        "",
    ]
    translation = [r["key"] for r in claim_rows if r["chapter"] == "11_translation"]
    lines[-1:-1] = ["translation = " + _toml_value(
        f"not registered here: the translation claims ({', '.join(translation)}) rest on the translation "
        "runs, which are not part of these reference runs; their expectations follow the rule at run time")]
    for r in claim_rows:
        if r["key"] in translation:
            continue
        e = r
        lines.append(f"[claims.{r['key']}]")
        lines.append(f"kind = {_toml_value(r['kind'])}")
        if e["expected"] is not None:
            lines.append(f"expected = {_toml_value(round(e['expected'], 3))}")
            lines.append(f"margin = {_toml_value(round(e['margin'], 3))}")
        lines.append(f"rule = {_toml_value(e['rule'])}")
        lines.append("")
    return "\n".join(lines)


def write(profile_name: str, claim_rows: list[dict], path: Path | None = None) -> Path:
    path = path or PATH
    if path.exists():
        raise FileExistsError(f"{path} exists: a registration is written once, before the runs, and never rewritten")
    text = build(profile_name, claim_rows)
    tomllib.loads(text)  # what is written must read back
    path.write_text(text)
    return path
