"""The claims ledger is built from claim records, and follows them when they change."""

import pandas as pd
import pytest

from lskd_core.claims import REGISTRY
from lskd_core.ledger import ledger
from lskd_core.records import export_reference, load_verdicts, save_verdicts


@pytest.fixture(autouse=True)
def _as_a_default_run(monkeypatch):
    """These tests write records as a chapter run with its defaults does (the executor sets this)."""
    monkeypatch.setenv("LSKD_DEFAULTS", "1")


def _table(verdict, mean):
    return pd.DataFrame([{"key": "ls_hurts_at_T3", "claim": "text", "ours: mean diff": mean, "95% CI": "[0.1, 0.2]",
                          "n seeds": 3, "verdict": verdict}])


def test_ledger_follows_the_records(tmp_path):
    empty = ledger(tmp_path, reference=None)
    assert len(empty) == len(REGISTRY) and list(empty.columns) == ["key", "kind", "claim", "paper evidence", "chapter"]
    assert empty.kind.iloc[0] == "book" and empty.key.iloc[0] == "kd_beats_ce_T1"  # the gate comes first
    save_verdicts("tiny", _table("supported", 1.5), ["student-a", "student-b"], chapter="03_student_grid", root=tmp_path)
    a = ledger(tmp_path, reference=None).set_index("chapter")
    row = a.loc["03_student_grid"]
    hurt = row[row.claim.str.startswith("At T=3")].iloc[0]
    assert hurt["tiny: verdict"] == "supported" and "1.5" in hurt["tiny: ours"]
    assert (row[~row.claim.str.startswith("At T=3")]["tiny: verdict"] == "not run").all()
    # A changed record changes the ledger; a second profile adds columns.
    save_verdicts("tiny", _table("inconclusive", -0.2), ["student-a"], chapter="03_student_grid", root=tmp_path)
    save_verdicts("small", _table("supported", 2.0), ["student-c"], chapter="03_student_grid", root=tmp_path)
    b = ledger(tmp_path, reference=None)
    hurt_b = b[b.claim.str.startswith("At T=3")].iloc[0]
    assert hurt_b["tiny: verdict"] == "inconclusive" and "-0.2" in hurt_b["tiny: ours"]
    assert hurt_b["small: verdict"] == "supported"
    assert {r["profile"] for r in load_verdicts(tmp_path, reference=None)} == {"tiny", "small"}


def test_unknown_claim_keys_are_refused(tmp_path):
    bad = _table("supported", 1.0).assign(key="made_up")
    with pytest.raises(ValueError, match="made_up"):
        save_verdicts("tiny", bad, chapter="03_student_grid", root=tmp_path)
    with pytest.raises(ValueError, match="key"):
        save_verdicts("tiny", bad.drop(columns="key"), chapter="03_student_grid", root=tmp_path)


def test_smoke_records_stay_out_of_the_ledger(tmp_path, reference=None):
    save_verdicts("smoke", _table("supported", 9.0), chapter="03_student_grid", root=tmp_path)
    assert not any(c.startswith("smoke") for c in ledger(tmp_path, reference=None).columns)
    assert any(c.startswith("smoke") for c in ledger(tmp_path, exclude=(), reference=None).columns)


def test_reference_records_fill_in_for_a_missing_profile(tmp_path):
    import json

    from lskd_core.cache import finish_run, Run

    cache = tmp_path / "cache"
    run = Run(cache / "student-x")
    finish_run(run, {"arch": "resnet_s"}, {"kind": "student", "final_top1": 91.0, "hardware": {"device": "cuda"}}, {})
    save_verdicts("small", _table("supported", 2.0), ["student-x"], chapter="03_student_grid", root=cache)
    ref = tmp_path / "results"
    written = export_reference("small", ref, root=cache)
    assert [p.name for p in written] == ["03_student_grid.json"]
    assert json.loads((ref / "runs" / "student-x.json").read_text())["metrics"]["final_top1"] == 91.0
    # A fresh cache has no record of its own: the reference one is shown, and marked.
    fresh = tmp_path / "fresh"
    row = ledger(fresh, reference=ref).set_index("chapter").loc["03_student_grid"]
    hurt = row[row.claim.str.startswith("At T=3")].iloc[0]
    assert hurt["small: verdict"] == "supported" and "[reference record]" in hurt["small: ours"]
    # A record in the cache wins over the reference for the same profile and chapter.
    save_verdicts("small", _table("inconclusive", -1.0), ["student-x"], chapter="03_student_grid", root=fresh)
    row = ledger(fresh, reference=ref).set_index("chapter").loc["03_student_grid"]
    assert row[row.claim.str.startswith("At T=3")].iloc[0]["small: verdict"] == "inconclusive"
    # A record that names a run missing from the cache cannot be exported.
    save_verdicts("small", _table("supported", 2.0), ["student-gone"], chapter="03_student_grid", root=cache)
    with pytest.raises(FileNotFoundError, match="student-gone"):
        export_reference("small", tmp_path / "other", root=cache)


def test_final_top1_keeps_every_temperature_apart(tmp_path):
    from lskd_core.cache import Run, finish_run
    from lskd_core.experiments import final_top1

    runs = {}
    for (a, s, t), acc in {(0.0, 0, 1.0): 70.0, (0.0, 0, 3.0): 60.0, (0.0, 1, 1.0): 71.0, (0.1, 0, 1.0): 65.0}.items():
        run = Run(tmp_path / f"student-{a}-{s}-{t}")
        finish_run(run, {}, {"final_top1": acc}, {})
        runs.setdefault(a, {})[(s, t)] = run
    assert final_top1(runs) == {(0.0, 1.0): {0: 70.0, 1: 71.0}, (0.0, 3.0): {0: 60.0}, (0.1, 1.0): {0: 65.0}}


def _strict(text):
    import json

    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_a_row_without_an_expected_size_is_stored_as_null_and_every_committed_json_is_strict(tmp_path):
    """A verdict table where one claim has a registered size and another none held NaN for the second,
    which was written as the bare word NaN: not JSON. It is null now, and no file under results/ has one."""
    from pathlib import Path

    from lskd_core.paths import RESULTS

    table = pd.concat([_table("supported", 1.5).assign(expected=1.2),
                       _table("inconclusive", 0.1).assign(key="ls_hurts_at_T64", expected=float("nan"))])
    path = save_verdicts("tiny", table, chapter="03_student_grid", root=tmp_path)
    rows = _strict(Path(path).read_text())["rows"]
    assert [r["expected"] for r in rows] == [1.2, None]
    files = sorted(Path(RESULTS).rglob("*.json"))
    assert len(files) > 100
    for f in files:
        _strict(f.read_text())


def test_holm_adjusts_within_the_registered_families_so_the_gate_is_not_diluted_by_the_papers_claims(tmp_path):
    from lskd_core.claims import KINDS
    from lskd_core.ledger import HOLM_FAMILIES, profile_summary

    assert sorted(k for fam in HOLM_FAMILIES.values() for k in fam) == sorted(KINDS)
    # The gate at p = 0.004 and 0.006; twenty paper claims at p = 0.5. One family of 22 would need
    # p < 0.05 / 22 = 0.0023 for the first step and reject nothing; the book's family of two rejects both.
    gate = pd.DataFrame([{"key": k, "claim": "gate", "ours: mean diff": 1.0, "95% CI": "[0.5, 1.5]", "n seeds": 5,
                          "verdict": "supported", "p": p} for k, p in (("kd_beats_ce_T1", 0.004), ("kd_beats_ce_T3", 0.006))])
    paper = [k for k, spec in REGISTRY.items() if spec.kind != "book"][:20]
    rest = pd.DataFrame([{"key": k, "claim": "c", "ours: mean diff": 0.1, "95% CI": "[-0.5, 0.7]", "n seeds": 5,
                          "verdict": "inconclusive", "p": 0.5} for k in paper])
    save_verdicts("tiny", pd.concat([gate, rest], ignore_index=True), chapter="03_student_grid", root=tmp_path)
    table = ledger(tmp_path, reference=None).set_index("key")
    assert table.loc["kd_beats_ce_T1", "tiny: Holm"] == "supported"
    assert table.loc["kd_beats_ce_T3", "tiny: Holm"] == "supported"
    assert (table.loc[paper, "tiny: Holm"] == "inconclusive").all()
    words = profile_summary(table.reset_index())
    assert "the gate passes" in words and "20 of 20 inconclusive" in words


def test_the_front_page_counts_one_seed_rows_as_untested_not_as_verdicts(tmp_path):
    from lskd_core.ledger import profile_summary

    one = pd.DataFrame([{"key": k, "claim": "c", "ours: mean diff": -0.2, "95% CI": "n/a (1 seed)", "n seeds": 1,
                         "verdict": "inconclusive"} for k in ("nmt_ls_helps_at_T1", "nmt_ls_drops_more_T1_to_T3")])
    save_verdicts("tiny", one, chapter="11_translation", root=tmp_path)
    words = profile_summary(ledger(tmp_path, reference=None))
    assert "effect: none; 2 of 2 untested (one seed: run more seeds)." in words and "0 of 2 inconclusive" not in words


def test_verdicts_computed_here_from_a_committed_grid_are_not_called_this_builds(tmp_path):
    from lskd_core.ledger import profile_summary

    rows = pd.DataFrame([{"key": "nmt_high_T_hurts", "claim": "c", "ours: mean diff": 2.9, "95% CI": "[1.7, 4.2]",
                          "n seeds": 3, "verdict": "supported", "p": 0.01}])
    save_verdicts("base", rows, chapter="11_translation", root=tmp_path, source="results/nmt/base.json")
    save_verdicts("tiny", rows, chapter="11_translation", root=tmp_path)
    table = ledger(tmp_path, reference=None)
    assert table.set_index("key").loc["nmt_high_T_hurts", "base: ours"].endswith("[from results/nmt/base.json]")
    words = profile_summary(table)
    assert "**`base`, translation** (its committed grid, verdicts computed in this build)" in words
    assert "**`tiny`, translation** (this build)" in words


def test_a_gate_that_passes_at_one_temperature_only_says_so():
    from lskd_core.claims import gate_sentence

    rows = [{"key": "kd_beats_no_kd_T1", "ours: mean diff": 0.62, "95% CI": "[0.198, 1.047]", "n seeds": 3,
             "verdict": "supported"},
            {"key": "kd_beats_no_kd_T3", "ours: mean diff": -1.2, "95% CI": "[-2.521, 0.124]", "n seeds": 3,
             "verdict": "inconclusive"}]
    words = gate_sentence(rows, "base", unit="BLEU", alone="the labels alone")
    assert "beats the student trained with the labels alone at T = 1: +0.62 BLEU" in words
    assert "but is not shown to beat it at T = 3: -1.20 BLEU" in words and "passes only at the first" in words
    assert "passes, so" not in gate_sentence(rows[1:], "base") and "passes, so" in gate_sentence(rows[:1], "base")
    # An interval wholly below zero says more than "not shown": distillation does worse there.
    worse = [rows[0], {**rows[1], "ours: mean diff": -1.08, "95% CI": "[-1.622, -0.545]", "verdict": "not supported"}]
    words = gate_sentence(worse, "base", unit="BLEU", alone="the labels alone")
    assert "but does worse than it at T = 3: -1.08 BLEU" in words and "not shown" not in words
