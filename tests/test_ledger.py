"""The claims ledger is built from claim records, and follows them when they change."""

import pandas as pd
import pytest

from lskd_core.ledger import PAPER_CLAIMS, ledger, load_records, save_verdicts


def _table(verdict, mean):
    return pd.DataFrame([{"key": "ls_hurts_at_T3", "claim": "text", "ours: mean diff": mean, "95% CI": "[0.1, 0.2]",
                          "n seeds": 3, "verdict": verdict}])


def test_ledger_follows_the_records(tmp_path):
    empty = ledger(tmp_path)
    assert len(empty) == len(PAPER_CLAIMS) and list(empty.columns) == ["claim", "paper evidence", "chapter"]
    save_verdicts("03_student_grid", "tiny", _table("supported", 1.5), ["student-a", "student-b"], root=tmp_path)
    a = ledger(tmp_path).set_index("chapter")
    row = a.loc["03_student_grid"]
    hurt = row[row.claim.str.startswith("At T=3")].iloc[0]
    assert hurt["tiny: verdict"] == "supported" and "1.5" in hurt["tiny: ours"]
    assert (row[~row.claim.str.startswith("At T=3")]["tiny: verdict"] == "not run").all()
    # A changed record changes the ledger; a second profile adds columns.
    save_verdicts("03_student_grid", "tiny", _table("inconclusive", -0.2), ["student-a"], root=tmp_path)
    save_verdicts("03_student_grid", "small", _table("supported", 2.0), ["student-c"], root=tmp_path)
    b = ledger(tmp_path)
    hurt_b = b[b.claim.str.startswith("At T=3")].iloc[0]
    assert hurt_b["tiny: verdict"] == "inconclusive" and "-0.2" in hurt_b["tiny: ours"]
    assert hurt_b["small: verdict"] == "supported"
    assert {r["profile"] for r in load_records(tmp_path)} == {"tiny", "small"}


def test_unknown_claim_keys_are_refused(tmp_path):
    bad = _table("supported", 1.0).assign(key="made_up")
    with pytest.raises(ValueError, match="made_up"):
        save_verdicts("03_student_grid", "tiny", bad, root=tmp_path)
    with pytest.raises(ValueError, match="key"):
        save_verdicts("03_student_grid", "tiny", bad.drop(columns="key"), root=tmp_path)


def test_smoke_records_stay_out_of_the_ledger(tmp_path):
    save_verdicts("03_student_grid", "smoke", _table("supported", 9.0), root=tmp_path)
    assert not any(c.startswith("smoke") for c in ledger(tmp_path).columns)
    assert any(c.startswith("smoke") for c in ledger(tmp_path, exclude=()).columns)
