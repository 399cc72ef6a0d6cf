"""CUB-200-2011 (Wah et al., 2011) in its distributed layout::

    ROOT/images.txt               "<image_id> <relative path>"
    ROOT/image_class_labels.txt   "<image_id> <class_id 1..200>"
    ROOT/train_test_split.txt     "<image_id> <1 = train, 0 = test>"
    ROOT/classes.txt              "<class_id> <name>"
    ROOT/images/<class folder>/<file>.jpg
"""

from __future__ import annotations

from pathlib import Path

from .errors import DataError
from .folders import ImageListDataset


# What the rest of the book asks of a data set (lskd_core.data.in_memory, test_split, pad).
IN_MEMORY = False  # held as tensors (True) or read from image files (False)
TEST_SPLIT = "test"  # the held-out split the book scores on

INDEX_FILES = ("images.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt")


def _table(path: Path) -> dict[int, str]:
    if not path.is_file():
        raise DataError(f"cub200: missing file {path}")
    out = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        key, _, value = line.strip().partition(" ")
        if not key.isdigit() or not value:
            raise DataError(f"cub200: {path}:{n}: expected '<id> <value>', got {line!r}")
        out[int(key)] = value
    return out


def read_index(root: Path) -> tuple[list[tuple[Path, int, bool]], list[str]]:
    root = Path(root)
    images = _table(root / "images.txt")
    labels = _table(root / "image_class_labels.txt")
    split = _table(root / "train_test_split.txt")
    classes = _table(root / "classes.txt")
    for name, table in (("image_class_labels.txt", labels), ("train_test_split.txt", split)):
        if table.keys() != images.keys():
            raise DataError(f"cub200: {name} and images.txt list different image ids")
    names = [classes[k] for k in sorted(classes)]
    items = [(root / "images" / images[i], int(labels[i]) - 1, split[i] == "1") for i in sorted(images)]
    return items, names


def counts(root: Path) -> dict[str, int]:
    items, names = read_index(root)
    missing = next((p for p, _, _ in items if not p.is_file()), None)
    if missing is not None:
        raise DataError(f"cub200: images.txt lists {missing}, which does not exist")
    n_train = sum(t for _, _, t in items)
    return {"images": len(items), "train": n_train, "test": len(items) - n_train, "classes": len(names)}


def dataset(root: Path, split: str, transform=None) -> ImageListDataset:
    if split not in ("train", "test"):
        raise DataError(f"cub200: unknown split {split!r}; valid: train, test")
    items, names = read_index(root)
    keep = [(p, y) for p, y, is_train in items if is_train == (split == "train")]
    return ImageListDataset(keep, classes=names, transform=transform)


def classes(root: Path) -> list[str]:
    return read_index(root)[1]


def synsets(names, wn, root: Path | None = None) -> list[str | None]:
    from ..semantics.sets import cub_rule

    return cub_rule(names, wn)
