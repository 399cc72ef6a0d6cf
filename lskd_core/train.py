"""The one training engine: label-smoothed teachers and KD students.

A *member* is one model being trained with its own optimiser and loss. A
teacher run has one member. A student sweep has one member per temperature,
all fed by the same batches and augmentations and by one teacher forward per
batch, a paired design that is cheaper and lowers the variance between
temperatures. Because every member's computation depends only on the seed,
the epoch and the batch, a sweep produces bitwise the same students as
training each one alone (tests/test_train.py shows it).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Iterator

import torch
from torch import Tensor, nn
from tqdm import tqdm

from . import cache, dist, feature_kd, losses
from .data import MODULES
from .data.prepared import TensorSplit, augment_batch, file_split, tensor_split
from .io import atomic_torch_save, load_checkpoint
from .models import ARCHS, Classifier, build

SCHEDULES = ("cosine", "step", "onecycle")
# One-cycle: the rate climbs from lr/25 to lr over this share of training, then
# anneals to lr/1e4 on a cosine (Smith & Topin's shape, as torch's OneCycleLR).
ONECYCLE_RISE = 0.25
# Above this, softmax(z/T) is uniform to float precision for any logits a
# trained model produces, and T^2 * KL only amplifies rounding error (at T=1e6
# the loss reaches -6.6e4). The paper's largest T is 64.
MAX_TEMPERATURE = 1000.0
AMP = ("off", "bf16", "fp16")


class NonFiniteLoss(FloatingPointError):
    """Raised when a loss becomes NaN or infinite; the last good checkpoint is kept."""


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
        return self


def check_temperatures(temperatures) -> tuple[float, ...]:
    temps = tuple(float(t) for t in temperatures)
    if not temps:
        raise ValueError("the temperature list is empty; give at least one, e.g. [1, 2, 3, 64]")
    bad = [t for t in temps if not (0 < t <= MAX_TEMPERATURE)]
    if bad:
        raise ValueError(f"temperatures must lie in (0, {MAX_TEMPERATURE:g}], got {bad}: beyond that the "
                         f"teacher's soft targets are uniform to float precision")
    if len(set(temps)) != len(temps):
        raise ValueError(f"temperatures repeat: {temps}")
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


def _stream(seed: int, *keys: int) -> torch.Generator:
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
    tr = file_split(cfg.dataset, "train", cfg.data_root, train=cfg.augment, image_size=cfg.image_size)
    te = file_split(cfg.dataset, test_name, cfg.data_root, train=False, image_size=cfg.image_size)
    return Data(tr, te, len(tr.classes), 3)


def _batches(split, cfg: TrainConfig, epoch: int, train: bool,
             shard: tuple[int, int] = (0, 1)) -> Iterator[tuple[Tensor, Tensor, int]]:
    """Yield ``(x, y, n_global)``: this rank's rows of each global batch and the global batch size.

    ``shard = (rank, world)``. In memory, every rank draws the same global
    batch and augmentation and keeps rows ``rank::world``, so the union over
    ranks is exactly the one-process batch.
    """
    r, world = shard
    if isinstance(split, TensorSplit):
        n = len(split.y)
        order = torch.randperm(n, generator=_stream(cfg.seed, epoch, 0)) if train else torch.arange(n)
        for b, start in enumerate(range(0, n, cfg.batch_size)):
            idx = order[start: start + cfg.batch_size]
            if len(idx) < world:  # a rank would get no rows; DDP needs every rank in every step
                continue
            x = split.x[idx]
            if train and cfg.augment:
                x = augment_batch(x, split.pad, _stream(cfg.seed, epoch, b + 1))
            yield x[r::world], split.y[idx][r::world], len(idx)
        return
    sampler = None
    if world > 1 and train:
        sampler = torch.utils.data.DistributedSampler(split, num_replicas=world, rank=r, shuffle=True,
                                                      seed=cfg.seed, drop_last=True)
        sampler.set_epoch(epoch)
    loader = torch.utils.data.DataLoader(
        split, batch_size=cfg.batch_size // world if sampler else cfg.batch_size,
        shuffle=train and sampler is None, sampler=sampler, num_workers=cfg.num_workers,
        generator=_stream(cfg.seed, epoch, 0) if train and sampler is None else None,
        pin_memory=torch.cuda.is_available(), persistent_workers=False)
    for x, y in loader:
        yield x, y, len(y) * (world if sampler else 1)


def _num_batches(split, cfg: TrainConfig) -> int:
    n = len(split.y) if isinstance(split, TensorSplit) else len(split)
    return math.ceil(n / cfg.batch_size)


def validate_world(cfg: TrainConfig, world: int) -> None:
    if world > 1 and cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} is the global batch; it must divide by the "
                         f"{world} processes torchrun started")


# ---------------------------------------------------------------- engine


@dataclass
class FeatureTerm:
    """Heo et al.'s feature loss for one student: its connectors, the teacher's margins and the weight."""

    connectors: feature_kd.Connectors
    margins: list[Tensor]
    weight: float


@dataclass
class Member:
    name: str
    model: Classifier
    loss: Callable[[Tensor, Tensor, Tensor | None], Tensor]
    # Nagarajan et al.'s switch: plain cross-entropy before this epoch, ``loss`` from it on.
    kd_from_epoch: int = 0
    feature: FeatureTerm | None = None
    optimizer: torch.optim.Optimizer = field(init=False)
    forward: nn.Module = field(init=False)  # the model, or its DDP wrapper under torchrun
    curves: dict[str, list] = field(default_factory=lambda: {
        "epoch": [], "lr": [], "train_loss": [], "test_top1": [], "test_top5": []})


def checkpoint_seconds() -> float:
    """Seconds between checkpoints (``LSKD_CHECKPOINT_SECONDS``, default 30).

    A checkpoint is only ever taken at the end of an epoch, so resuming from
    any of them is bitwise equal to not stopping; the cadence only decides how
    much work a kill can cost. Short epochs then skip the write and its fsync.
    """
    return float(os.environ.get("LSKD_CHECKPOINT_SECONDS", "30"))


def _device() -> torch.device:
    return dist.device()


def _autocast(cfg: TrainConfig, device: torch.device):
    if cfg.amp == "off" or device.type != "cuda":
        return torch.autocast(device.type, enabled=False)
    return torch.autocast("cuda", dtype=torch.bfloat16 if cfg.amp == "bf16" else torch.float16)


@torch.no_grad()
def predict(model: nn.Module, split, cfg: TrainConfig | None = None, features: bool = False,
            batch_size: int = 512) -> tuple[Tensor, Tensor, Tensor | None]:
    """Logits, labels and (optionally) penultimate features of a whole split, in eval mode."""
    cfg = cfg or TrainConfig(batch_size=batch_size)
    cfg = replace(cfg, batch_size=batch_size)
    device = next(model.parameters()).device
    model.eval()
    logits, labels, feats = [], [], []
    for x, y, _ in _batches(split, cfg, 0, train=False):
        x = x.to(device)
        f = model.features(x) if isinstance(model, Classifier) else None
        z = model.fc(f) if f is not None else model(x)
        logits.append(z.float().cpu())
        labels.append(y)
        if features:
            feats.append(f.float().cpu())
    return torch.cat(logits), torch.cat(labels), (torch.cat(feats) if features else None)


def topk_accuracy(logits: Tensor, labels: Tensor, k: int) -> float:
    k = min(k, logits.shape[1])
    hit = (logits.topk(k, dim=1).indices == labels[:, None]).any(dim=1)
    return 100.0 * hit.double().mean().item()


def _hardware(device: torch.device) -> dict:
    hw = {"device": device.type, "cpu": platform.processor() or platform.machine(),
          "cpu_threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version(),
          "world_size": dist.world_size()}
    if device.type == "cuda":
        hw["gpu"] = torch.cuda.get_device_name(device)
    return hw


def _fit(members: list[Member], data: Data, cfg: TrainConfig, teacher: nn.Module | None,
         ckpt_path, desc: str, progress: bool) -> float:
    """Train all members in lockstep; checkpoint atomically after every epoch. Returns wall seconds.

    Under torchrun each rank trains on its shard of every global batch and
    only rank 0 writes; every rank evaluates the whole test split, so all
    ranks hold the same curves.
    """
    device, world, rank = _device(), dist.world_size(), dist.rank()
    validate_world(cfg, world)
    with_features = any(m.feature for m in members)
    if with_features and world > 1:
        raise ValueError("feature distillation is not supported under torchrun yet; run it in one process")
    progress = progress and dist.is_main()
    for m in members:
        m.model.to(device)
        params = list(m.model.parameters())
        if m.feature:
            m.feature.connectors.to(device)
            m.feature.margins = [t.to(device) for t in m.feature.margins]
            params += list(m.feature.connectors.parameters())
        if cfg.channels_last:
            m.model.to(memory_format=torch.channels_last)
        m.optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        m.forward = m.model
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel

            m.forward = DistributedDataParallel(m.model, device_ids=[device.index] if device.type == "cuda" else None)
    if teacher is not None:
        teacher.to(device).eval()
    start_epoch, wall = 0, 0.0
    for debris in ckpt_path.parent.glob(f".{ckpt_path.name}.*.tmp"):  # a write a kill cut short
        debris.unlink(missing_ok=True)
    if ckpt_path.is_file():  # resume a killed run from its last finished epoch
        state = load_checkpoint(ckpt_path)
        for m, s in zip(members, state["members"]):
            m.model.load_state_dict(s["model"])
            if m.feature:
                m.feature.connectors.load_state_dict(s["connectors"])
            m.optimizer.load_state_dict(s["optimizer"])
            m.curves = s["curves"]
        start_epoch, wall = state["epoch"] + 1, state["wall_time_s"]
    steps = _num_batches(data.train, cfg)
    bar = tqdm(total=cfg.num_epochs * steps, initial=start_epoch * steps, desc=desc, disable=not progress,
               leave=False, mininterval=1.0)
    every, last_save = checkpoint_seconds(), time.monotonic()
    for epoch in range(start_epoch, cfg.num_epochs):
        t0 = time.perf_counter()
        torch.manual_seed(_stream(cfg.seed, epoch, 10**6).initial_seed())  # dropout, if any
        sums = [0.0] * len(members)
        for m in members:
            m.model.train()
            if m.feature:
                m.feature.connectors.train()
        for b, (x, y, n_global) in enumerate(_batches(data.train, cfg, epoch, True, (rank, world))):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            lr = lr_at(cfg, epoch + b / steps)
            with _autocast(cfg, device):
                t_logits, t_feats = None, None
                # Before a switch (kd_from_epoch) no member reads the teacher; skip its forward.
                if teacher is not None and any(epoch >= m.kd_from_epoch for m in members):
                    with torch.no_grad():
                        if with_features:
                            with feature_kd.capture(teacher) as tap:
                                t_logits = teacher(x).float()
                            t_feats = tap.features()
                        else:
                            t_logits = teacher(x).float()
                for i, m in enumerate(members):
                    for g in m.optimizer.param_groups:
                        g["lr"] = lr
                    loss = _member_loss(m, x, y, t_logits, t_feats, epoch)
                    if not dist.all_true(bool(torch.isfinite(loss)), device):
                        raise NonFiniteLoss(f"{m.name}: loss is {loss.item()} at epoch {epoch}, batch {b}; "
                                            f"the last good checkpoint ({ckpt_path}) is kept. Lower lr?")
                    m.optimizer.zero_grad(set_to_none=True)
                    # DDP averages gradients over ranks; this weight makes that average the
                    # gradient of the global-batch mean even when shards differ in size.
                    (loss * (len(y) * world / n_global) if world > 1 else loss).backward()
                    m.optimizer.step()
                    sums[i] += loss.item() * len(y)
            bar.update(1)
        wall += time.perf_counter() - t0
        n_train = len(data.train.y) if isinstance(data.train, TensorSplit) else len(data.train)
        sums = dist.sum_floats(sums, device)
        for i, m in enumerate(members):
            logits, labels, _ = predict(m.model, data.test, cfg, batch_size=max(cfg.batch_size, 256))
            c = m.curves
            c["epoch"].append(epoch + 1)
            c["lr"].append(lr_at(cfg, epoch))
            c["train_loss"].append(sums[i] / n_train)
            c["test_top1"].append(topk_accuracy(logits, labels, 1))
            c["test_top5"].append(topk_accuracy(logits, labels, 5))
        # The last epoch needs no checkpoint: the caller writes the finished run next.
        due = epoch + 1 < cfg.num_epochs and time.monotonic() - last_save >= every
        if due and dist.is_main():
            last_save = time.monotonic()
            atomic_torch_save(ckpt_path, {
                "epoch": epoch, "wall_time_s": wall,
                "members": [{"model": m.model.state_dict(), "optimizer": m.optimizer.state_dict(),
                             "curves": m.curves,
                             **({"connectors": m.feature.connectors.state_dict()} if m.feature else {})}
                            for m in members]})
        dist.barrier()
        bar.set_postfix({m.name: f"{m.curves['test_top1'][-1]:.1f}" for m in members[:4]})
    bar.close()
    return wall


def _member_loss(m: Member, x: Tensor, y: Tensor, t_logits: Tensor | None, t_feats: list[Tensor] | None,
                 epoch: int) -> Tensor:
    if epoch < m.kd_from_epoch:
        return losses.ls_cross_entropy(m.forward(x).float(), y, 0.0)
    if m.feature is None:
        return m.loss(m.forward(x).float(), y, t_logits)
    with feature_kd.capture(m.model) as tap:
        z = m.forward(x).float()
    s_feats, t_sel = m.feature.connectors(tap.features(), t_feats)
    fd = feature_kd.feature_distance([f.float() for f in s_feats], [f.float() for f in t_sel], m.feature.margins)
    return m.loss(z, y, t_logits) + m.feature.weight * fd


def _summary(curves: dict[str, list]) -> dict:
    top1 = curves["test_top1"]
    best = max(range(len(top1)), key=lambda i: top1[i])
    return {"final_top1": top1[-1], "final_top5": curves["test_top5"][-1],
            "best_top1": top1[best], "best_top5": curves["test_top5"][best], "best_epoch": best + 1}


def _record(kind: str, cfg: TrainConfig, wall: float, m: Member, extra: dict) -> dict:
    return {"kind": kind, "arch": cfg.arch, "dataset": cfg.dataset, "seed": cfg.seed, "alpha": cfg.alpha,
            **extra, **_summary(m.curves), "curves": m.curves, "wall_time_s": wall,
            "hardware": _hardware(_device()), "code_version": cache.code_version(),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _new_model(cfg: TrainConfig, data: Data) -> Classifier:
    torch.manual_seed(cfg.seed)  # the initial weights depend on the seed alone
    return build(cfg.arch, data.in_channels, data.num_classes, cfg.small_input, cfg.weights, cfg.weights_sha256)


def teacher_config_dict(cfg: TrainConfig) -> dict:
    return asdict(cfg)


def _progress_default() -> bool:
    # Executed chapters set LSKD_PROGRESS=0: bars belong on a terminal, not in the rendered book.
    return os.environ.get("LSKD_PROGRESS", "1") != "0"


def train_teacher(cfg: TrainConfig, progress: bool | None = None) -> cache.Run:
    """Train (or fetch from the cache) a teacher with label smoothing ``cfg.alpha``."""
    cfg.validate()
    validate_world(cfg, dist.init())
    progress = _progress_default() if progress is None else progress
    conf = teacher_config_dict(cfg)
    run = cache.run_dir("teacher", conf)
    if run.done:
        return run
    # Under torchrun the ranks train together, so only a lone process takes the lock.
    with (cache.lock(run) if dist.world_size() == 1 else contextlib.nullcontext()):
        if not run.done:  # another process may have finished it while we waited
            _train_teacher(cfg, conf, run, progress)
    return run


def _train_teacher(cfg: TrainConfig, conf: dict, run: cache.Run, progress: bool) -> None:
    data = load_data(cfg)
    member = Member(f"a={cfg.alpha}", _new_model(cfg, data),
                    lambda z, y, _t: losses.ls_cross_entropy(z, y, cfg.alpha))
    run.path.mkdir(parents=True, exist_ok=True)
    wall = _fit([member], data, cfg, None, run.path / "checkpoint.pt", f"teacher {cfg.arch} alpha={cfg.alpha}",
                progress)
    if dist.is_main():
        cache.finish_run(run, conf, _record("teacher", cfg, wall, member, {}), member.model.state_dict())
        (run.path / "checkpoint.pt").unlink(missing_ok=True)
    dist.barrier()


def student_config_dict(cfg: TrainConfig, teacher: cache.Run, temperature: float, beta: float,
                        feature_weight: float = 0.0, kd_from_epoch: int = 0) -> dict:
    conf = {"student": asdict(cfg), "teacher_run": teacher.path.name, "temperature": float(temperature),
            "beta": float(beta)}
    # Variants enter the key only when used, so plain KD students keep theirs.
    if feature_weight:
        conf["feature_weight"] = float(feature_weight)
    if kd_from_epoch:
        conf["kd_from_epoch"] = int(kd_from_epoch)
    return conf


def check_variant(cfg: TrainConfig, teacher_cfg: TrainConfig, feature_weight: float, kd_from_epoch: int,
                  beta: float = 0.0) -> None:
    """Reject a bad variant before any training, the teacher's included."""
    if not 0 <= beta <= 1:  # also rejects NaN
        raise ValueError(f"beta (the hard-label weight) must lie in [0, 1], got {beta}")
    if not (feature_weight >= 0 and math.isfinite(feature_weight)):
        raise ValueError(f"feature_weight must be finite and >= 0, got {feature_weight}")
    if feature_weight:
        for c in (cfg, teacher_cfg):
            feature_kd.positions(build(c.arch, 3, 10, c.small_input))
    if not 0 <= kd_from_epoch < cfg.num_epochs:
        raise ValueError(f"kd_from_epoch must lie in [0, num_epochs={cfg.num_epochs}), got {kd_from_epoch}")


def _feature_term(student: Classifier, teacher: Classifier, data: Data, weight: float, seed: int) -> FeatureTerm:
    probe = data.train.x[:2] if isinstance(data.train, TensorSplit) else data.train[0][0][None].repeat(2, 1, 1, 1)
    torch.manual_seed(seed + 104_729)  # connector weights depend on the seed alone, like the model's
    conn = feature_kd.build_connectors(student, teacher, probe)
    all_margins = feature_kd.margins(teacher)
    return FeatureTerm(conn, [all_margins[j] for _, j in conn.pairs], weight)


def train_students(teacher_cfg: TrainConfig, student_cfg: TrainConfig, temperatures, beta: float = 0.0,
                   progress: bool | None = None, feature_weight: float = 0.0,
                   kd_from_epoch: int = 0) -> dict[float, cache.Run]:
    """KD students of one teacher at several temperatures, in one shared pass.

    Students found in the cache are served from it; the missing ones train
    together. Each student's result equals a solo run with the same seed.

    Two variants apply to the whole sweep: ``feature_weight > 0`` adds Heo et
    al.'s feature loss (``lskd_core.feature_kd``) with that weight, and
    ``kd_from_epoch > 0`` trains with cross-entropy before switching to KD at
    that epoch (Nagarajan et al. 2023).
    """
    temps = check_temperatures(temperatures)
    progress = _progress_default() if progress is None else progress
    student_cfg.validate()
    check_variant(student_cfg, teacher_cfg, feature_weight, kd_from_epoch, beta)
    validate_world(student_cfg, dist.init())
    if student_cfg.alpha != 0.0:
        raise ValueError("students learn from the teacher's soft targets; set the student's alpha to 0")
    if student_cfg.dataset != teacher_cfg.dataset:
        raise ValueError("teacher and student must use the same data set")
    teacher_run = train_teacher(teacher_cfg, progress)
    def conf_for(t: float) -> dict:
        return student_config_dict(student_cfg, teacher_run, t, beta, feature_weight, kd_from_epoch)

    runs = {t: cache.run_dir("student", conf_for(t)) for t in temps}
    todo = [t for t in temps if not runs[t].done]
    if not todo:
        return runs
    # The work folder's name covers the todo list, so a resumed sweep finds its own checkpoint.
    work = cache.run_dir("sweep", {"students": [runs[t].path.name for t in todo]})
    with (cache.lock(work) if dist.world_size() == 1 else contextlib.nullcontext()):
        # An identical sweep may have finished meanwhile, wholly or (killed while
        # writing its students) in part; the latter's rest trains as a new sweep below.
        if all(not runs[t].done for t in todo):
            _train_sweep(teacher_cfg, student_cfg, teacher_run, todo, runs, conf_for, work, beta,
                         feature_weight, kd_from_epoch, progress)
    if dist.is_main() and not all(runs[t].done for t in temps):
        return train_students(teacher_cfg, student_cfg, temps, beta, progress, feature_weight, kd_from_epoch)
    return runs


def _train_sweep(teacher_cfg: TrainConfig, student_cfg: TrainConfig, teacher_run: cache.Run, todo: list[float],
                 runs: dict[float, cache.Run], conf_for, work: cache.Run, beta: float, feature_weight: float,
                 kd_from_epoch: int, progress: bool) -> None:
    data = load_data(student_cfg)
    teacher = build(teacher_cfg.arch, data.in_channels, data.num_classes, teacher_cfg.small_input)
    teacher.load_state_dict(teacher_run.state_dict())
    members = [Member(f"T={t:g}", _new_model(student_cfg, data),
                      (lambda z, y, tz, _t=t: losses.kd_loss(z, tz, _t, y, beta)), kd_from_epoch) for t in todo]
    if feature_weight:
        for m in members:
            m.feature = _feature_term(m.model, teacher, data, feature_weight, student_cfg.seed)
    work.path.mkdir(parents=True, exist_ok=True)
    wall = _fit(members, data, student_cfg, teacher, work.path / "checkpoint.pt",
                f"students {student_cfg.arch} <- alpha={teacher_cfg.alpha}", progress)
    if not dist.is_main():
        dist.barrier()
        return
    for t, m in zip(todo, members):
        rec = _record("student", student_cfg, wall, m, {
            "temperature": t, "beta": beta, "teacher_alpha": teacher_cfg.alpha, "teacher_run": teacher_run.path.name,
            "teacher_arch": teacher_cfg.arch, "sweep_size": len(todo), "feature_weight": feature_weight,
            "kd_from_epoch": kd_from_epoch})
        cache.finish_run(runs[t], conf_for(t), rec, m.model.state_dict())
    # Everything in the work folder is now in the finished runs; a debris file must not fail the sweep.
    shutil.rmtree(work.path, ignore_errors=True)
    dist.barrier()


def load_model(run: cache.Run, data: Data | None = None) -> Classifier:
    conf = run.config()
    cfg = TrainConfig(**(conf["student"] if "student" in conf else conf))
    data = data or load_data(cfg)
    model = build(cfg.arch, data.in_channels, data.num_classes, cfg.small_input)
    model.load_state_dict(run.state_dict())
    return model.eval()
