"""One registry defines every claim; the ledger, the verdicts and the chapters read it."""

import re
from pathlib import Path

import numpy as np
import pytest

from lskd_core import claims
from lskd_core.records import save_verdicts
from lskd_core.notebook import NOTEBOOKS

ROOT = Path(__file__).resolve().parents[1]


def test_ledger_lists_exactly_the_registry(tmp_path):
    from lskd_core.ledger import ledger

    keys = list(ledger(tmp_path, reference=None).key)  # grouped by kind
    assert sorted(keys) == sorted(claims.REGISTRY) and len(keys) == len(claims.REGISTRY)
    for key, spec in claims.REGISTRY.items():
        assert (NOTEBOOKS / f"{spec.chapter}.md").is_file(), key
        assert spec.statement and spec.where


def test_no_notebook_defines_a_claim():
    for nb in NOTEBOOKS.glob("*.md"):
        text = nb.read_text()
        assert not re.search(r"""["']key["']\s*:""", text), f"{nb.name} builds a claim row by hand"
        assert "Claim(" not in text, nb.name
        for key in re.findall(r"""claims\.get\(["'](\w+)["']\)""", text):
            assert key in claims.REGISTRY, (nb.name, key)


def test_every_chapter_claim_is_computed_somewhere():
    for spec in claims.REGISTRY.values():
        if spec.contrast is None and spec.per_seed is None:
            assert spec.chapter == "05_diffusion", spec.key  # eta claims: claims.eta_claims
        text = (NOTEBOOKS / f"{spec.chapter}.md").read_text()
        assert "save_verdicts(" in text, spec.chapter


def test_per_seed_claims_against_hand_computation():
    row = claims.get("larger_alpha_drops_more").evaluate(drop_larger=[5.0, 6.0, 7.0], drop_alpha=[1.0, 1.0, 2.0])
    assert row["key"] == "larger_alpha_drops_more" and row["ours: mean diff"] == round(14 / 3, 3)
    assert row["paper"] == pytest.approx((81.498 - 63.738) - (81.731 - 70.435), abs=1e-3)
    low = claims.get("equal_entropy_low_T").evaluate(ls=[80.0, 81.0], plain=[79.0, 79.5])
    high = claims.get("equal_entropy_high_T").evaluate(ls=[80.0, 81.0], plain=[79.0, 79.5])
    assert low["ours: mean diff"] == pytest.approx(1.25) and high["ours: mean diff"] == pytest.approx(-1.25)
    with pytest.raises(ValueError, match="evaluate_claims"):
        claims.get("ls_helps_at_T1").evaluate(ls=[1.0])


def test_grid_claims_read_the_paper_tables():
    from lskd_core.claims import paper_evidence

    ev = paper_evidence(claims.get("ls_hurts_at_T64").as_claim(), claims.get("ls_hurts_at_T64").tables)
    # 2A-R50 at T=64: 74.291 plain, 74.627 smoothed: the paper's own counter-evidence.
    assert "2A-R50 -0.34" in ev.split("against:")[1]
    assert "2B +6.45" in ev.split("against:")[0]


def test_non_default_runs_never_overwrite_the_ledger(tmp_path, capsys, monkeypatch):
    """The executor decides from the whole run (LSKD_DEFAULTS); a run outside it never writes."""
    import pandas as pd

    from lskd_core import notebook

    table = pd.DataFrame({"key": ["ls_helps_at_T1"], "verdict": ["supported"]})
    defaults = notebook.declared_parameters(notebook.read_notebook(notebook.NOTEBOOKS / "03_student_grid.md"))
    monkeypatch.delenv("LSKD_DEFAULTS", raising=False)
    assert save_verdicts("tiny", table, chapter="03_student_grid", root=tmp_path) is None
    assert "did not come through `lskd run`" in capsys.readouterr().out
    from lskd_core.profiles import get_profile

    # The profile's own seeds, written out, are still its default run; other seeds are not.
    for params, want in ((dict(alphas=[0.0, 0.2]), None), (dict(seeds=list(get_profile("tiny").seeds)), "saved"),
                         (dict(seeds=[0, 1]), None)):
        flag = notebook.runs_with_defaults(defaults, {"profile": "tiny", **params})
        monkeypatch.setenv("LSKD_DEFAULTS", "1" if flag else "0")
        got = save_verdicts("tiny", table, chapter="03_student_grid", root=tmp_path)
        assert (got is not None) == (want == "saved"), params
    assert "non-default" in capsys.readouterr().out


def test_the_floor_under_every_verdict():
    """Issue 27: no page shows verdicts computed from models that learned nothing."""
    assert claims.image_floor(10) == 20.0 and claims.image_floor(200) == 1.0
    ok, words = claims.floor_check({"alpha=0.0, seed 0": 90.1, "alpha=0.1, seed 0": 19.9}, 20.0, "%", "tiny")
    assert not ok and "1 of 2 teachers are below the floor of 20 %" in words and "alpha=0.1, seed 0: 19.90" in words
    ok, words = claims.floor_check({"alpha=0.0, seed 0": 6.4}, claims.TRANSLATION_FLOOR_BLEU, "BLEU", "base")
    assert ok and "lowest 6.40 BLEU" in words
    assert claims.floor_check({}, 20.0, "%", "tiny")[0] is False


def test_a_verdict_table_below_the_floor_shows_no_verdict_and_the_sentence_says_why():
    import pandas as pd

    from lskd_core import experiments as ex
    from lskd_core.claims import floor_check, image_floor

    table = pd.DataFrame([{"key": "ls_hurts_at_T3", "ours: mean diff": 0.4, "95% CI": "[0.1, 0.7]", "verdict": "supported",
                           "p": 0.01}])
    assert ex.floored(table, True).equals(table)
    below = ex.floored(table, False)
    assert list(below.verdict) == ["not run"] and below["95% CI"].isna().all() and below["p"].isna().all()
    above, words = floor_check({"alpha=0.0, seed 0": 11.0, "alpha=0.1, seed 0": 64.0}, image_floor(10), "%", "tiny")
    assert not above and "1 of 2 teachers are below the floor of 20 %" in words and "11.00" in words
