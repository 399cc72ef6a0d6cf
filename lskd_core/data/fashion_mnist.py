"""Fashion-MNIST (Xiao et al., 2017), read from the IDX files of Debian's
``dataset-fashion-mnist`` package: the book's embedded default data set."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .errors import DataError
from .idx import read_idx

DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
# Real semantic groups of the label set, used to pick similar / dissimilar classes.
GROUPS = {"tops": (0, 2, 4, 6), "footwear": (5, 7, 9), "other": (1, 3, 8)}
_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
          "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def counts(root: Path) -> dict[str, int]:
    out = {}
    for split, (img, lab) in _FILES.items():
        x, y = read_idx(Path(root) / img), read_idx(Path(root) / lab)
        if len(x) != len(y):
            raise DataError(f"fashion_mnist/{split}: {len(x)} images but {len(y)} labels")
        out[split] = len(y)
    out["classes"] = len(np.unique(read_idx(Path(root) / _FILES["train"][1])))
    return out


@lru_cache(maxsize=4)
def _load(root: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    img, lab = _FILES[split]
    x = read_idx(Path(root) / img)
    y = read_idx(Path(root) / lab)
    if x.shape[1:] != (28, 28):
        raise DataError(f"fashion_mnist/{split}: images have shape {x.shape[1:]}, expected (28, 28)")
    if y.max() >= len(CLASSES):
        raise DataError(f"fashion_mnist/{split}: label {int(y.max())} outside 0..{len(CLASSES) - 1}")
    return torch.from_numpy(x.copy()), torch.from_numpy(y.astype(np.int64))


def load(root: Path | str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as uint8 (N, 28, 28) and labels as int64 (N,). The caller verifies first."""
    if split not in _FILES:
        raise DataError(f"fashion_mnist: unknown split {split!r}; valid: {', '.join(_FILES)}")
    return _load(str(root), split)
