"""Data sets prepared for training: normalised tensors (small sets held in
memory) or file-backed datasets with torchvision transforms (large sets)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from . import MODULES, cifar100, fashion_mnist, input_spec, resolve_root, verified


def _stats(dataset: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    spec = input_spec(dataset)  # the manifest's [input] table
    return tuple(spec["mean"]), tuple(spec["std"])



@dataclass
class TensorSplit:
    """A whole split in memory: ``x`` float (N, C, H, W) normalised, ``y`` int64 (N,)."""

    x: Tensor
    y: Tensor
    classes: tuple[str, ...]
    pad: int

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return self.x.shape[1]


def _subset(y: Tensor, n: int | None, num_classes: int) -> Tensor:
    """Indices of a class-balanced subset of size ``n``.

    The subset comes from a fixed permutation (seed 0), independent of the
    training seed, so every seed and every profile run sees the same images.
    """
    if n is None or n >= len(y):
        return torch.arange(len(y))
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    per_class = max(n // num_classes, 1)  # at least one example of every class (ImageNet at smoke scale)
    taken: list[Tensor] = []
    for k in range(num_classes):
        idx = perm[y[perm] == k][:per_class]
        taken.append(idx)
    return torch.sort(torch.cat(taken)).values


def _normalise(x_uint8: Tensor, dataset: str) -> Tensor:
    mean, std = _stats(dataset)
    x = x_uint8.float().div_(255.0)
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    return (x - m) / s


def tensor_split(dataset: str, split: str, n: int | None = None, root: str | Path | None = None) -> TensorSplit:
    """Load, verify (once per process) and normalise an in-memory split."""
    root = resolve_root(dataset, root)
    verified(dataset, str(root))
    if dataset == "fashion_mnist":
        x, y = fashion_mnist.load(root, split)
        x = x.unsqueeze(1)
        classes = fashion_mnist.CLASSES
    elif dataset == "cifar100":
        x, y, _ = cifar100.load(root, "train" if split == "train" else "test")
        classes = tuple(cifar100.meta(root)[0])
    else:
        raise ValueError(f"{dataset} is file-based; use file_split()")
    idx = _subset(y, n, len(classes))
    return TensorSplit(_normalise(x[idx], dataset), y[idx].clone(), tuple(classes), MODULES[dataset].PAD)


def augment_batch(x: Tensor, pad: int, generator: torch.Generator) -> Tensor:
    """Random crop after padding by ``pad`` pixels, and random horizontal flip.

    Padding happens after normalisation, so the border is the data set's mean
    pixel rather than black.

    Randomness comes only from ``generator``, so a batch's augmentation is a
    pure function of the seed, the epoch and the batch index.
    """
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    # One gather for the whole batch: per-sample row and column indices, with
    # the columns reversed for flipped samples.
    rows = dy[:, None] + torch.arange(h)
    cols = dx[:, None] + torch.arange(w)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    return padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


def transforms_for(dataset: str, train: bool, image_size: int = 224):
    """The paper's augmentation (Appendix C) for a file-based set, or the evaluation resize-and-crop."""
    from torchvision import transforms as T

    mean, std = _stats(dataset)
    if train:
        aug = [T.RandomResizedCrop(image_size), T.RandomHorizontalFlip()]
        if dataset == "cub200":  # Appendix C: crops, rotation, colour jitter, flips
            aug = [T.RandomResizedCrop(image_size), T.RandomRotation(15),
                   T.ColorJitter(0.4, 0.4, 0.4), T.RandomHorizontalFlip()]
    else:
        aug = [T.Resize(int(image_size * 256 / 224)), T.CenterCrop(image_size)]
    return T.Compose(aug + [T.ToTensor(), T.Normalize(mean, std)])


def file_split(dataset: str, split: str, root: str | Path | None, train: bool, image_size: int = 224,
               n: int | None = None):
    """A verified file-backed split with ``transforms_for(dataset, train, image_size)``; ``n``: a class-balanced
    subset, as for the in-memory sets."""
    root = resolve_root(dataset, root)
    verified(dataset, str(root))
    full = MODULES[dataset].dataset(root, split, transform=transforms_for(dataset, train, image_size))
    if n is None or n >= len(full):
        return full
    keep = _subset(torch.tensor(full.targets), n, len(full.classes))
    return type(full)([full.items[i] for i in keep.tolist()], full.classes, full.transform)
