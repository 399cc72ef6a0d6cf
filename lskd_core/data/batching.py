"""The batches a model sees: splits loaded for a config, and their order, a pure function of the
config, the seed and the epoch (so a resumed run sees exactly the batches an uninterrupted one does)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import torch
from torch import Tensor

from . import in_memory, input_spec, test_split
from .prepared import TensorSplit, augment_batch, file_split, tensor_split
from .streams import stream

if TYPE_CHECKING:  # only for annotations: a config is read, never built, here
    from ..config import TrainConfig


@dataclass
class Data:
    train: TensorSplit | torch.utils.data.Dataset
    test: TensorSplit | torch.utils.data.Dataset
    num_classes: int
    in_channels: int


def load_data(cfg: TrainConfig) -> Data:
    if in_memory(cfg.dataset):
        tr = tensor_split(cfg.dataset, "train", cfg.n_train, cfg.data_root)
        te = tensor_split(cfg.dataset, "test", cfg.n_test, cfg.data_root)
        if cfg.downsample > 1:
            for split in (tr, te):
                split.x = torch.nn.functional.avg_pool2d(split.x, cfg.downsample)
        return Data(tr, te, tr.num_classes, tr.in_channels)
    test_name = test_split(cfg.dataset)
    tr = file_split(cfg.dataset, "train", cfg.data_root, train=cfg.augment, image_size=cfg.image_size, n=cfg.n_train)
    te = file_split(cfg.dataset, test_name, cfg.data_root, train=False, image_size=cfg.image_size, n=cfg.n_test)
    return Data(tr, te, len(tr.classes), 3)


def batches(split, cfg: TrainConfig, epoch: int, train: bool,
             shard: tuple[int, int] = (0, 1)) -> Iterator[tuple[Tensor, Tensor, int]]:
    """Yield ``(x, y, n_global)``: this rank's rows of each global batch and the global batch size.

    ``shard = (rank, world)``. In memory, every rank draws the same global
    batch and augmentation and keeps rows ``rank::world``, so the union over
    ranks is exactly the one-process batch.
    """
    r, world = shard
    if isinstance(split, TensorSplit):
        for b, idx in batch_rows(len(split.y), cfg, epoch, train, world):
            x = split.x[idx]
            if train and cfg.augment:
                x = augment_batch(x, split.pad, stream(cfg.seed, epoch, b + 1))
            yield x[r::world], split.y[idx][r::world], len(idx)
        return
    if cfg.decode == "device":
        from .device_decode import device_batches

        spec = input_spec(cfg.dataset)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        yield from device_batches(split, cfg.batch_size, cfg.seed, epoch, train, cfg.image_size, spec["mean"],
                                  spec["std"], device, shard, augment=train and cfg.augment)
        return
    sampler = None
    if world > 1 and train:
        sampler = torch.utils.data.DistributedSampler(split, num_replicas=world, rank=r, shuffle=True,
                                                      seed=cfg.seed, drop_last=True)
        sampler.set_epoch(epoch)
    loader = torch.utils.data.DataLoader(
        split, batch_size=cfg.batch_size // world if sampler else cfg.batch_size,
        shuffle=train and sampler is None, sampler=sampler, num_workers=cfg.num_workers,
        generator=stream(cfg.seed, epoch, 0) if train and sampler is None else None,
        pin_memory=torch.cuda.is_available(), persistent_workers=False)
    for x, y in loader:
        yield x, y, len(y) * (world if sampler else 1)


def batch_rows(n: int, cfg: TrainConfig, epoch: int, train: bool, world: int = 1) -> Iterator[tuple[int, Tensor]]:
    """``(b, rows)``: the rows of an in-memory split that global batch ``b`` holds, as ``batches`` draws them."""
    order = torch.randperm(n, generator=stream(cfg.seed, epoch, 0)) if train else torch.arange(n)
    for b, start in enumerate(range(0, n, cfg.batch_size)):
        idx = order[start: start + cfg.batch_size]
        if len(idx) >= world:  # else a rank would get no rows; DDP needs every rank in every step
            yield b, idx


def num_batches(split, cfg: TrainConfig) -> int:
    n = len(split.y) if isinstance(split, TensorSplit) else len(split)
    return math.ceil(n / cfg.batch_size)
