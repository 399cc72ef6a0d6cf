"""The one training loop: members trained in lockstep as one stacked model, with checkpoints.

A *member* is one model and the method (``lskd_core.methods``) that turns its
outputs into loss parts. A teacher run has one member; a student sweep has
one member per temperature, all fed by the same batches and augmentations
and by one teacher forward per batch (a paired design that is cheaper and
lowers the variance between temperatures).

The members are *batched*: their parameters are stacked on a new first axis
(``torch.func.stack_module_state``) and one ``vmap``-ed ``functional_call``
runs all of them, so a sweep of four students takes one forward, one backward
and one optimizer step per batch instead of four. SGD with momentum and weight
decay is elementwise, so one optimizer over the stacked parameters is exactly
one optimizer per member. The stacked convolutions are grouped convolutions,
whose rounding can differ from a lone model's: a student trained in a sweep
equals the same student trained alone to float tolerance, and bitwise when
the sweep is repeated (tests/test_batched.py).
"""

from __future__ import annotations

import copy
import os
import platform
import time
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap
from tqdm import tqdm

from . import cache, dist, feature_kd
from .config import TrainConfig, batches, lr_at, num_batches, stream, validate_world
from .data.prepared import TensorSplit
from .io import atomic_torch_save, load_checkpoint
from .methods import Method, Outputs, total
from .models import Classifier


class NonFiniteLoss(FloatingPointError):
    """Raised when a loss becomes NaN or infinite; the last good checkpoint is kept."""


def _new_curves() -> dict[str, list]:
    return {"epoch": [], "lr": [], "train_loss": [], "train_parts": [], "test_top1": [], "test_top5": []}


@dataclass
class Member:
    name: str
    model: Classifier
    method: Method
    curves: dict[str, list] = field(default_factory=_new_curves)


class _FusedLinear(nn.Module):
    """``M`` linear layers as one: input (N, M*in) in member blocks (or a shared (N, in)), output (N, M*out)."""

    def __init__(self, layers: list[nn.Linear], shared: bool) -> None:
        super().__init__()
        self.shared, self.m = shared, len(layers)
        self.weight = nn.Parameter(torch.stack([lay.weight.detach() for lay in layers]))
        self.bias = nn.Parameter(torch.stack([lay.bias.detach() for lay in layers])) if layers[0].bias is not None else None

    def forward(self, x: Tensor) -> Tensor:
        n = x.shape[0]
        z = (torch.einsum("ni,moi->nmo", x, self.weight) if self.shared else
             torch.einsum("nmi,moi->nmo", x.reshape(n, self.m, -1), self.weight))
        if self.bias is not None:
            z = z + self.bias
        return z.reshape(n, -1)


def _fuse(models: list[nn.Module]) -> tuple[nn.Module, dict[str, str]] | None:
    """One model whose every layer holds all members side by side in its channels, or None.

    Convolutions become grouped convolutions (``groups`` times the member
    count), batch norms and linear layers hold every member's channels, and
    the first layer reads the shared input. The activations then stay one
    (N, members*C, H, W) tensor from input to logits, which on a CPU is what
    makes training several small models at once faster than one by one.
    Models with other parametrised layers are not fused (the caller vmaps them).
    """
    m = len(models)
    fused = copy.deepcopy(models[0])
    kinds: dict[str, str] = {}
    for name, leaf in list(fused.named_modules()):
        if not (any(True for _ in leaf.parameters(recurse=False)) or any(True for _ in leaf.buffers(recurse=False))):
            continue
        layers = [mod.get_submodule(name) for mod in models]
        shared = not kinds
        if isinstance(leaf, nn.Conv2d) and leaf.padding_mode == "zeros" and not (shared and leaf.groups != 1):
            new = nn.Conv2d(leaf.in_channels * (1 if shared else m), leaf.out_channels * m, leaf.kernel_size,
                            leaf.stride, leaf.padding, leaf.dilation, leaf.groups * (1 if shared else m),
                            bias=leaf.bias is not None)
            kind = "cat"
        elif isinstance(leaf, nn.BatchNorm2d) and leaf.affine and leaf.track_running_stats and not shared:
            new = nn.BatchNorm2d(leaf.num_features * m, leaf.eps, leaf.momentum)
            new.num_batches_tracked.copy_(leaf.num_batches_tracked)
            kind = "cat"
        elif isinstance(leaf, nn.Linear):
            new, kind = _FusedLinear(layers, shared), "stack"
        else:
            return None
        if kind == "cat":
            with torch.no_grad():
                for key, t in new.named_parameters(recurse=False):
                    t.copy_(torch.cat([getattr(lay, key).detach() for lay in layers]))
                for key in ("running_mean", "running_var"):
                    if hasattr(new, key) and getattr(new, key) is not None:
                        getattr(new, key).copy_(torch.cat([getattr(lay, key) for lay in layers]))
        parent, _, attr = name.rpartition(".")
        setattr(fused.get_submodule(parent) if parent else fused, attr, new)
        kinds[name] = kind
    return (fused, kinds) if kinds else None


class Stack(nn.Module):
    """Models of one architecture trained as one module.

    ``forward(x)`` gives logits of shape (members, N, classes) and, with
    ``features=True``, each stage's pre-ReLU features stacked the same way.
    Models made of convolutions, batch norms and linear layers are *fused*
    (``_fuse``: grouped convolutions, one activation tensor for all members);
    any other architecture is stacked with ``torch.func.stack_module_state``
    and run by ``vmap``. Either way it is an ordinary module, so DDP and the
    optimizer see ordinary parameters.
    """

    def __init__(self, models: list[nn.Module]) -> None:
        super().__init__()
        self.size, self.classes = len(models), models[0].fc.out_features
        got = _fuse(models) if len(models) > 1 else (copy.deepcopy(models[0]), {})
        if len(models) > 1 and got is not None and not _same_outputs(got[0], models):
            got = None  # a forward that mixes channels (a layer norm, a reshape) cannot be fused
        self.fused = got is not None
        if self.fused:
            self.net, self._kinds = got
            return
        params, buffers = stack_module_state(models)
        # The template only supplies the code of the forward; its own tensors are never read.
        self.__dict__["template"] = copy.deepcopy(models[0]).to("meta")
        self._params = {n: n.replace(".", "__") for n in params}
        self._buffers_ = {n: n.replace(".", "__") for n in buffers}
        for n, k in self._params.items():
            self.register_parameter(k, nn.Parameter(params[n].detach().clone()))
        for n, k in self._buffers_.items():
            self.register_buffer(k, buffers[n].detach().clone())

    def train(self, mode: bool = True) -> "Stack":
        if not self.fused:
            self.template.train(mode)
        return super().train(mode)

    def forward(self, x: Tensor, features: bool = False) -> tuple[Tensor, tuple[Tensor, ...]]:
        if self.fused:
            return self._fused_forward(x, features)
        p = {n: getattr(self, k) for n, k in self._params.items()}
        b = {n: getattr(self, k) for n, k in self._buffers_.items()}

        def one(p, b, x):
            if not features:
                return functional_call(self.template, (p, b), (x,)), ()
            with feature_kd.capture(self.template) as tap:
                z = functional_call(self.template, (p, b), (x,))
            return z, tuple(tap.features())

        return vmap(one, in_dims=(0, 0, None), randomness="different")(p, b, x)

    def _fused_forward(self, x: Tensor, features: bool) -> tuple[Tensor, tuple[Tensor, ...]]:
        n, m = x.shape[0], self.size

        def split(t: Tensor) -> Tensor:  # (N, M*C, ...) -> (M, N, C, ...)
            return t.reshape(n, m, t.shape[1] // m, *t.shape[2:]).transpose(0, 1)

        if not features:
            return split(self.net(x)), ()
        with feature_kd.capture(self.net) as tap:
            z = self.net(x)
        return split(z), tuple(split(f) for f in tap.features())

    def member_state(self, i: int) -> dict[str, Tensor]:
        """Member ``i``'s state dict, as its own model would have it."""
        if not self.fused:
            names = {**self._params, **self._buffers_}
            return {n: getattr(self, k)[i].detach().clone() for n, k in names.items()}
        out = {}
        for key, t in self.net.state_dict().items():
            layer, _, leaf = key.rpartition(".")
            kind = self._kinds.get(layer)
            if kind == "stack":
                t = t[i]
            elif kind == "cat" and leaf != "num_batches_tracked":
                t = t.chunk(self.size)[i]
            out[key] = t.detach().clone()
        return out


@torch.no_grad()
def _same_outputs(net: nn.Module, models: list[nn.Module]) -> bool:
    """Does the fused model compute what the members do? Checked once, on a random probe, in eval mode."""
    conv = next((mod for mod in models[0].modules() if isinstance(mod, (nn.Conv2d, nn.Linear))), None)
    if conv is None:
        return False
    was = [mod.training for mod in models]
    net.eval(), [mod.eval() for mod in models]
    try:
        gen = torch.Generator().manual_seed(0)
        size = 32
        channels = conv.in_channels if isinstance(conv, nn.Conv2d) else None
        probe = (torch.randn(2, channels, size, size, generator=gen) if channels else
                 torch.randn(2, conv.in_features, generator=gen))
        try:
            z = net(probe)
        except RuntimeError:
            return False
        n, m = probe.shape[0], len(models)
        z = z.reshape(n, m, -1).transpose(0, 1)
        return all(torch.allclose(z[i], mod(probe), rtol=1e-4, atol=1e-4) for i, mod in enumerate(models))
    finally:
        net.train(), [mod.train(w) for mod, w in zip(models, was)]


def checkpoint_seconds() -> float:
    """Seconds between checkpoints (``LSKD_CHECKPOINT_SECONDS``, default 30).

    A checkpoint is only ever taken at the end of an epoch, so resuming from
    any of them is bitwise equal to not stopping; the cadence only decides how
    much work a kill can cost. Short epochs then skip the write and its fsync.
    """
    return float(os.environ.get("LSKD_CHECKPOINT_SECONDS", "30"))


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
    device, world, rank = dist.device(), dist.world_size(), dist.rank()
    validate_world(cfg, world)
    with_features = any(m.method.uses_features for m in members)
    if with_features and world > 1:
        raise ValueError("feature distillation is not supported under torchrun yet; run it in one process")
    progress = progress and dist.is_main()
    stack = Stack([m.model for m in members]).to(device)
    if cfg.channels_last and stack.fused:
        stack.to(memory_format=torch.channels_last)
    methods = nn.ModuleList([m.method for m in members]).to(device)
    optimizer = torch.optim.SGD([*stack.parameters(), *methods.parameters()], lr=cfg.lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay)
    net = stack
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(stack, device_ids=[device.index] if device.type == "cuda" else None)
    if teacher is not None:
        teacher.to(device).eval()
    start_epoch, wall = 0, 0.0
    for debris in ckpt_path.parent.glob(f".{ckpt_path.name}.*.tmp"):  # a write a kill cut short
        debris.unlink(missing_ok=True)
    if ckpt_path.is_file():  # resume a killed run from its last finished epoch
        state = load_checkpoint(ckpt_path)
        stack.load_state_dict(state["stack"])
        methods.load_state_dict(state["methods"])
        optimizer.load_state_dict(state["optimizer"])
        for m, c in zip(members, state["curves"]):
            m.curves = c
        start_epoch, wall = state["epoch"] + 1, state["wall_time_s"]
    steps = num_batches(data.train, cfg)
    bar = tqdm(total=cfg.num_epochs * steps, initial=start_epoch * steps, desc=desc, disable=not progress,
               leave=False, mininterval=1.0)
    every, last_save = checkpoint_seconds(), time.monotonic()
    n_train = len(data.train.y) if isinstance(data.train, TensorSplit) else len(data.train)
    for epoch in range(start_epoch, cfg.num_epochs):
        t0 = time.perf_counter()
        torch.manual_seed(stream(cfg.seed, epoch, 10**6).initial_seed())  # dropout, if any
        stack.train(), methods.train()
        sums = torch.zeros(len(members), dtype=torch.float64, device=device)
        part_sums: list[dict[str, Tensor]] = [{} for _ in members]
        # Before a switch (ce_then_kd) no member reads the teacher; skip its forward.
        use_teacher = teacher is not None and any(m.method.uses_teacher(epoch) for m in members)
        for b, (x, y, n_global) in enumerate(batches(data.train, cfg, epoch, True, (rank, world))):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            for g in optimizer.param_groups:
                g["lr"] = lr_at(cfg, epoch + b / steps)
            with _autocast(cfg, device):
                t_out = _teacher_outputs(teacher, x, with_features) if use_teacher else None
                z, feats = net(x, features=with_features)
                parts = [m.method(Outputs(z[i].float(), [f[i] for f in feats] if with_features else None),
                                  y, t_out, epoch) for i, m in enumerate(members)]
            member_loss = torch.stack([total(p) for p in parts])
            finite = torch.isfinite(member_loss)
            if not dist.all_true(bool(finite.all()), device):
                bad = [members[i].name for i in range(len(members)) if not finite[i]]
                raise NonFiniteLoss(f"{', '.join(bad) or 'another rank'}: loss is not finite at epoch {epoch}, "
                                    f"batch {b}; the last good checkpoint ({ckpt_path}) is kept. Lower lr?")
            optimizer.zero_grad(set_to_none=True)
            # Members' parameters are disjoint, so the sum's gradient is each member's own.
            # DDP averages gradients over ranks; this weight makes that average the
            # gradient of the global-batch mean even when shards differ in size.
            loss = member_loss.sum()
            (loss * (len(y) * world / n_global) if world > 1 else loss).backward()
            optimizer.step()
            with torch.no_grad():
                sums += member_loss.detach().double() * len(y)
                for i, p in enumerate(parts):
                    for k, v in p.items():
                        part_sums[i][k] = part_sums[i].get(k, 0.0) + v.detach().double() * len(y)
            bar.update(1)
        wall += time.perf_counter() - t0
        means = dist.sum_floats(sums.tolist(), device)
        parts_mean = [{k: float(v) for k, v in zip(ps, dist.sum_floats([float(v) for v in ps.values()], device))}
                      for ps in part_sums]
        logits, labels, _ = predict(stack, data.test, cfg, batch_size=max(cfg.batch_size, 256))
        for i, m in enumerate(members):
            c = m.curves
            c["epoch"].append(epoch + 1)
            c["lr"].append(lr_at(cfg, epoch))
            c["train_loss"].append(means[i] / n_train)
            c["train_parts"].append({k: v / n_train for k, v in parts_mean[i].items()})
            c["test_top1"].append(topk_accuracy(logits[i], labels, 1))
            c["test_top5"].append(topk_accuracy(logits[i], labels, 5))
        # A lone model's last epoch needs no checkpoint: the caller writes the finished run next.
        # A sweep's does: a kill while its students are written must not retrain them smaller.
        last = epoch + 1 == cfg.num_epochs
        due = (len(members) > 1) if last else time.monotonic() - last_save >= every
        if due and dist.is_main():
            last_save = time.monotonic()
            atomic_torch_save(ckpt_path, {"epoch": epoch, "wall_time_s": wall, "stack": stack.state_dict(),
                                          "methods": methods.state_dict(), "optimizer": optimizer.state_dict(),
                                          "curves": [m.curves for m in members]})
        dist.barrier()
        bar.set_postfix({m.name: f"{m.curves['test_top1'][-1]:.1f}" for m in members[:4]})
    bar.close()
    for i, m in enumerate(members):
        m.model.load_state_dict(stack.member_state(i))
    return wall


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
            "best_top1": top1[best], "best_top5": curves["test_top5"][best], "best_epoch": best + 1}


def run_record(kind: str, cfg: TrainConfig, wall: float, m: Member, extra: dict) -> dict:
    """The ``record.json`` of a finished run: its summary, curves (with loss parts), wall time and hardware."""
    return {"kind": kind, "arch": cfg.arch, "dataset": cfg.dataset, "seed": cfg.seed, "alpha": cfg.alpha,
            "method": m.method.name, **extra, **summary(m.curves), "curves": m.curves, "wall_time_s": wall,
            "hardware": hardware(), "code_version": cache.code_version(),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
