"""Where things are in the repository: the one place that knows its layout."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
# Committed records of the reference profiles: claim verdicts, analysis tables, run metrics, translation.
RESULTS = ROOT / "results"
NMT_RESULTS = RESULTS / "nmt"
MANIFESTS = ROOT / "data_manifests"
LEXICONS = MANIFESTS / "lexicons"
NOTEBOOKS = ROOT / "notebooks"
EXECUTED = ROOT / "book" / "executed"
TOC = ROOT / "_toc.yml"
DEFAULT_CACHE = ROOT / "runs"
