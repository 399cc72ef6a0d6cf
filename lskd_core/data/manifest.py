"""Data-set manifests (``data_manifests/*.toml``) and their verification.

A manifest says where a data set comes from and how a local copy is checked:
the files it must hold with their checksums, and the number of examples and
classes per split. ``verify`` checks a copy against it and raises a
``DataError`` that names the first problem and how to fix it.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DataError
from .idx import read_bytes

from ..paths import MANIFESTS as MANIFEST_DIR


def _manifest_dirs() -> list[Path]:
    """``LSKD_DATA_MANIFESTS`` (a folder) puts its manifests before the committed ones of the same name.

    The tests' fixtures (a few images in each real on-disk layout) are checked
    against manifests of their own this way, through the same ``verify``.
    """
    from ..settings import manifest_dirs

    return manifest_dirs() + [MANIFEST_DIR]


@dataclass(frozen=True)
class FileSpec:
    path: str
    sha256: str | None = None  # of the file's bytes
    md5: str | None = None  # of the file's bytes, where only an MD5 is published
    sha256_payload: str | None = None  # of the gunzipped content (robust to recompression)
    required: bool = True


@dataclass(frozen=True)
class Manifest:
    name: str
    title: str
    source: str
    citation: str
    licence: str
    num_classes: int
    counts: dict[str, int]
    files: tuple[FileSpec, ...] = ()
    default_root: str | None = None
    debian_package: str | None = None
    # The model's input: side in pixels, per-channel mean and std of the normalisation.
    input: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def available() -> list[str]:
    return sorted({p.stem for d in _manifest_dirs() for p in d.glob("*.toml")})


def load_manifest(name: str) -> Manifest:
    path = next((d / f"{name}.toml" for d in _manifest_dirs() if (d / f"{name}.toml").is_file()),
                MANIFEST_DIR / f"{name}.toml")
    if not path.is_file():
        raise DataError(f"unknown data set {name!r}; known: {', '.join(available())}")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"manifest {path} is not valid TOML ({exc})") from None
    fields = set(FileSpec.__dataclass_fields__)
    for f in raw.get("files", []):
        unknown = sorted(set(f) - fields) if isinstance(f, dict) else ["(not a table)"]
        if unknown or "path" not in f:
            raise DataError(f"manifest {path}: a [[files]] entry has unknown keys {unknown} or no path; "
                            f"valid keys: {', '.join(sorted(fields))}")
    files = tuple(FileSpec(**f) for f in raw.pop("files", []))
    known = {"name", "title", "source", "citation", "licence", "num_classes", "counts",
             "default_root", "debian_package", "input"}
    extra = {k: v for k, v in raw.items() if k not in known}
    return Manifest(files=files, extra=extra, **{k: v for k, v in raw.items() if k in known})


def _digest(path: Path, algo: str, payload: bool = False) -> str:
    h = hashlib.new(algo)
    if payload:
        h.update(read_bytes(path))
        return h.hexdigest()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_files(manifest: Manifest, root: Path) -> None:
    """Existence and checksums of every file the manifest lists."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{manifest.name}: data root {root} does not exist or is not a folder; "
                        + _fix_hint(manifest))
    for spec in manifest.files:
        p = root / spec.path
        if not p.exists():
            if spec.required:
                raise DataError(f"{manifest.name}: missing file {p}; " + _fix_hint(manifest))
            continue
        if not p.is_file():  # a FIFO or a device would block the checksum's read for ever
            raise DataError(f"{manifest.name}: {p} is not a regular file; " + _fix_hint(manifest))
        for algo, want, payload in (("sha256", spec.sha256, False), ("md5", spec.md5, False),
                                    ("sha256", spec.sha256_payload, True)):
            if want is None:
                continue
            got = _digest(p, algo, payload)
            if got != want:
                what = f"{algo} of the decompressed content" if payload else algo
                raise DataError(f"{manifest.name}: wrong checksum for {p}: {what} is {got}, "
                                f"expected {want}; the copy is corrupt or another version. "
                                + _fix_hint(manifest))


def check_counts(manifest: Manifest, counts: dict[str, int]) -> None:
    for key, want in manifest.counts.items():
        got = counts.get(key)
        if got != want:
            raise DataError(f"{manifest.name}: wrong count for {key!r}: found {got}, expected {want}")


def _fix_hint(manifest: Manifest) -> str:
    if manifest.debian_package:
        return f"install it with: apt-get install {manifest.debian_package}"
    return f"see data_manifests/{manifest.name}.toml for where to get it ({manifest.source})"
