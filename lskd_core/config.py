"""What determines a trained model: ``TrainConfig``, its learning-rate schedule and the temperature rule.

``TrainConfig`` is hashed into the run key (with the code, ``lskd_core.cache``),
so everything that changes a trained model's weights belongs in it. The
learning-rate schedule is a pure function of the config and the epoch, and the
batch order (``lskd_core.data.batching``) of the config, the seed and the
epoch, which is what makes a resumed run bitwise equal to an uninterrupted one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from .data import MODULES, in_memory
from .models import ARCHS, check_weights

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
    # Epochs between evaluations on the test split (the last epoch is always evaluated). On a small
    # training set the test pass costs as much as the epoch itself; training never reads it, so
    # the weights and the final accuracy are the same for any value (tests/test_training.py).
    eval_every: int = 1

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
        for name in ("num_epochs", "batch_size", "eval_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if isinstance(self.downsample, bool) or not isinstance(self.downsample, int) or self.downsample < 1:
            raise ValueError(f"downsample must be an integer >= 1, got {self.downsample!r}")
        if self.downsample > 1 and not in_memory(self.dataset):
            raise ValueError(f"downsample applies to the in-memory sets "
                             f"({', '.join(n for n in MODULES if in_memory(n))}), not {self.dataset}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.decode not in DECODE:
            raise ValueError(f"unknown decode {self.decode!r}; valid: {', '.join(DECODE)}")
        if self.decode == "device" and in_memory(self.dataset):
            raise ValueError(f"decode='device' applies to JPEG folders (imagenet1k, cub200); {self.dataset} is held "
                             "in memory already")
        if self.weights:  # a missing or wrong weights file fails before any training
            check_weights(self.weights, self.weights_sha256)
        return self


# Fields added after runs were cached enter a run's key only when set away from these defaults,
# so every run cached before a field existed keeps its key.
LATE_FIELDS: dict[str, Any] = {"eval_every": 1}


def key_fields(cfg: TrainConfig) -> dict[str, Any]:
    """A config as run keys and registrations hash it: every field, less late ones at their default."""
    return {k: v for k, v in asdict(cfg).items() if not (k in LATE_FIELDS and v == LATE_FIELDS[k])}


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


def validate_world(cfg: TrainConfig, world: int) -> None:
    if world > 1 and cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} is the global batch; it must divide by the "
                         f"{world} processes torchrun started")
