"""The course pack: the book in two editions, one for students (no solutions) and one for instructors.

Both are rendered by jupyter-book from the same executed chapters (``book/executed``); the
students' edition sets sphinx-exercise's ``hide_solutions``, so every ``{solution}`` block is
left out of its pages, while the exercises keep their numbers.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

EDITIONS = {"student": True, "instructor": False}  # edition -> hide the solutions?


def edition_config(config: Path, hide_solutions: bool) -> dict:
    cfg = yaml.safe_load(config.read_text())
    cfg.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = hide_solutions
    cfg["title"] = f"{cfg.get('title', 'lskd')} ({'students' if hide_solutions else 'instructors'}' edition)"
    return cfg


def build_course(root: Path, out: Path, quiet: bool = True) -> dict[str, Path]:
    """Render both editions of the book at ``root`` into ``out/<edition>``; returns their HTML folders."""
    root, out = Path(root).resolve(), Path(out).resolve()
    missing = [p for p in (root / "_config.yml", root / "_toc.yml") if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]} is missing; run `lskd course` from the repository root")
    if not any((root / "book" / "executed").glob("*.ipynb")):
        raise FileNotFoundError(f"{root / 'book' / 'executed'} holds no executed chapter; run `make book` first")
    jb = Path(sys.executable).with_name("jupyter-book")
    built = {}
    for edition, hide in EDITIONS.items():
        target = out / edition
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        cfg = target / "_config.yml"
        cfg.write_text(yaml.safe_dump(edition_config(root / "_config.yml", hide), sort_keys=False))
        cmd = [str(jb), "build", str(root), "--config", str(cfg), "--path-output", str(target)] + (["-q"] if quiet else [])
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"jupyter-book failed on the {edition}s' edition:\n{(r.stdout + r.stderr)[-2000:]}")
        built[edition] = target / "_build" / "html"
    return built
