"""Run chapters as plain scripts on a machine without the notebook stack (the lent GPU machine).

    python bench/gpu_chapters.py prepare OUT_DIR           # here: chapters -> JSON (needs jupytext)
    python bench/gpu_chapters.py execute OUT_DIR --profile small [--jobs 9] [--budget-s 540] [STEM ...]

A reference profile's records are what its chapters compute under their
default parameters. ``lskd book`` needs papermill, a kernel and myst-nb; the
GPU machine has torch, pandas and matplotlib but none of those, and nothing can
be installed there. So ``prepare`` writes each chapter's notebook as JSON, and
``execute`` runs its code cells in one namespace per chapter, in a process of
its own, with the profile injected after the cell tagged ``parameters`` (what
papermill does). ``display`` and ``glue`` print; figures are closed unsaved.
The chapters' own code saves the claim and analysis records to the run cache,
from where ``lskd runs export --profile NAME`` copies them to ``results/``.

Chapters that train the same runs wait on the cache's locks, so they may all
start at once. ``--budget-s`` stops the chapters still running at that age
(their finished runs stay in the cache; an unfinished one resumes from its last
checkpoint when this is run again with the cache carried over).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lskd_core.notebook import chapter_environment, chapter_needs, toc_chapters  # noqa: E402


def prepare(out: Path) -> None:
    import jupytext
    import nbformat

    out.mkdir(parents=True, exist_ok=True)
    for md in sorted((ROOT / "notebooks").glob("*.md")):
        (out / f"{md.stem}.json").write_text(nbformat.writes(jupytext.read(md)))
    print(f"wrote {len(list(out.glob('*.json')))} chapters to {out}")


class _Node(dict):
    """What jupytext.read returns, as far as lskd_core reads it: attribute access to a notebook's keys."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


def _node(obj):
    if isinstance(obj, dict):
        return _Node({k: _node(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return [_node(v) for v in obj]
    return obj


def _load(prepared: Path, stem: str) -> _Node:
    """A prepared chapter as jupytext.read gives it: each cell's source one string."""
    nb = json.loads((prepared / f"{stem}.json").read_text())
    for c in nb["cells"]:
        c["source"] = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
    return _node(nb)


def image_chapters(prepared: Path) -> list[str]:
    """The chapters of the book, in its order, that train image runs (those ``prof.require("image")``)."""
    return [s for s in toc_chapters() if "image" in chapter_needs(_load(prepared, s))]


def _stub_modules(prepared: Path) -> None:
    """jupytext (reading the prepared JSON), IPython.display and myst_nb, for what the chapters call."""

    def read(path, *_, **__):
        return _load(prepared, Path(path).stem)

    def show(*objs, **_):
        for o in objs:
            print(o.to_string() if hasattr(o, "to_string") else getattr(o, "data", o), flush=True)

    class Text:
        def __init__(self, data):
            self.data = data

    jt = types.ModuleType("jupytext")
    jt.read = read
    ip, ipd = types.ModuleType("IPython"), types.ModuleType("IPython.display")
    ipd.display, ipd.Markdown, ipd.HTML = show, Text, Text
    # matplotlib asks IPython whether it runs in a shell, and which version it is
    ip.display, ip.get_ipython, ip.version_info = ipd, lambda: None, (9, 0, 0)
    mn = types.ModuleType("myst_nb")
    mn.glue = lambda name, value, display=True: print(f"[glue] {name} = {getattr(value, 'data', value)}")
    for name, mod in (("jupytext", jt), ("IPython", ip), ("IPython.display", ipd), ("myst_nb", mn)):
        sys.modules.setdefault(name, mod)


def run_one(prepared: Path, stem: str, profile: str) -> None:
    _stub_modules(prepared)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = {"__name__": "__main__", "display": sys.modules["IPython.display"].display}
    os.chdir(ROOT / "notebooks")  # as papermill runs a chapter
    nb = _load(prepared, stem)
    os.environ.update(chapter_environment(nb, stem, {"profile": profile}))
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        exec(compile(cell.source, f"<{stem}>", "exec"), ns)
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            ns["profile"] = profile
        plt.close("all")


def execute(prepared: Path, profile: str, stems: list[str], jobs: int | None, budget_s: float) -> int:
    executed = Path(os.environ.get("TMPDIR", "/tmp")) / "lskd-executed"
    executed.mkdir(parents=True, exist_ok=True)
    # Only the profile is set: every other parameter keeps its default, so the records may be saved.
    env = {**os.environ, "LSKD_PROGRESS": "0", "PYTHONUNBUFFERED": "1", "LSKD_EXECUTED_DIR": str(executed)}
    prepared = prepared.resolve()  # each chapter runs in notebooks/
    stems = stems or image_chapters(prepared)
    jobs = jobs or len(stems)
    t0, pending, running, results = time.time(), list(stems), {}, {}
    while pending or running:
        while pending and len(running) < jobs:
            stem = pending.pop(0)
            log = open(executed.with_name(f"lskd-{stem}.log"), "w")
            running[stem] = (subprocess.Popen([sys.executable, __file__, "_one", str(prepared), stem, profile],
                                              env=env, stdout=log, stderr=subprocess.STDOUT), log, time.time())
            print(f"[{time.time() - t0:6.0f} s] start {stem}", flush=True)
        for stem, (proc, log, started) in list(running.items()):
            if proc.poll() is None and time.time() - t0 > budget_s:
                proc.send_signal(signal.SIGINT)  # like Ctrl-C: an unfinished run keeps its last checkpoint
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.poll() is not None:
                log.close()
                results[stem] = (proc.returncode, time.time() - started)
                print(f"[{time.time() - t0:6.0f} s] end {stem}: rc {proc.returncode} after "
                      f"{results[stem][1]:.0f} s", flush=True)
                del running[stem]
        time.sleep(1)
    (executed.parent / "lskd-chapters.json").write_text(json.dumps(results, indent=1))
    return 0 if all(rc == 0 for rc, _ in results.values()) else 1


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_one":
        run_one(Path(argv[1]), argv[2], argv[3])
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["prepare", "execute"])
    p.add_argument("prepared", type=Path)
    p.add_argument("stems", nargs="*", help="default: every chapter that trains image runs")
    p.add_argument("--profile", default="small")
    p.add_argument("--jobs", type=int, help="chapters at once (default: all of them)")
    p.add_argument("--budget-s", type=float, default=float("inf"))
    a = p.parse_args(argv)
    if a.action == "prepare":
        prepare(a.prepared)
        return 0
    return execute(a.prepared, a.profile, a.stems, a.jobs, a.budget_s)


if __name__ == "__main__":
    sys.exit(main())
