"""The one training loop: members trained in lockstep as one stacked model, with checkpoints.

A *member* is one model and the method (``lskd_core.methods``) that turns its
outputs into loss parts. A teacher run has one member; a student sweep has
one member per temperature, all fed by the same batches and augmentations
and by one teacher forward per batch (a paired design that is cheaper and
lowers the variance between temperatures); without augmentation the
teacher's logits are computed once for every row instead. The members train as one
``lskd_core.batched.Stack``. The loop checkpoints atomically at epoch ends,
so a killed run resumes bitwise; ``run_record`` turns a member into the
record a finished run keeps.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from tqdm import tqdm

from . import cache, dist, feature_kd
from .batched import Stack
from .config import TrainConfig, lr_at, validate_world
from .data.batching import batch_rows, batches, num_batches, stream
from .data.prepared import TensorSplit
from .io import atomic_torch_save, load_checkpoint
from .methods import Method, Outputs, total
from .models import Classifier


class NonFiniteLoss(FloatingPointError):
    """Raised when a loss becomes NaN or infinite; the last good checkpoint is kept."""


def _new_curves() -> dict[str, list]:
    return {"epoch": [], "lr": [], "train_loss": [], "train_parts": [], "test_epoch": [], "test_top1": [],
            "test_top5": []}


def evaluated_epochs(curves: dict[str, list]) -> list[int]:
    """The epochs at which ``test_top1``/``test_top5`` were taken (runs made before ``eval_every``
    existed evaluated every epoch and did not record them)."""
    return curves.get("test_epoch", curves["epoch"])


@dataclass
class Member:
    name: str
    model: Classifier
    method: Method
    curves: dict[str, list] = field(default_factory=_new_curves)


def checkpoint_seconds() -> float:
    """Seconds between checkpoints (``LSKD_CHECKPOINT_SECONDS``, default 30).

    A checkpoint is only ever taken at the end of an epoch, so resuming from
    any of them is bitwise equal to not stopping; the cadence only decides how
    much work a kill can cost. Short epochs then skip the write and its fsync.
    """
    from .settings import checkpoint_seconds as seconds

    return seconds()


def _autocast(cfg: TrainConfig, device: torch.device):
    if cfg.amp == "off" or device.type != "cuda":
        return torch.autocast(device.type, enabled=False)
    return torch.autocast("cuda", dtype=torch.bfloat16 if cfg.amp == "bf16" else torch.float16)


@torch.no_grad()
def predict(model: nn.Module, split, cfg: TrainConfig | None = None, features: bool = False,
            batch_size: int = 512) -> tuple[Tensor, Tensor, Tensor | None]:
    """Logits, labels and (optionally) penultimate features of a whole split, in eval mode.

    A ``Stack`` gives logits of shape (members, N, classes).
    """
    from dataclasses import replace

    cfg = replace(cfg or TrainConfig(), batch_size=batch_size)
    device = next(model.parameters()).device
    model.eval()
    logits, labels, feats = [], [], []
    for x, y, _ in batches(split, cfg, 0, train=False):
        x = x.to(device)
        if cfg.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if isinstance(model, Stack):
            z, f = model(x)[0], None
        else:
            f = model.features(x) if isinstance(model, Classifier) else None
            z = model.fc(f) if f is not None else model(x)
        logits.append(z.float().cpu())
        labels.append(y)
        if features:
            feats.append(f.float().cpu())
    dim = 1 if isinstance(model, Stack) else 0
    return torch.cat(logits, dim), torch.cat(labels), (torch.cat(feats) if features else None)


def topk_accuracy(logits: Tensor, labels: Tensor, k: int) -> float:
    k = min(k, logits.shape[1])
    hit = (logits.topk(k, dim=1).indices == labels[:, None]).any(dim=1)
    return 100.0 * hit.double().mean().item()


def hardware(device: torch.device | None = None) -> dict:
    device = device or dist.device()
    hw = {"device": device.type, "cpu": platform.processor() or platform.machine(),
          "cpu_threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version(),
          "world_size": dist.world_size()}
    if device.type == "cuda":
        hw["gpu"] = torch.cuda.get_device_name(device)
    return hw


def fit(members: list[Member], data, cfg: TrainConfig, teacher: nn.Module | None, ckpt_path, desc: str,
        progress: bool) -> float:
    """Train all members as one stack; checkpoint atomically at epoch ends. Returns wall seconds.

    Under torchrun each rank trains on its shard of every global batch and
    only rank 0 writes; every rank evaluates the whole test split, so all
    ranks hold the same curves. On return each member's model holds its
    trained weights.
    """
    run = _Training(members, cfg, teacher)
    for debris in ckpt_path.parent.glob(f".{ckpt_path.name}.*.tmp"):  # a write a kill cut short
        debris.unlink(missing_ok=True)
    start_epoch, wall = run.resume(ckpt_path) if ckpt_path.is_file() else (0, 0.0)
    steps = num_batches(data.train, cfg)
    bar = tqdm(total=cfg.num_epochs * steps, initial=start_epoch * steps, desc=desc,
               disable=not (progress and dist.is_main()), leave=False, mininterval=1.0)
    every, last_save = checkpoint_seconds(), time.monotonic()
    for epoch in range(start_epoch, cfg.num_epochs):
        t0 = time.perf_counter()
        sums = run.train_epoch(data.train, epoch, ckpt_path, bar)
        wall += time.perf_counter() - t0
        run.log_epoch(epoch, sums, data)
        # A lone model's last epoch needs no checkpoint: the caller writes the finished run next.
        # A sweep's does: a kill while its students are written must not retrain them smaller.
        last = epoch + 1 == cfg.num_epochs
        if ((len(members) > 1) if last else time.monotonic() - last_save >= every) and dist.is_main():
            last_save = time.monotonic()
            run.save(ckpt_path, epoch, wall)
        dist.barrier()
        if members[0].curves["test_top1"]:
            bar.set_postfix({m.name: f"{m.curves['test_top1'][-1]:.1f}" for m in members[:4]})
    bar.close()
    for i, m in enumerate(members):
        m.model.load_state_dict(run.stack.member_state(i))
    return wall


class _Training:
    """The state of one ``fit``: the stacked members, their methods and the one optimizer."""

    def __init__(self, members: list[Member], cfg: TrainConfig, teacher: nn.Module | None) -> None:
        self.members, self.cfg = members, cfg
        self.device, self.world, self.rank = dist.device(), dist.world_size(), dist.rank()
        validate_world(cfg, self.world)
        self.features = any(m.method.uses_features for m in members)
        if self.features and self.world > 1:
            raise ValueError("feature distillation is not supported under torchrun yet; run it in one process")
        self.stack = Stack([m.model for m in members]).to(self.device)
        if cfg.channels_last and self.stack.fused:
            self.stack.to(memory_format=torch.channels_last)
        self.methods = nn.ModuleList([m.method for m in members]).to(self.device)
        self.optimizer = torch.optim.SGD([*self.stack.parameters(), *self.methods.parameters()], lr=cfg.lr,
                                         momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        self.net = self.stack
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            dev = self.device
            self.net = DistributedDataParallel(self.stack, device_ids=[dev.index] if dev.type == "cuda" else None)
        self.teacher = teacher.to(self.device).eval() if teacher is not None else None
        if self.teacher is not None and cfg.channels_last:  # the layout of the batches it reads (see load_model)
            self.teacher.to(memory_format=torch.channels_last)
        self._table: Tensor | None = None

    def resume(self, path) -> tuple[int, float]:
        """Load a killed run's last finished epoch; returns the epoch to start at and the wall time so far."""
        state = load_checkpoint(path)
        self.stack.load_state_dict(state["stack"])
        self.methods.load_state_dict(state["methods"])
        self.optimizer.load_state_dict(state["optimizer"])
        for m, c in zip(self.members, state["curves"]):
            m.curves = c
        return state["epoch"] + 1, state["wall_time_s"]

    def save(self, path, epoch: int, wall: float) -> None:
        atomic_torch_save(path, {"epoch": epoch, "wall_time_s": wall, "stack": self.stack.state_dict(),
                                 "methods": self.methods.state_dict(), "optimizer": self.optimizer.state_dict(),
                                 "curves": [m.curves for m in self.members]})

    def train_epoch(self, split, epoch: int, ckpt_path, bar) -> list[dict[str, Tensor]]:
        """One epoch; returns each member's summed loss parts (weighted by batch size) on this rank."""
        cfg, dev, members = self.cfg, self.device, self.members
        torch.manual_seed(stream(cfg.seed, epoch, 10**6).initial_seed())  # dropout, if any
        self.stack.train(), self.methods.train()
        sums: list[dict[str, Tensor]] = [{"loss": torch.zeros((), dtype=torch.float64, device=dev)} for _ in members]
        steps = num_batches(split, cfg)
        # Before a switch (ce_then_kd) no member reads the teacher; skip its forward.
        use_teacher = self.teacher is not None and any(m.method.uses_teacher(epoch) for m in members)
        table = self.teacher_table(split) if use_teacher else None
        rows = (idx[self.rank::self.world] for _, idx in batch_rows(len(split.y), cfg, epoch, True, self.world)) \
            if table is not None else None
        for b, (x, y, n_global) in enumerate(batches(split, cfg, epoch, True, (self.rank, self.world))):
            x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
            if cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            for g in self.optimizer.param_groups:
                g["lr"] = lr_at(cfg, epoch + b / steps)
            with _autocast(cfg, dev):
                if table is not None:
                    t_out = Outputs(table[next(rows)])
                else:
                    t_out = _teacher_outputs(self.teacher, x, self.features) if use_teacher else None
                z, feats = self.net(x, features=self.features)
                parts = [m.method(Outputs(z[i].float(), [f[i] for f in feats] if self.features else None),
                                  y, t_out, epoch) for i, m in enumerate(members)]
            member_loss = torch.stack([total(p) for p in parts])
            finite = torch.isfinite(member_loss)
            if not dist.all_true(bool(finite.all()), dev):
                bad = [members[i].name for i in range(len(members)) if not finite[i]]
                raise NonFiniteLoss(f"{', '.join(bad) or 'another rank'}: loss is not finite at epoch {epoch}, "
                                    f"batch {b}; the last good checkpoint ({ckpt_path}) is kept. Lower lr?")
            self.optimizer.zero_grad(set_to_none=True)
            # Members' parameters are disjoint, so the sum's gradient is each member's own.
            # DDP averages gradients over ranks; this weight makes that average the
            # gradient of the global-batch mean even when shards differ in size.
            loss = member_loss.sum()
            (loss * (len(y) * self.world / n_global) if self.world > 1 else loss).backward()
            self.optimizer.step()
            with torch.no_grad():
                for i, p in enumerate(parts):
                    for k, v in {"loss": member_loss[i], **p}.items():
                        sums[i][k] = sums[i].get(k, 0.0) + v.detach().double() * len(y)
            bar.update(1)
        return sums

    def teacher_table(self, split) -> Tensor | None:
        """The teacher's logits for every training row, when a row's input is the same every epoch.

        Without augmentation the teacher, fixed and in eval mode, gives each
        row the same logits in every epoch, so they are computed once, in one
        pass, and each step reads its rows' logits instead of running the
        teacher (a sixth of a tiny sweep's step). Feature distillation reads the
        teacher's stage features as well, too large to keep, and runs it per step.
        """
        if self.features or self.cfg.augment or not isinstance(split, TensorSplit):
            return None
        if self._table is None:
            self._table = predict(self.teacher, split, self.cfg, batch_size=max(self.cfg.batch_size, 512))[0]
            self._table = self._table.to(self.device)
        return self._table

    def log_epoch(self, epoch: int, sums: list[dict[str, Tensor]], data) -> None:
        """Append the epoch's training losses (over all ranks) to each member's curves, and its test
        accuracy on every ``eval_every``-th epoch and the last."""
        cfg = self.cfg
        n_train = len(data.train.y) if isinstance(data.train, TensorSplit) else len(data.train)
        evaluate = (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.num_epochs
        if evaluate:
            logits, labels, _ = predict(self.stack, data.test, cfg, batch_size=max(cfg.batch_size, 256))
        for i, m in enumerate(self.members):
            total_ = dict(zip(sums[i], dist.sum_floats([float(v) for v in sums[i].values()], self.device)))
            c = m.curves
            c["epoch"].append(epoch + 1)
            c["lr"].append(lr_at(cfg, epoch))
            c["train_loss"].append(total_.pop("loss") / n_train)
            c["train_parts"].append({k: v / n_train for k, v in total_.items()})
            if evaluate:
                c["test_epoch"].append(epoch + 1)
                c["test_top1"].append(topk_accuracy(logits[i], labels, 1))
                c["test_top5"].append(topk_accuracy(logits[i], labels, 5))


def _teacher_outputs(teacher: nn.Module, x: Tensor, with_features: bool) -> Outputs:
    with torch.no_grad():
        if not with_features:
            return Outputs(teacher(x).float())
        with feature_kd.capture(teacher) as tap:
            z = teacher(x).float()
        return Outputs(z, tap.features())


def summary(curves: dict[str, list]) -> dict:
    top1 = curves["test_top1"]
    best = max(range(len(top1)), key=lambda i: top1[i])
    return {"final_top1": top1[-1], "final_top5": curves["test_top5"][-1],
            "best_top1": top1[best], "best_top5": curves["test_top5"][best], "best_epoch": evaluated_epochs(curves)[best]}


def run_record(kind: str, cfg: TrainConfig, wall: float, m: Member, extra: dict) -> dict:
    """The ``record.json`` of a finished run: its summary, curves (with loss parts), wall time and hardware."""
    return {"kind": kind, "arch": cfg.arch, "dataset": cfg.dataset, "seed": cfg.seed, "alpha": cfg.alpha,
            "method": m.method.name, **extra, **summary(m.curves), "curves": m.curves, "wall_time_s": wall,
            "hardware": hardware(), "code_version": cache.code_version(),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
