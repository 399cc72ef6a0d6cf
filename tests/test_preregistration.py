"""The pre-registration (results/preregistration.toml) and the records it binds."""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict

import pytest

from lskd_core import claims, prereg, testbed
from lskd_core.paths import RESULTS, ROOT
from lskd_core.profiles import PROFILES

REG = prereg.load()



def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


def test_the_registration_names_the_profile_testbed_and_seeds_it_was_written_for():
    assert REG is not None, "results/preregistration.toml is missing"
    prof = PROFILES[REG["testbed"]["profile"]]
    assert REG["testbed"]["candidate"] == prof.testbed
    assert REG["testbed"]["seeds"] == list(prof.seeds) and len(prof.seeds) >= 10
    assert REG["testbed"]["config_digest"] == prereg.config_digest(prof)
    # The profile trains exactly what the search measured for the candidate it names.
    cand = testbed.load()["candidates"][prof.testbed]
    for role, cfg in (("teacher", prof.teacher), ("student", prof.student)):
        got = asdict(cfg)
        assert {k: got[k] for k in cand[role]} == cand[role], role


def test_the_registered_commit_precedes_the_registration_and_exists():
    commit = REG["code"]["commit"]
    assert _git("cat-file", "-e", f"{commit}^{{commit}}").returncode == 0, commit
    added = _git("log", "--diff-filter=A", "--format=%H", "--", "results/preregistration.toml").stdout.split()
    assert added, "the registration is not committed"
    assert _git("merge-base", "--is-ancestor", commit, added[-1]).returncode == 0


def test_expected_effects_come_only_from_the_paper_and_plain_teacher_students():
    cand = testbed.load()["candidates"][REG["testbed"]["candidate"]]
    assert REG["rule"]["plain_kd_t1"] == pytest.approx(testbed.plain_kd_t1(cand), abs=1e-3)
    for key, entry in REG["claims"].items():
        fresh = claims.expectation(key, REG["rule"]["plain_kd_t1"], REG["testbed"]["profile"], registered=False)
        if fresh["expected"] is None:
            assert "expected" not in entry, key
        else:  # the registry's rule, recomputed now, gives the registered number
            assert entry["expected"] == pytest.approx(fresh["expected"], abs=1e-3), key
            assert entry["margin"] == pytest.approx(entry["expected"]), key


def _records(kind: str):
    prof = REG["testbed"]["profile"]
    return [json.loads(p.read_text()) for p in sorted((RESULTS / kind / prof).glob("*.json"))]


def test_every_committed_record_of_the_profile_was_made_with_the_registered_configuration_and_code():
    recs = _records("claims") + _records("records")
    assert recs, "no committed records for the registered profile"
    added = _git("log", "--diff-filter=A", "--format=%H", "--", "results/preregistration.toml").stdout.split()[-1]
    for rec in recs:
        name = f"{rec['profile']}/{rec['chapter']}"
        assert rec.get("config_digest") == REG["testbed"]["config_digest"], name
        assert rec.get("git_commit") and not rec.get("git_dirty"), name
        # Made by code at or after the registration: the registering commit is an ancestor of the record's.
        assert _git("merge-base", "--is-ancestor", added, rec["git_commit"]).returncode == 0, name
        # ... whose training code (what the run keys hash) is the registered code.
        from lskd_core.cache import SOURCES

        diff = _git("diff", "--name-only", REG["code"]["commit"], rec["git_commit"], "--", *SOURCES["image"])
        assert diff.returncode == 0 and diff.stdout.strip() == "", (name, diff.stdout)


def test_the_records_use_the_registered_expectations_and_the_gate_and_grid_are_powered():
    rows = {r["key"]: r for rec in _records("claims") for r in rec["rows"]}
    for key, entry in REG["claims"].items():
        if key in rows and "expected" in entry:
            assert rows[key]["expected"] == pytest.approx(entry["expected"], abs=1e-3), key
            assert rows[key]["margin"] == pytest.approx(entry["margin"], abs=1e-3), key
    for key in ("kd_beats_ce_T1", "kd_beats_ce_T3", "ls_helps_at_T1", "ls_hurts_at_T3", "ls_drops_more_T1_to_T3"):
        assert rows[key]["n seeds"] >= 10, key
        assert rows[key]["detectable"] is not None, key


def test_registered_numbers_override_the_rule_and_an_unregistered_profile_uses_the_rule(tmp_path, monkeypatch):
    path = tmp_path / "prereg.toml"
    path.write_text('[testbed]\nprofile = "base"\n[claims.ls_hurts_at_T3]\nexpected = 0.5\nmargin = 0.5\n'
                    'rule = "r"\n')
    monkeypatch.setattr(prereg, "PATH", path)
    assert claims.expectation("ls_hurts_at_T3", 80.0, "base") == {"expected": 0.5, "margin": 0.5, "rule": "r"}
    # Another profile: the rule, from the paper's tables scaled by error rates (closed form below).
    from lskd_core.paper import top1

    e = claims.expectation("ls_hurts_at_T3", 80.0, "tiny")
    want = []
    for tab in claims.get("ls_hurts_at_T3").tables:
        d = claims.get("ls_hurts_at_T3").contrast(lambda a, t, _t=tab: top1(_t, a, t))
        if d is not None and top1(tab, 0.0, 1) is not None:
            want.append(d * 20.0 / (100 - top1(tab, 0.0, 1)))
    assert e["expected"] == pytest.approx(sum(want) / len(want)) and e["margin"] == e["expected"]


def test_a_registration_is_never_rewritten(tmp_path):
    path = tmp_path / "prereg.toml"
    path.write_text("[testbed]\n")
    with pytest.raises(FileExistsError):
        prereg.write("base", [], path)
    assert path.read_text() == "[testbed]\n"


def test_every_profile_that_names_a_testbed_trains_what_the_search_measured_and_passes_its_gate():
    doc = testbed.load()
    named = {n: p for n, p in PROFILES.items() if p.testbed}
    assert {"tiny", "base"} <= set(named)
    for name, prof in named.items():
        cand = doc["candidates"][prof.testbed]
        for role, cfg in (("teacher", prof.teacher), ("student", prof.student)):
            got = asdict(cfg)
            assert {k: got[k] for k in cand[role]} == cand[role], (name, role)
        assert testbed.meets(cand, doc["criteria"])["ci"] and cand["summary"]["n_seeds"] >= 5, name
    assert testbed.pick(doc)[0] == PROFILES["base"].testbed
    assert testbed.pick_tiny(doc)[0] == PROFILES["tiny"].testbed


def test_the_tiny_rule_ranks_by_side_by_side_times_only_once_every_eligible_candidate_has_one():
    crit = {"min_seeds": 5, "tiny": "rule", "tiny_timing": "rule", "kd_gain_min_points": 1.0,
            "teacher_gap_min_points": 3.0, "plateau_tolerance_points": 0.5}
    gain = {"mean": 1.0, "ci95": [0.5, 1.5]}

    def entry(per_seed, timing=None, n=5, lo=0.5):
        e = {"summary": {"n_seeds": n, "train_s_per_seed": per_seed, "teacher_gap": 2.0, "gain_kd_T1": gain,
                         "gain_kd_T3": {"mean": 1.0, "ci95": [lo, 1.5]}}}
        if timing is not None:
            e["timing"] = {"per_seed_s": timing, "at": "2026-12-02T10:00:00", "with": ["tiny_a", "tiny_b"]}
        return e

    doc = {"criteria": crit, "candidates": {"tiny_a": entry(100.0), "tiny_b": entry(300.0),
                                            "tiny_c": entry(10.0, lo=-0.1), "tiny_d": entry(5.0, n=3)}}
    name, why = testbed.pick_tiny(doc)
    assert name is None and "tiny_a tiny_b" in why  # c's interval crosses zero, d has 3 seeds: neither counts
    # Timed side by side, b is the cheaper, whatever the contended times said.
    doc["candidates"]["tiny_a"] = entry(100.0, timing=90.0)
    doc["candidates"]["tiny_b"] = entry(300.0, timing=60.0)
    assert testbed.pick_tiny(doc)[0] == "tiny_b"
    # A timing from another session does not compare.
    doc["candidates"]["tiny_b"]["timing"]["at"] = "2026-12-03T10:00:00"
    assert testbed.pick_tiny(doc)[0] is None
