"""CIFAR-100 (Krizhevsky, 2009) in its python pickle layout::

    ROOT/train   dict with b'data' (50000 x 3072 uint8), b'fine_labels', b'coarse_labels'
    ROOT/test    the same with 10000 rows
    ROOT/meta    b'fine_label_names' (100), b'coarse_label_names' (20 superclasses)
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from .errors import DataError


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"cifar100: missing file {path}; expected ROOT=cifar-100-python/ with train, test, meta")
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh, encoding="bytes")
    except (pickle.UnpicklingError, EOFError) as exc:
        raise DataError(f"cifar100: {path} is truncated or not a CIFAR pickle ({exc})") from exc


def meta(root: Path) -> tuple[list[str], list[str]]:
    m = _unpickle(Path(root) / "meta")
    return ([s.decode() for s in m[b"fine_label_names"]], [s.decode() for s in m[b"coarse_label_names"]])


def load(root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images uint8 (N, 3, 32, 32), fine labels (N,), coarse labels (N,)."""
    if split not in ("train", "test"):
        raise DataError(f"cifar100: unknown split {split!r}; valid: train, test")
    d = _unpickle(Path(root) / split)
    x = np.asarray(d[b"data"], dtype=np.uint8)
    if x.ndim != 2 or x.shape[1] != 3 * 32 * 32:
        raise DataError(f"cifar100/{split}: data has shape {x.shape}, expected (N, 3072)")
    fine, coarse = np.asarray(d[b"fine_labels"]), np.asarray(d[b"coarse_labels"])
    if not len(x) == len(fine) == len(coarse):
        raise DataError(f"cifar100/{split}: {len(x)} images, {len(fine)} fine and {len(coarse)} coarse labels")
    return (torch.from_numpy(x.reshape(-1, 3, 32, 32).copy()),
            torch.from_numpy(fine.astype(np.int64)), torch.from_numpy(coarse.astype(np.int64)))


def superclass_of(root: Path) -> dict[int, int]:
    """Fine class -> coarse superclass, read from the training labels."""
    _, fine, coarse = load(root, "train")
    return {int(f): int(c) for f, c in zip(fine.tolist(), coarse.tolist())}


def counts(root: Path) -> dict[str, int]:
    fine_names, coarse_names = meta(root)
    out = {"classes": len(fine_names), "superclasses": len(coarse_names)}
    for split in ("train", "test"):
        out[split] = len(load(root, split)[1])
    return out


# The committed class -> synset table (its header names the sources and the rule).
WORDNET_TABLE = Path(__file__).resolve().parents[2] / "data_manifests" / "lexicons" / "cifar100_wordnet.tsv"


def classes(root: Path) -> list[str]:
    return meta(root)[0]


def wordnet_table() -> dict[str, dict[str, str]]:
    lines = [line for line in WORDNET_TABLE.read_text().splitlines() if line and not line.startswith("#")]
    header = lines[0].split("\t")
    return {row[0]: dict(zip(header, row)) for row in (line.split("\t") for line in lines[1:])}


def synsets(names, wn, root: Path | None = None) -> list[str | None]:
    table = wordnet_table()
    return [table[c]["synset"][1:] if c in table else None for c in names]
