"""Fashion-MNIST (Xiao et al., 2017), read from the IDX files of Debian's
``dataset-fashion-mnist`` package: the book's embedded default data set."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .errors import DataError
from .idx import read_idx


# What the rest of the book asks of a data set (lskd_core.data.in_memory, test_split, pad).
IN_MEMORY = True  # held as tensors (True) or read from image files (False)
TEST_SPLIT = "test"  # the held-out split the book scores on
PAD = 2  # pixels of padding before a random crop

DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
# WordNet 3.0 noun synsets of the classes, each checked against its gloss by hand.
SYNSETS = {
    "T-shirt/top": "03595614",  # jersey, T-shirt, tee shirt
    "Trouser": "04489008",      # trouser, pant
    "Pullover": "04021028",     # pullover, slipover
    "Dress": "03236735",        # dress, frock
    "Coat": "03057021",         # coat
    "Sandal": "04133789",       # sandal
    "Shirt": "04197391",        # shirt
    "Sneaker": "03472535",      # gym shoe, sneaker, tennis shoe
    "Bag": "02774152",          # bag, handbag, pocketbook, purse
    "Ankle boot": "02872752",   # boot: footwear that covers the whole foot and lower leg
}
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


def classes(root: Path | str | None = None) -> list[str]:
    return list(CLASSES)


def synsets(names, wn, root: Path | str | None = None) -> list[str | None]:
    return [SYNSETS.get(c) for c in names]
