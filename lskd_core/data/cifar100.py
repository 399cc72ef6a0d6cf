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

from ..paths import LEXICONS
from .errors import DataError


# What CIFAR's pickles hold besides dicts, lists, bytes, str and numbers: numpy arrays. A pickle
# naming anything else (os.system, builtins.eval, ...) is refused before it can run.

# What the rest of the book asks of a data set (lskd_core.data.in_memory, test_split, pad).
IN_MEMORY = True  # held as tensors (True) or read from image files (False)
TEST_SPLIT = "test"  # the held-out split the book scores on
PAD = 4  # pixels of padding before a random crop

_NUMPY = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
          ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
          ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")}  # bytes in a protocol-2 pickle


class _DataOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _NUMPY:
            return super().find_class(module, name)
        raise DataError(f"cifar100: {self.path} names {module}.{name}; a CIFAR pickle holds only data, "
                        "so it is refused unread")


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"cifar100: missing file {path}; expected ROOT=cifar-100-python/ with train, test, meta")
    try:
        with open(path, "rb") as fh:
            up = _DataOnly(fh, encoding="bytes")
            up.path = path
            out = up.load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise DataError(f"cifar100: {path} is truncated or not a CIFAR pickle ({exc})") from exc
    if not isinstance(out, dict):
        raise DataError(f"cifar100: {path} holds a {type(out).__name__}, not a CIFAR dict")
    return out


def _field(d: dict, key: bytes, path: str):
    if key not in d:
        raise DataError(f"cifar100: {path} has no {key.decode()!r} entry; not a CIFAR-100 python pickle")
    return d[key]


def meta(root: Path) -> tuple[list[str], list[str]]:
    path = Path(root) / "meta"
    m = _unpickle(path)
    try:
        return ([s.decode() for s in _field(m, b"fine_label_names", path)],
                [s.decode() for s in _field(m, b"coarse_label_names", path)])
    except (AttributeError, TypeError) as exc:
        raise DataError(f"cifar100: {path}: class names are not byte strings ({exc})") from exc


def load(root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images uint8 (N, 3, 32, 32), fine labels (N,), coarse labels (N,)."""
    if split not in ("train", "test"):
        raise DataError(f"cifar100: unknown split {split!r}; valid: train, test")
    path = Path(root) / split
    d = _unpickle(path)
    try:
        x = np.asarray(_field(d, b"data", path), dtype=np.uint8)
        fine = np.asarray(_field(d, b"fine_labels", path), dtype=np.int64)
        coarse = np.asarray(_field(d, b"coarse_labels", path), dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"cifar100/{split}: {path} holds values of the wrong type ({exc})") from exc
    if x.ndim != 2 or x.shape[1] != 3 * 32 * 32:
        raise DataError(f"cifar100/{split}: data has shape {x.shape}, expected (N, 3072)")
    if not len(x) == len(fine) == len(coarse):
        raise DataError(f"cifar100/{split}: {len(x)} images, {len(fine)} fine and {len(coarse)} coarse labels")
    if len(fine) and not (0 <= fine.min() and fine.max() < 100 and 0 <= coarse.min() and coarse.max() < 20):
        raise DataError(f"cifar100/{split}: labels outside 0-99 (fine) or 0-19 (coarse): "
                        f"fine {fine.min()}..{fine.max()}, coarse {coarse.min()}..{coarse.max()}")
    return (torch.from_numpy(x.reshape(-1, 3, 32, 32).copy()),
            torch.from_numpy(fine), torch.from_numpy(coarse))


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
WORDNET_TABLE = LEXICONS / "cifar100_wordnet.tsv"


def classes(root: Path) -> list[str]:
    return meta(root)[0]


def wordnet_table() -> dict[str, dict[str, str]]:
    lines = [line for line in WORDNET_TABLE.read_text().splitlines() if line and not line.startswith("#")]
    header = lines[0].split("\t")
    return {row[0]: dict(zip(header, row)) for row in (line.split("\t") for line in lines[1:])}


def synsets(names, wn, root: Path | None = None) -> list[str | None]:
    table = wordnet_table()
    return [table[c]["synset"][1:] if c in table else None for c in names]
