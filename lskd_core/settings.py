"""The environment variables lskd reads, each checked once with its name in the message.

    LSKD_CACHE               the run cache folder (default: runs/ in the repository)
    LSKD_CHECKPOINT_SECONDS  seconds between checkpoints, >= 0 (default 30)
    LSKD_DATA_MANIFESTS      a folder of manifests put before the committed ones (tests' fixtures)
    LSKD_CPUS                CPU cores to use, an integer >= 1 (default: all)
    LSKD_PROGRESS            1 or 0: progress bars on a terminal (chapters set 0)
    LSKD_DEVICE              "", cpu or cuda: where translation trains (default: cuda when present)

``check()`` validates all of them; the command line calls it before anything
else, and each reader below validates its own variable again where it is read
(a chapter's kernel sees the variables without going through the CLI).
"""

from __future__ import annotations

import os
from pathlib import Path


class SettingError(ValueError):
    """An environment variable with a value lskd cannot use; the message names the variable."""


def _get(name: str) -> str | None:
    return os.environ.get(name)


def checkpoint_seconds() -> float:
    v = _get("LSKD_CHECKPOINT_SECONDS")
    if v is None:
        return 30.0
    try:
        out = float(v)
    except ValueError:
        raise SettingError(f"LSKD_CHECKPOINT_SECONDS={v!r} must be a number of seconds >= 0") from None
    if not out >= 0:
        raise SettingError(f"LSKD_CHECKPOINT_SECONDS={v!r} must be a number of seconds >= 0")
    return out


def cache_dir(default: Path) -> Path:
    v = _get("LSKD_CACHE")
    if v is None:
        return default
    if not v.strip():
        # An empty value would make the working directory the cache and scatter runs there.
        raise SettingError("LSKD_CACHE is set but empty; unset it (default: runs/ in the repository) or give a folder")
    return Path(v).expanduser().absolute()


def manifest_dirs() -> list[Path]:
    v = _get("LSKD_DATA_MANIFESTS")
    if v is None:
        return []
    if not Path(v).is_dir():
        raise SettingError(f"LSKD_DATA_MANIFESTS={v!r} is not a folder; point it at a folder of <name>.toml "
                           "manifests or unset it")
    return [Path(v)]


def cpus() -> int | None:
    v = _get("LSKD_CPUS")
    if v is None or v == "":
        return None
    if not v.strip().isdigit() or int(v) < 1:
        raise SettingError(f"LSKD_CPUS={v!r} must be an integer >= 1")
    return int(v)


def usable_cpus() -> int:
    """The CPU cores this process may use: ``LSKD_CPUS`` when set (a book lane sets 1), else all of them.
    Here, not in ``dist``, so that callers without torch (the browser check) read the same rule."""
    return cpus() or os.cpu_count() or 1


def progress() -> bool:
    v = _get("LSKD_PROGRESS")
    if v is None:
        return True
    if v not in ("0", "1"):
        raise SettingError(f"LSKD_PROGRESS={v!r} must be 0 or 1")
    return v == "1"


def device() -> str:
    v = (_get("LSKD_DEVICE") or "").lower()
    if v not in ("", "cpu", "cuda"):
        raise SettingError(f"LSKD_DEVICE={v!r} must be cpu or cuda (or unset)")
    return v


def check() -> None:
    """Validate every variable above; raises ``SettingError`` naming the first bad one."""
    checkpoint_seconds()
    cache_dir(Path("."))
    manifest_dirs()
    cpus()
    progress()
    device()
