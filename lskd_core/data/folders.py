"""A dataset over a list of (image path, label) pairs, shared by the file-based loaders."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from .errors import DataError


class ImageListDataset(Dataset):
    def __init__(self, items: Sequence[tuple[Path, int]], classes: Sequence[str],
                 transform: Callable | None = None) -> None:
        self.items = list(items)
        self.classes = list(classes)
        self.targets = [y for _, y in self.items]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        path, y = self.items[i]
        try:
            with Image.open(path) as im:
                img = im.convert("RGB")
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"cannot decode image {path} ({exc}); the file is truncated or corrupt") from exc
        return (self.transform(img) if self.transform else img), y
