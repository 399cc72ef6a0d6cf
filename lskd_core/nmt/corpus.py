"""An offline English->German corpus from Debian's gettext catalogues.

The ``.mo`` files under ``/usr/share/locale/de/LC_MESSAGES`` hold thousands
of human translations of program messages. We read them with our own
parser of the GNU ``.mo`` format, clean the pairs, deduplicate them and
split them deterministically by a hash of the English side, so that one
English string never lands in two splits. A manifest records every file with
its Debian package, version and SHA-256, and the SHA-256 of each split.

``.mo`` layout (little- or big-endian, told by the magic number): magic,
revision, N, offset of the original-string table, offset of the translation
table; each table holds N (length, offset) pairs. Plural entries join their
forms with NUL; a context is prefixed to the msgid with EOT (0x04).
"""

from __future__ import annotations

import hashlib
import re
import struct
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..data.errors import DataError
from ..paths import MANIFESTS


def manifest(name: str = "gettext_de") -> dict:
    """A corpus's manifest (``data_manifests/corpora/<name>.toml``): its source, default folder and counts."""
    return tomllib.loads((MANIFESTS / "corpora" / f"{name}.toml").read_text())


DEFAULT_ROOT = Path(manifest()["default_root"])
_MAGIC = {0x950412DE: "<", 0xDE120495: ">"}
_FORMAT = re.compile(r"%(\d+\$)?[-+ #0]*\d*(\.\d+)?[hlLqjzt]*[diouxXeEfgGcspn%]|\{[^}]*\}|\$\{[^}]*\}|<[^>]+>")
# Keyboard accelerators ("_Save", "Save _as", "&Open"); underscores inside
# identifiers such as max_connections are kept.
_ACCEL = re.compile(r"(?:(?<=\s)|^)_(?=\w)|&(?=\w)")


def read_mo(path: Path) -> list[tuple[str, str]]:
    """(msgid, msgstr) pairs of a compiled catalogue; plural entries give their first forms."""
    data = Path(path).read_bytes()
    if len(data) < 20:
        raise DataError(f"{path}: {len(data)} bytes is too short for a .mo file")
    order = _MAGIC.get(struct.unpack("<I", data[:4])[0])
    if order is None:
        raise DataError(f"{path}: not a GNU .mo file (bad magic number)")
    _, n, orig, trans = struct.unpack(order + "4I", data[4:20])
    pairs = []
    for i in range(n):
        try:
            lo, oo = struct.unpack(order + "2I", data[orig + 8 * i: orig + 8 * i + 8])
            lt, ot = struct.unpack(order + "2I", data[trans + 8 * i: trans + 8 * i + 8])
        except struct.error as exc:
            raise DataError(f"{path}: truncated string table at entry {i}") from exc
        if oo + lo > len(data) or ot + lt > len(data):
            raise DataError(f"{path}: entry {i} points past the end of the file (truncated?)")
        msgid = data[oo: oo + lo].decode("utf-8", "replace")
        msgstr = data[ot: ot + lt].decode("utf-8", "replace")
        if "\x04" in msgid:
            msgid = msgid.split("\x04", 1)[1]
        pairs.append((msgid.split("\x00")[0], msgstr.split("\x00")[0]))
    return pairs


def clean(text: str) -> str:
    """One line of plain words: format specifiers, markup and keyboard accelerators removed."""
    text = _FORMAT.sub(" ", text)
    text = _ACCEL.sub("", text)
    return " ".join(text.split())


def keep(en: str, de: str, max_words: int = 40) -> bool:
    """A usable sentence pair: both sides have letters, differ, and are not too long."""
    if not en or not de or en == de:
        return False
    if not re.search(r"[A-Za-z]{2}", en) or not re.search(r"[A-Za-zÄÖÜäöüß]{2}", de):
        return False
    return len(en.split()) <= max_words and len(de.split()) <= max_words


def split_of(en: str, valid_pct: int = 5, test_pct: int = 5) -> str:
    """Deterministic split by the SHA-256 of the English side: the same source never crosses splits."""
    h = int(hashlib.sha256(en.encode()).hexdigest()[:8], 16) % 100
    return "test" if h < test_pct else "valid" if h < test_pct + valid_pct else "train"


@dataclass
class Corpus:
    splits: dict[str, list[tuple[str, str]]]
    manifest: dict


def _package_of(path: Path) -> tuple[str, str]:
    try:
        owner = subprocess.run(["dpkg", "-S", str(path)], capture_output=True, text=True, check=True).stdout
        pkg = owner.split(":")[0].strip()
        ver = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True,
                             check=True).stdout.strip()
        return pkg, ver
    except (OSError, subprocess.CalledProcessError):
        return "unknown", "unknown"


def build(root: Path = DEFAULT_ROOT, files: list[str] | None = None) -> Corpus:
    """Read, clean, deduplicate and split every catalogue under ``root`` (or the named ``files``)."""
    root = Path(root)
    paths = sorted(root.glob("*.mo")) if files is None else [root / f for f in files]
    if not paths:
        raise DataError(f"no .mo catalogues under {root}; install packages with German translations "
                        f"or pass the folder of a copy")
    seen: set[str] = set()
    splits: dict[str, list[tuple[str, str]]] = {"train": [], "valid": [], "test": []}
    entries = []
    for p in paths:
        if not p.is_file():
            raise DataError(f"missing catalogue {p}")
        n_kept = 0
        for en, de in read_mo(p):
            en, de = clean(en), clean(de)
            if not keep(en, de) or en in seen:  # first translation of an English string wins
                continue
            seen.add(en)
            splits[split_of(en)].append((en, de))
            n_kept += 1
        pkg, ver = _package_of(p)
        entries.append({"file": p.name, "package": pkg, "version": ver, "pairs_kept": n_kept,
                        "sha256": hashlib.sha256(p.read_bytes()).hexdigest()})
    digest = {k: hashlib.sha256("\n".join(f"{a}\t{b}" for a, b in v).encode()).hexdigest() for k, v in splits.items()}
    manifest = {"root": str(root), "files": entries, "counts": {k: len(v) for k, v in splits.items()},
                "split_sha256": digest}
    return Corpus(splits, manifest)
