"""The one record store: what chapters compute, kept per profile so that other chapters, the
ledger and readers on other machines can see it. Three kinds, each saved, loaded and exported here:
analysis tables (``save``, ``load``, ``reference``), verdict records (``save_verdicts``,
``load_verdicts``, read by ``lskd_core.ledger``) and translation grids (``save_translation``,
``load_translation``, under ``results/nmt``).

A chapter run under its declared default parameters (any profile) saves its
tables with ``save``. They go to ``<cache>/records/<profile>/<chapter>.json``;
``lskd runs export`` copies them, with the metrics of every run they rest on,
to ``results/records/``, where they are committed. ``reference`` and
``show_reference`` then put those records beside the live run in every chapter.

A run with other parameters (another alpha, fewer seeds) never overwrites a
record: what a record says must be what the chapter's defaults compute.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .cache import Run, cache_root
from .io import atomic_write_json
from . import tables
from .paths import NMT_RESULTS, RESULTS


# What the executor (``lskd run``, ``lskd book``) tells a chapter's kernel about the run, so that no
# record step has to re-read the chapter: its name, whether every parameter has its declared
# default, and those defaults.
CHAPTER_ENV, DEFAULTS_ENV, CHAPTER_DEFAULTS_ENV = "LSKD_CHAPTER", "LSKD_DEFAULTS", "LSKD_CHAPTER_DEFAULTS"
# What the chapter needs of its profile ("image", "translation"), from its front matter (``lskd: needs:``).
CHAPTER_NEEDS_ENV = "LSKD_CHAPTER_NEEDS"


def is_default() -> bool:
    """True when the executor ran this chapter with every parameter at its declared default (any
    profile; seeds may be the profile's own). It compared *every* parameter of the run, so no
    chapter can record a non-default run by forgetting a parameter (issue 28, item 5).
    A run that did not come through the executor (plain papermill) never counts as default."""
    return os.environ.get(DEFAULTS_ENV) == "1"


def current_chapter(chapter: str | None = None) -> str:
    """The running chapter's name: ``chapter`` when given (tests), else what the executor set."""
    name = chapter or os.environ.get(CHAPTER_ENV)
    if not name:
        raise RuntimeError(f"no chapter name: run the chapter through `lskd run` or `lskd book` "
                           f"(they set {CHAPTER_ENV}), or pass chapter=")
    return name


def chapter_defaults() -> dict[str, Any]:
    """The running chapter's declared parameters, as the executor passed them ({} outside it)."""
    try:
        return json.loads(os.environ.get(CHAPTER_DEFAULTS_ENV, "{}"))
    except ValueError:
        return {}


def not_default_reason() -> str:
    if os.environ.get(DEFAULTS_ENV) is None:
        return "this run did not come through `lskd run` or `lskd book`, which check it against the chapter's defaults"
    return "it ran with non-default parameters; the committed records describe the defaults only"


def _norm(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    return v


def _jsonable(df: pd.DataFrame) -> list[dict]:
    flat = df.reset_index() if not isinstance(df.index, pd.RangeIndex) else df
    flat.columns = [" / ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in flat.columns]
    return json.loads(flat.to_json(orient="records", double_precision=6))


def save(profile: str, tables: dict[str, pd.DataFrame], runs: Iterable[str], *, chapter: str | None = None,
         root: Path | None = None) -> Path | None:
    """Store the running chapter's tables for ``profile`` when the executor ran it with its defaults.

    The record's parameters are those defaults, as the executor passed them. Returns the path
    written, or None (with the reason printed) when nothing was saved.
    """
    if not is_default():
        print(f"(records not saved: {not_default_reason()})")
        return None
    from .prereg import stamp

    chapter = current_chapter(chapter)
    path = (root or cache_root()) / "records" / profile / f"{chapter}.json"
    body = {**stamp(profile), "chapter": chapter, "profile": profile, "params": chapter_defaults(),
            "tables": {name: _jsonable(df) for name, df in tables.items()}, "runs": sorted(set(runs)),
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    try:
        atomic_write_json(path, body)
    except OSError as exc:  # a shared, read-only cache is still readable
        print(f"(records not saved: {path.parent} is not writable: {exc.strerror})")
        return None
    return path


def load(chapter: str, profile: str, root: Path | None = None) -> dict | None:
    path = (root or cache_root()) / "records" / profile / f"{chapter}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def reference(chapter: str, exclude: Iterable[str] = (), base: Path = RESULTS) -> dict[str, dict]:
    """Committed records of ``chapter`` per profile (``results/records/<profile>/<chapter>.json``)."""
    out = {}
    for path in sorted((base / "records").glob(f"*/{chapter}.json")):
        rec = json.loads(path.read_text())
        if rec["profile"] not in set(exclude):
            out[rec["profile"]] = rec
    return out


def table(record: dict, name: str) -> pd.DataFrame:
    return pd.DataFrame(record["tables"].get(name, []))


def provenance(record: dict, base: Path = RESULTS) -> dict[str, Any]:
    """Seeds, hardware, torch and total wall time of the runs a committed record rests on."""
    seeds, hardware, torch_v, walls, n = set(), set(), set(), {}, 0
    for name in record["runs"]:
        p = base / "runs" / f"{name}.json"
        if not p.is_file():
            continue
        m = json.loads(p.read_text())["metrics"]
        n += 1
        seeds.add(m.get("seed"))
        hw = m.get("hardware", {})
        hardware.add(f"{hw.get('device', '?')} {hw.get('gpu', hw.get('cpu', ''))} x{hw.get('cpu_threads', '?')} threads")
        torch_v.add(hw.get("torch", "?"))
        # The students of one sweep train together and share its wall time: count it once.
        sweep = (m.get("teacher_run"), m.get("seed"), m.get("kd_from_epoch"), m.get("feature_weight"),
                 m.get("wall_time_s")) if m.get("kind") == "student" else name
        walls[sweep] = float(m.get("wall_time_s", 0.0))
    wall = sum(walls.values())
    return {"runs": n, "seeds": sorted(s for s in seeds if s is not None), "hardware": ", ".join(sorted(hardware)),
            "torch": ", ".join(sorted(torch_v)), "train_wall_s": round(wall, 1)}


def show_reference(live_profile: str, names: Iterable[str] | None = None, *, chapter: str | None = None,
                   base: Path = RESULTS, max_rows: int = 40) -> None:
    """Display the committed records of ``chapter`` for every profile but the live one.

    Each comes with its provenance, then the named tables (all by default);
    tables longer than ``max_rows`` are named with their file instead.
    """
    from IPython.display import Markdown, display

    chapter = current_chapter(chapter)
    refs = reference(chapter, exclude=[live_profile], base=base)
    if not refs:
        display(Markdown(f"*No committed reference records for this chapter besides the live `{live_profile}` run.*"))
        return
    defaults = chapter_defaults()
    for prof, rec in refs.items():
        pv = provenance(rec, base)
        # Defaults change (classes chosen from WordNet since 2026-11-23): a record says what it ran with.
        changed = {k: v for k, v in rec.get("params", {}).items()
                   if k in defaults and k != "seeds" and _norm(v) != _norm(defaults[k])}
        since = ("; recorded with " + ", ".join(f"`{k}={v!r}`" for k, v in changed.items()) +
                 " (the chapter's defaults have changed since)") if changed else ""
        display(Markdown(f"**Reference: profile `{prof}`** ({pv['runs']} runs, seeds {pv['seeds']}, "
                         f"{pv['hardware']}, torch {pv['torch']}, {pv['train_wall_s'] / 60:.1f} min of training in these runs; "
                         f"recorded {rec['written_at'][:10]}{since})"))
        if rec.get("note"):
            display(Markdown(f"*{rec['note']}*"))
        for name in (names if names is not None else rec["tables"]):
            if name not in rec["tables"]:
                continue
            df = table(rec, name)
            if len(df) > max_rows:  # raw per-seed tables stay in the file; the summaries are shown
                display(Markdown(f"*{name}* (`{prof}`): {len(df)} rows in "
                                 f"`results/records/{prof}/{chapter}.json`"))
                continue
            display(Markdown(f"*{name}* (`{prof}`)"))
            display(tables.verdicts(df) if "verdict" in df.columns and "ours: mean diff" in df.columns
                    else tables.show(df))


# ---------------------------------------------------------------- verdict records
# A chapter's verdict rows, per profile, in ``<cache>/claims/<profile>/<chapter>.json``; the ledger
# (``lskd_core.ledger``) reads them, with the committed ones under ``results/claims``.

def _claims_dir(profile: str, root: Path | None = None) -> Path:
    return (root or cache_root()) / "claims" / profile


def save_verdicts(profile: str, table: pd.DataFrame, runs: Iterable[str] = (), *, chapter: str | None = None,
                  root: Path | None = None, source: str | None = None) -> Path | None:
    """Store a chapter's verdict rows (they need a ``key`` column) as a claim record.

    ``source`` names the committed rows the verdicts were computed from when this build trained
    none of them (a reference translation grid), so that the ledger does not call them this build's.

    Only a run the executor found to have every parameter at its declared default is saved
    (``records.is_default``): a claim's verdict is recorded only under the claim's own
    conditions, so no exploratory run overwrites the ledger.
    """
    if not is_default():
        print(f"(verdicts not saved to the ledger: {not_default_reason()})")
        return None
    if "key" not in table.columns:
        raise ValueError("a verdict table needs a 'key' column naming each claim")
    from .claims import REGISTRY

    unknown = sorted(set(table.key) - set(REGISTRY))
    if unknown:
        raise ValueError(f"claims {unknown} are not in lskd_core.claims.REGISTRY")
    cols = ["key", "ours: mean diff", "95% CI", "n seeds", "verdict", "p", "detectable", "expected", "margin",
            "p (TOST)", "paper evidence"]
    # A column some rows lack (no registered expectation, no paper evidence) holds NaN there: stored as
    # null, because NaN is not JSON and strict readers refuse the file.
    rows = [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()}
            for r in table[[c for c in cols if c in table.columns]].to_dict(orient="records")]
    chapter = current_chapter(chapter)
    path = _claims_dir(profile, root) / f"{chapter}.json"
    try:
        from .prereg import stamp

        atomic_write_json(path, {"chapter": chapter, "profile": profile, "rows": rows, "runs": sorted(runs),
                                 "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **stamp(profile),
                                 **({"source": source} if source else {})})
    except OSError as exc:  # a shared, read-only cache: the chapter still runs and shows its verdicts
        print(f"(verdicts not saved to the ledger: {path.parent} is not writable: {exc.strerror})")
        return None
    return path


def _read(base: Path, origin: str) -> list[dict]:
    return [{**json.loads(p.read_text()), "origin": origin} for p in sorted(base.glob("*/*.json"))]


def load_verdicts(root: Path | None = None, reference: Path | None = RESULTS) -> list[dict]:
    """Claim records of the run cache, then the committed reference records for anything the cache lacks."""
    base = (root or cache_root()) / "claims"
    local = _read(base, "cache") if base.is_dir() else []
    have = {(r["profile"], r["chapter"]) for r in local}
    ref = [r for r in (_read(reference / "claims", "reference") if reference and (reference / "claims").is_dir() else [])
           if (r["profile"], r["chapter"]) not in have]
    return local + ref


def archived(root: Path | None = None, reference: Path | None = RESULTS) -> list[str]:
    """Names of claim records that are no profile: former references kept beside their successor
    (``base_2026_11``, the testbed where distillation did not help), each with its note."""
    from .profiles import PROFILES

    return sorted({r["profile"] for r in load_verdicts(root, reference)} - set(PROFILES))


def export_reference(profile: str, dest: Path = RESULTS, root: Path | None = None) -> list[Path]:
    """Copy a profile's claim and analysis records, and the config and metrics of every run they name, to ``dest``.

    Weights stay behind: the records are evidence to read, not models to load.
    """
    written = []
    claims = [{k: v for k, v in r.items() if k != "origin"} for r in load_verdicts(root, reference=None)
              if r["profile"] == profile]
    tables = [json.loads(p.read_text()) for p in sorted(((root or cache_root()) / "records" / profile).glob("*.json"))]
    for kind, recs in (("claims", claims), ("records", tables)):
        for rec in recs:
            for name in rec["runs"]:
                run = Run((root or cache_root()) / name)
                if not run.done:
                    raise FileNotFoundError(f"{kind} record {rec['chapter']} names run {name}, which is not in the cache")
                atomic_write_json(dest / "runs" / f"{name}.json", {"config": run.config(), "metrics": run.metrics()})
            path = dest / kind / profile / f"{rec['chapter']}.json"
            atomic_write_json(path, rec)
            written.append(path)
    return written


# ---------------------------------------------------------------- translation grids
# A translation grid's rows with its configuration and provenance, ``results/nmt/<profile>.json``.

def translation_path(profile: str, root: Path = NMT_RESULTS) -> Path:
    """Where a profile's translation grid record lives: ``root/<profile>.json``."""
    return Path(root) / f"{profile}.json"


def save_translation(profile: str, body: dict, dest: Path = NMT_RESULTS) -> Path:
    """Write a translation grid's record (``nmt.pipeline.reference_body``) to ``dest/<profile>.json``."""
    out = translation_path(profile, dest)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, {"profile": profile, **body})
    return out


def load_translation(profile: str, root: Path = NMT_RESULTS) -> dict | None:
    """The committed translation grid of ``profile``, or None when there is none."""
    p = translation_path(profile, root)
    return json.loads(p.read_text()) if p.is_file() else None
