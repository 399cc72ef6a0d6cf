"""What determines a trained model, and the batches it sees.

``TrainConfig`` is hashed into the run key (with the code, ``lskd_core.cache``),
so everything that changes a trained model's weights belongs in it. The
learning-rate schedule and the batch order are pure functions of the config,
the seed and the epoch, which is what makes a resumed run bitwise equal to an
uninterrupted one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor

from .data import MODULES, input_spec
from .models import ARCHS, check_weights
from .data.prepared import TensorSplit, augment_batch, file_split, tensor_split

SCHEDULES = ("cosine", "step", "onecycle")
# One-cycle: the rate climbs from lr/25 to lr over this share of training, then
# anneals to lr/1e4 on a cosine (Smith & Topin's shape, as torch's OneCycleLR).
ONECYCLE_RISE = 0.25
# Above this, softmax(z/T) is uniform to float precision for any logits a
# trained model produces, and T^2 * KL only amplifies rounding error (at T=1e6
# the loss reaches -6.6e4). The paper's largest T is 64.
MAX_TEMPERATURE = 1000.0
AMP = ("off", "bf16", "fp16")
DECODE = ("cpu", "device")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines one trained model (plain dataclass, hashed into the run key)."""

    dataset: str = "fashion_mnist"
    data_root: str | None = None
    n_train: int | None = None  # class-balanced subset; None = whole split
    n_test: int | None = None
    arch: str = "resnet_s"
    num_epochs: int = 5
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    step_size: int = 30  # epochs between /10 decays for the step schedule
    gamma: float = 0.1
    warmup_epochs: int = 0
    alpha: float = 0.0  # label smoothing of this model's own targets (teachers)
    seed: int = 0
    augment: bool = True
    small_input: bool = True
    image_size: int = 224
    # In-memory sets only: average-pool the images by this factor (2 turns
    # Fashion-MNIST's 28x28 into 14x14, about 3x cheaper to train on).
    downsample: int = 1
    amp: str = "off"
    channels_last: bool = False
    num_workers: int = 4
    weights: str | None = None
    weights_sha256: str | None = None
    # File-based sets: "cpu" = torchvision transforms in DataLoader workers; "device" = JPEGs decoded and
    # augmented on the training device (nvJPEG on a GPU; lskd_core.data.device_decode).
    decode: str = "cpu"

    def validate(self) -> "TrainConfig":
        if self.dataset not in MODULES:
            raise ValueError(f"unknown dataset {self.dataset!r}; valid: {', '.join(MODULES)}")
        if self.arch not in ARCHS:
            raise ValueError(f"unknown arch {self.arch!r}; valid: {', '.join(ARCHS)}")
        if not 0.0 <= self.alpha < 1.0:
            raise ValueError(f"alpha must lie in [0, 1), got {self.alpha}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; valid: {', '.join(SCHEDULES)}")
        if self.amp not in AMP:
            raise ValueError(f"unknown amp {self.amp!r}; valid: {', '.join(AMP)}")
        for name in ("num_epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if isinstance(self.downsample, bool) or not isinstance(self.downsample, int) or self.downsample < 1:
            raise ValueError(f"downsample must be an integer >= 1, got {self.downsample!r}")
        if self.downsample > 1 and self.dataset not in ("fashion_mnist", "cifar100"):
            raise ValueError(f"downsample applies to the in-memory sets (fashion_mnist, cifar100), not {self.dataset}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.decode not in DECODE:
            raise ValueError(f"unknown decode {self.decode!r}; valid: {', '.join(DECODE)}")
        if self.decode == "device" and self.dataset in ("fashion_mnist", "cifar100"):
            raise ValueError(f"decode='device' applies to JPEG folders (imagenet1k, cub200); {self.dataset} is held "
                             "in memory already")
        if self.weights:  # a missing or wrong weights file fails before any training
            check_weights(self.weights, self.weights_sha256)
        return self


# A sweep trains every temperature side by side; more than this is a typo, not an experiment.
MAX_TEMPERATURES = 32


def check_temperature(t, name: str = "temperature") -> float:
    """The one temperature rule of the book: a finite number in (0, ``MAX_TEMPERATURE``]."""
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not (0 < t <= MAX_TEMPERATURE):
        raise ValueError(f"{name}={t!r} must be a number in (0, {MAX_TEMPERATURE:g}]: beyond that the teacher's "
                         "soft targets are uniform to float precision (the paper's largest T is 64)")
    return float(t)


def check_temperatures(temperatures, name: str = "temperatures") -> tuple[float, ...]:
    temps = tuple(temperatures)
    if not temps:
        raise ValueError(f"{name}: the list is empty; give at least one, e.g. [1, 2, 3, 64]")
    if len(temps) > MAX_TEMPERATURES:
        raise ValueError(f"{name}: {len(temps)} values; at most {MAX_TEMPERATURES} train side by side")
    temps = tuple(check_temperature(t, name) for t in temps)
    if len(set(temps)) != len(temps):
        raise ValueError(f"{name}={list(temps)!r} repeats a value; each must appear once")
    return temps


# ---------------------------------------------------------------- schedule


def lr_at(cfg: TrainConfig, epoch: float) -> float:
    """Learning rate at a fractional epoch: linear warm-up, then cosine or step decay; or one-cycle."""
    if cfg.schedule == "onecycle":
        rise = ONECYCLE_RISE * cfg.num_epochs
        lo, end = cfg.lr / 25, cfg.lr / 1e4
        if epoch < rise:
            return lo + (cfg.lr - lo) * 0.5 * (1 - math.cos(math.pi * epoch / rise))
        frac = min((epoch - rise) / max(cfg.num_epochs - rise, 1e-8), 1.0)
        return end + (cfg.lr - end) * 0.5 * (1 + math.cos(math.pi * frac))
    if cfg.warmup_epochs and epoch < cfg.warmup_epochs:
        return cfg.lr * (epoch + 1e-8) / cfg.warmup_epochs
    if cfg.schedule == "step":
        return cfg.lr * cfg.gamma ** int(epoch // cfg.step_size)
    span = max(cfg.num_epochs - cfg.warmup_epochs, 1e-8)
    return 0.5 * cfg.lr * (1 + math.cos(math.pi * (epoch - cfg.warmup_epochs) / span))


def stream(seed: int, *keys: int) -> torch.Generator:
    """An independent random stream for (seed, keys): resumable without saved RNG state."""
    x = seed
    for k in keys:
        x = (x * 1_000_003 + k + 1) % (2**63 - 1)
    return torch.Generator().manual_seed(x)


# ---------------------------------------------------------------- data


@dataclass
class Data:
    train: TensorSplit | torch.utils.data.Dataset
    test: TensorSplit | torch.utils.data.Dataset
    num_classes: int
    in_channels: int


def load_data(cfg: TrainConfig) -> Data:
    if cfg.dataset in ("fashion_mnist", "cifar100"):
        tr = tensor_split(cfg.dataset, "train", cfg.n_train, cfg.data_root)
        te = tensor_split(cfg.dataset, "test", cfg.n_test, cfg.data_root)
        if cfg.downsample > 1:
            for split in (tr, te):
                split.x = torch.nn.functional.avg_pool2d(split.x, cfg.downsample)
        return Data(tr, te, tr.num_classes, tr.in_channels)
    test_name = "val" if cfg.dataset == "imagenet1k" else "test"
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
        from .data.device_decode import device_batches

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


def validate_world(cfg: TrainConfig, world: int) -> None:
    if world > 1 and cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} is the global batch; it must divide by the "
                         f"{world} processes torchrun started")
