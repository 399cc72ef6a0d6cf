"""ImageNet-1K (ILSVRC2012) as an ImageFolder of WordNet-id folders.

Expected layout (the one torchvision and the official code use)::

    ROOT/train/n01440764/*.JPEG   (1,281,167 images)
    ROOT/val/n01440764/*.JPEG     (50,000 images, 50 per class)
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import DataError
from .folders import ImageListDataset


# What the rest of the book asks of a data set (lskd_core.data.in_memory, test_split, pad).
IN_MEMORY = False  # held as tensors (True) or read from image files (False)
TEST_SPLIT = "val"  # the held-out split the book scores on

WNID = re.compile(r"^n\d{8}$")
IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}


def class_folders(root: Path, split: str) -> list[str]:
    d = Path(root) / split
    if not d.is_dir():
        raise DataError(f"imagenet1k: missing folder {d}; expected ROOT/{{train,val}}/<wnid>/*.JPEG")
    names = sorted(p.name for p in d.iterdir() if p.is_dir())
    bad = [n for n in names if not WNID.match(n)]
    if bad:
        raise DataError(f"imagenet1k: folder {d / bad[0]} is not a WordNet id (nXXXXXXXX); "
                        "the val split must be sorted into class folders too")
    return names


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def counts(root: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for split in ("train", "val"):
        wnids = class_folders(root, split)
        out[split] = sum(len(_images(Path(root) / split / w)) for w in wnids)
        out[f"{split}_classes"] = len(wnids)
    if class_folders(root, "train") != class_folders(root, "val"):
        raise DataError("imagenet1k: train and val hold different class folders")
    out["classes"] = out["train_classes"]
    return out


def dataset(root: Path, split: str, transform=None) -> ImageListDataset:
    wnids = class_folders(root, split)
    items = [(p, i) for i, w in enumerate(wnids) for p in _images(Path(root) / split / w)]
    return ImageListDataset(items, classes=wnids, transform=transform)


def classes(root: Path) -> list[str]:
    return class_folders(root, "train")


def synsets(names, wn, root: Path | None = None) -> list[str | None]:
    """The class folders are WordNet ids."""
    return [wn[w].offset if w[1:] in wn.synsets else None for w in names]
