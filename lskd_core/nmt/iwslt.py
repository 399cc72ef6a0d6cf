"""IWSLT TED-talk corpora (IWSLT14 De-En, IWSLT17 En-De / En-Ru), brought by the user.

Layout after unpacking the official archive (e.g. ``de-en.tgz``):
``train.tags.<pair>.<lang>`` (one sentence per line; lines starting with
``<`` are talk metadata) and ``IWSLT*.TED*.<set>.<pair>.<lang>.xml`` files
whose ``<seg id="...">`` elements hold the dev/test sentences. As fairseq's
``prepare-iwslt14.sh`` does, every 23rd training pair becomes validation and
the dev/test XML files together form the test set.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..data.errors import DataError

_SEG = re.compile(r"<seg[^>]*>(.*?)</seg>", re.S)


def _train_lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if not ln.lstrip().startswith("<")]


def _segments(path: Path) -> list[str]:
    return [" ".join(s.split()) for s in _SEG.findall(path.read_text(encoding="utf-8"))]


def load(root: str | Path, src: str = "en", tgt: str = "de") -> dict[str, list[tuple[str, str]]]:
    """train / valid / test sentence pairs (source, target) of an unpacked IWSLT folder."""
    root = Path(root)
    pair = next((p for p in (f"{src}-{tgt}", f"{tgt}-{src}") if (root / f"train.tags.{p}.{src}").is_file()), None)
    if pair is None:
        raise DataError(f"{root}: no train.tags.{src}-{tgt}.{src} or train.tags.{tgt}-{src}.{src}; "
                        f"unpack the IWSLT archive (e.g. de-en.tgz) there")
    s_lines, t_lines = _train_lines(root / f"train.tags.{pair}.{src}"), _train_lines(root / f"train.tags.{pair}.{tgt}")
    if len(s_lines) != len(t_lines):
        raise DataError(f"{root}: train.tags has {len(s_lines)} {src} lines but {len(t_lines)} {tgt} lines")
    train, valid = [], []
    for i, (a, b) in enumerate(zip(s_lines, t_lines)):
        (valid if i % 23 == 0 else train).append((a, b))
    test = []
    for s_xml in sorted(root.glob(f"IWSLT*.{pair}.{src}.xml")):
        t_xml = s_xml.with_name(s_xml.name[: -len(f"{src}.xml")] + f"{tgt}.xml")
        if not t_xml.is_file():
            raise DataError(f"{s_xml.name} has no {tgt} counterpart {t_xml.name}")
        a, b = _segments(s_xml), _segments(t_xml)
        if len(a) != len(b):
            raise DataError(f"{s_xml.name}: {len(a)} segments but {t_xml.name} has {len(b)}")
        test += list(zip(a, b))
    if not test:
        raise DataError(f"{root}: no IWSLT*.{pair}.{src}.xml dev/test files")
    return {"train": train, "valid": valid, "test": test}
