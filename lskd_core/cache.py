"""The run cache: one folder per trained model, keyed by its full config and the code version.

``runs/<kind>-<key>/`` holds ``config.json``, ``metrics.json`` and
``model.pt`` (a state dict, loadable with ``weights_only=True``). A folder
without ``metrics.json`` is an unfinished run and is never served.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .io import atomic_torch_save, atomic_write_json, load_checkpoint

PACKAGE_DIR = Path(__file__).resolve().parent
# Only the code that changes what a run computes enters the key: editing a
# notebook or the CLI must not invalidate trained models.
_KEYED_SOURCES = ("losses.py", "feature_kd.py", "models.py", "train.py", "data/*.py")


def cache_root() -> Path:
    return Path(os.environ.get("LSKD_CACHE", PACKAGE_DIR.parent / "runs"))


def code_version() -> str:
    h = hashlib.sha256(__version__.encode())
    for pattern in _KEYED_SOURCES:
        for p in sorted(PACKAGE_DIR.glob(pattern)):
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return f"{__version__}+{h.hexdigest()[:12]}"


def run_key(kind: str, config: dict[str, Any]) -> str:
    blob = json.dumps({"kind": kind, "config": config, "code": code_version()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Run:
    path: Path

    @property
    def done(self) -> bool:
        return (self.path / "metrics.json").is_file()

    def config(self) -> dict[str, Any]:
        return json.loads((self.path / "config.json").read_text())

    def metrics(self) -> dict[str, Any]:
        return json.loads((self.path / "metrics.json").read_text())

    def state_dict(self) -> dict:
        return load_checkpoint(self.path / "model.pt")


def run_dir(kind: str, config: dict[str, Any]) -> Run:
    return Run(cache_root() / f"{kind}-{run_key(kind, config)}")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def finish_run(run: Run, config: dict[str, Any], metrics: dict[str, Any], state_dict: dict) -> None:
    """Write model, config, then metrics last: metrics.json marks the run complete.

    metrics.json carries the SHA-256 of the other two files, so a later reader
    can tell a finished run from one whose files were damaged afterwards.
    """
    atomic_torch_save(run.path / "model.pt", state_dict)
    atomic_write_json(run.path / "config.json", config)
    sums = {name: file_sha256(run.path / name) for name in ("model.pt", "config.json")}
    atomic_write_json(run.path / "metrics.json", {**metrics, "files_sha256": sums})


@contextlib.contextmanager
def lock(run: Run):
    """Hold an exclusive lock on ``run`` so that identical runs started together train it once.

    The lock files live in ``<cache>/.locks``. A cache that cannot take a lock
    (read-only) runs unlocked: it cannot be written to either.
    """
    path = run.path.parent / ".locks" / f"{run.path.name}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a")
    except OSError:
        yield
        return
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def list_runs() -> list[dict[str, Any]]:
    root = cache_root()
    out = []
    for p in sorted(root.glob("*-*")) if root.is_dir() else []:
        run = Run(p)
        if not run.done:
            out.append({"run": p.name, "status": "incomplete"})
            continue
        m = run.metrics()
        out.append({"run": p.name, "status": "done", "kind": m.get("kind"), "arch": m.get("arch"),
                    "alpha": m.get("alpha"), "temperature": m.get("temperature"), "seed": m.get("seed"),
                    "final_top1": m.get("final_top1"), "best_top1": m.get("best_top1"),
                    "wall_time_s": m.get("wall_time_s")})
    return out
