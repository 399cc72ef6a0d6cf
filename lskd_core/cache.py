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
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .paths import DEFAULT_CACHE, ROOT
from .io import atomic_torch_save, atomic_write_json, file_sha256, load_checkpoint

# Only the code that changes what a run computes enters its key: editing a
# notebook or the CLI must not invalidate trained models. Each family of runs
# names its own sources, so editing the fairseq criterion re-runs translation
# steps and leaves image runs alone, and the other way round.
SOURCES: dict[str, tuple[str, ...]] = {
    "image": ("lskd_core/losses.py", "lskd_core/feature_kd.py", "lskd_core/models.py", "lskd_core/methods.py",
              "lskd_core/config.py", "lskd_core/batched.py", "lskd_core/loop.py", "lskd_core/train.py",
              "lskd_core/data/*.py", "data_manifests/*.toml"),  # the manifests hold the input normalisation
    "nmt": ("lskd_core/losses.py", "lskd_core/nmt/*.py", "lskd_core/nmt/fairseq_plugin/*.py"),
}


def cache_root() -> Path:
    # Absolute, so that a kernel started in notebooks/ and the shell that
    # started it agree on one cache for a relative LSKD_CACHE.
    from .settings import cache_dir

    return cache_dir(DEFAULT_CACHE)  # the variable comes back absolute, and the default already is


def code_version(family: str = "image") -> str:
    """The package version plus a digest of the sources a family of runs depends on (``SOURCES``)."""
    if family not in SOURCES:
        raise ValueError(f"unknown run family {family!r}; valid: {', '.join(SOURCES)}")
    h = hashlib.sha256(__version__.encode())
    for pattern in SOURCES[family]:
        for p in sorted(ROOT.glob(pattern)):
            h.update(str(p.relative_to(ROOT)).encode())
            h.update(p.read_bytes())
    return f"{__version__}+{h.hexdigest()[:12]}"


def run_key(kind: str, config: dict[str, Any], family: str = "image") -> str:
    """The one cache key: run kind, its config and the code of its family."""
    blob = json.dumps({"kind": kind, "config": config, "code": code_version(family)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class DamagedRun(RuntimeError):
    """A cached run whose files do not match its record; it is reported, never served."""


_CHECKED: dict[tuple, str | None] = {}  # (path, file stamps) -> problem; hashing once per process


def _stamp(path: Path) -> tuple:
    out = [str(path)]
    for name in ("metrics.json", "model.pt", "config.json", "done.json"):
        try:
            st = (path / name).stat()
            out.append((name, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((name, None))
    return tuple(out)


@dataclass(frozen=True)
class Run:
    path: Path

    @property
    def done(self) -> bool:
        """Finished and intact. A damaged run is reported on stderr once and counts as not done, so it retrains."""
        problem = self.problem()
        if problem not in (None, "unfinished") and str(self.path) not in _REPORTED:
            _REPORTED.add(str(self.path))
            print(f"warning: cached run {self.path} is damaged ({problem}); it will not be used and trains again",
                  file=sys.stderr)
        return problem is None

    def problem(self) -> str | None:
        """None for a finished, intact run; "unfinished"; or what is damaged."""
        key = _stamp(self.path)
        if key not in _CHECKED:
            _CHECKED[key] = self._check()
        return _CHECKED[key]

    def _check(self) -> str | None:
        if (self.path / "done.json").is_file() and self.path.name.startswith("nmt-"):
            try:  # translation steps (lskd_core.nmt) mark completion with done.json
                json.loads((self.path / "done.json").read_text())
            except (OSError, ValueError) as exc:
                return f"done.json is unreadable: {exc}"
            return None
        mpath = self.path / "metrics.json"
        if not mpath.is_file():
            return "unfinished"
        try:
            metrics = json.loads(mpath.read_text())
        except (OSError, ValueError) as exc:
            return f"metrics.json is unreadable: {exc}"
        if not isinstance(metrics, dict) or "kind" not in metrics or "final_top1" not in metrics:
            return "metrics.json holds no finished-run record"
        sums = metrics.get("files_sha256")
        if not isinstance(sums, dict):
            return "metrics.json carries no checksums (written before they existed, or edited)"
        if metrics.get("record_sha256") != record_digest(metrics):
            return "metrics.json was edited after the run finished (its record_sha256 does not match)"
        for name in RUN_FILES:
            f = self.path / name
            if name not in sums:
                return f"metrics.json has no checksum for {name}"
            if not f.is_file():
                return f"{name} is missing"
            if file_sha256(f) != sums[name]:
                return f"{name} does not match the SHA-256 in metrics.json"
        return None

    def _read_json(self, name: str) -> dict[str, Any]:
        try:
            return json.loads((self.path / name).read_text())
        except (OSError, ValueError) as exc:
            raise DamagedRun(f"{self.path / name}: {exc}; run `lskd runs verify`") from exc

    def config(self) -> dict[str, Any]:
        return self._read_json("config.json")

    def metrics(self) -> dict[str, Any]:
        return self._read_json("metrics.json")

    def state_dict(self) -> dict:
        try:
            return load_checkpoint(self.path / "model.pt")
        except Exception as exc:  # noqa: BLE001 - torch raises several types for a damaged zip
            raise DamagedRun(f"{self.path / 'model.pt'} does not load ({exc}); run `lskd runs verify`") from exc


_REPORTED: set[str] = set()


def run_dir(kind: str, config: dict[str, Any], family: str = "image") -> Run:
    return Run(cache_root() / f"{kind}-{run_key(kind, config, family)}")


RUN_FILES = ("model.pt", "config.json")


def record_digest(metrics: dict[str, Any]) -> str:
    """SHA-256 of a run's record without its own digest: canonical JSON (sorted keys, no spaces)."""
    # Through JSON once first, so the digest of the record written equals that of the record read back.
    body = json.loads(json.dumps({k: v for k, v in metrics.items() if k != "record_sha256"}))
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def finish_run(run: Run, config: dict[str, Any], metrics: dict[str, Any], state_dict: dict) -> None:
    """Write model, config, then metrics last: metrics.json marks the run complete.

    metrics.json carries the SHA-256 of every other file of the run and of its
    own record (``record_sha256``), so a reader can tell a finished run from one
    whose weights, config or accuracies changed afterwards. A missing checksum
    counts as damage, never as "nothing to check".
    """
    atomic_torch_save(run.path / "model.pt", state_dict)
    atomic_write_json(run.path / "config.json", config)
    record = {**metrics, "files_sha256": {name: file_sha256(run.path / name) for name in RUN_FILES}}
    atomic_write_json(run.path / "metrics.json", {**record, "record_sha256": record_digest(record)})


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
    for p in sorted(q for q in root.glob("*-*") if q.is_dir()) if root.is_dir() else []:
        run = Run(p)
        problem = run.problem()
        if problem is not None:
            out.append({"run": p.name, "status": "incomplete" if problem == "unfinished" else f"damaged: {problem}"})
            continue
        if p.name.startswith("nmt-"):
            out.append({"run": p.name, "status": "done", "kind": p.name.split("-")[1]})
            continue
        m = run.metrics()
        out.append({"run": p.name, "status": "done", "kind": m.get("kind"), "arch": m.get("arch"),
                    "alpha": m.get("alpha"), "temperature": m.get("temperature"), "seed": m.get("seed"),
                    "final_top1": m.get("final_top1"), "best_top1": m.get("best_top1"),
                    "wall_time_s": m.get("wall_time_s")})
    return out


def busy(run: Run) -> bool:
    """True when another process holds ``run``'s lock (it is training it now)."""
    path = run.path.parent / ".locks" / f"{run.path.name}.lock"
    if not path.is_file():
        return False
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def gc(dry_run: bool = False, min_age_s: float = 60.0) -> list[str]:
    """Remove the cache's debris and return what was (or would be) removed.

    Debris: temporary files a killed write left behind, sweep folders with no
    checkpoint to resume from, checkpoints that no longer load, stale lock
    files, and the temporary chapter folders (``lskd-nb-*``) of killed runs.
    Anything a live process holds (its lock) or touched in the last
    ``min_age_s`` seconds is kept. Finished runs, damaged or not, are kept:
    ``lskd runs verify`` reports those.
    """
    import tempfile

    root, now, removed = cache_root(), time.time(), []

    def old(p: Path) -> bool:
        try:
            return now - p.stat().st_mtime >= min_age_s
        except OSError:
            return False

    def drop(p: Path) -> None:
        removed.append(str(p))
        if not dry_run:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)

    for d in sorted(q for q in root.glob("*-*") if q.is_dir()) if root.is_dir() else []:
        if busy(Run(d)):
            continue
        for tmp in d.glob(".*.tmp"):
            if old(tmp):
                drop(tmp)
        ckpt = d / "checkpoint.pt"
        # Whatever its age: checkpoints are written by rename, so one that exists is complete, and
        # one that does not load is the damaged file a failed resume just told the user to gc.
        if ckpt.is_file():
            try:
                load_checkpoint(ckpt)
            except Exception:  # noqa: BLE001 - a checkpoint that does not load cannot resume anything
                drop(ckpt)
        if d.name.startswith("sweep-") and not (d / "checkpoint.pt").is_file() and old(d):
            drop(d)
    locks = root / ".locks"
    for lk in sorted(locks.glob("*.lock")) if locks.is_dir() else []:
        if not (root / lk.stem).exists() and old(lk) and not busy(Run(root / lk.stem)):
            drop(lk)
    for nb in Path(tempfile.gettempdir()).glob("lskd-nb-*"):
        pid = nb.name.split("-")[2] if nb.name.count("-") >= 3 else ""
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            drop(nb)
    return removed


def merge(sources: list[Path], dest: Path | None = None) -> dict[str, list[str]]:
    """Copy every finished, intact run of ``sources`` (other run caches: shards of one reference
    profile trained on several machines) into ``dest`` (default: this cache).

    A run's folder name is its key (config and code), so the union of shards is safe: a run
    present in both is the same run, and is kept as found in ``dest``. Unfinished or damaged runs
    are not copied. Returns the runs copied, already present and skipped (with why).
    """
    dest = Path(dest) if dest is not None else cache_root()
    out: dict[str, list[str]] = {"copied": [], "present": [], "skipped": []}
    for src in sources:
        src = Path(src)
        if not src.is_dir():
            raise FileNotFoundError(f"{src} is not a run cache folder")
        for d in sorted(p for p in src.glob("*-*") if p.is_dir() and not p.name.startswith(("sweep-", "sweeps-"))):
            problem = Run(d).problem()
            if problem is not None:
                out["skipped"].append(f"{d.name} ({problem})")
                continue
            target = dest / d.name
            if Run(target).problem() is None:
                out["present"].append(d.name)
                continue
            tmp = dest / f".{d.name}.merge.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(d, tmp)
            shutil.rmtree(target, ignore_errors=True)
            tmp.rename(target)  # whole folders appear at once: a killed merge leaves no half run
            out["copied"].append(d.name)
    return out
