"""Feature distillation of Heo et al. (2019), "A Comprehensive Overhaul of Feature Distillation".

The paper (Appendix B, Table B.5) adds it to KD to ask whether an LS teacher
still hurts at high T when the student also copies intermediate features.
Three pieces, each a pure function, plus the position finder:

- the teacher's features are taken *before* a stage's last ReLU;
- the teacher transform is a margin ReLU ``max(t, m_c)`` whose per-channel
  margin ``m_c = E[x | x < 0]`` is computed from the batch-norm before it;
- the distance is a *partial* L2 that ignores elements where the student is
  already below a non-positive teacher value (the ReLU would hide them).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor, nn

# Below this probability of a negative value the closed form is unstable; Heo et al. use -3 sigma there.
_MIN_NEG_MASS = 1e-3


def gaussian_margin(mean: Tensor, std: Tensor) -> Tensor:
    """Per-channel margin ``m = E[x | x < 0]`` for ``x ~ N(mean, std^2)`` (Heo et al. 2019, Eq. 2).

    ``m = mean - std * phi(mean/std) / Phi(-mean/std)``, with ``phi`` and
    ``Phi`` the standard normal density and distribution. Where
    ``Phi(-mean/std) < 1e-3`` the channel is almost never negative and the
    margin is set to ``-3 * std``.
    """
    std = std.abs().clamp_min(1e-12)
    r = mean / std
    neg_mass = torch.special.ndtr(-r)
    density = torch.exp(-0.5 * r**2) / math.sqrt(2 * math.pi)
    m = mean - std * density / neg_mass.clamp_min(1e-30)
    return torch.where(neg_mass < _MIN_NEG_MASS, -3 * std, m)


def margin_relu(teacher: Tensor, margin: Tensor) -> Tensor:
    """Teacher transform ``sigma_m(t) = max(t, m_c)`` per channel (Heo et al. 2019, Eq. 1); ``t`` is (N, C, ...)."""
    shape = (1, -1) + (1,) * (teacher.dim() - 2)
    return torch.maximum(teacher, margin.view(shape).to(teacher.dtype))


def partial_l2(student: Tensor, teacher: Tensor) -> Tensor:
    """Partial L2 distance summed over all elements (Heo et al. 2019, Eq. 3).

    ``d_p(T, S) = sum_i 0 if S_i <= T_i <= 0 else (T_i - S_i)^2``.
    """
    keep = (student > teacher) | (teacher > 0)
    return ((student - teacher) ** 2 * keep).sum()


def feature_distance(student_feats: list[Tensor], teacher_feats: list[Tensor], margins: list[Tensor]) -> Tensor:
    """Heo et al.'s feature loss over positions ``i = 1..n``, averaged over the batch.

    ``L_F = sum_i d_p(sigma_m(T_i), S_i) / 2^(n - i) / N``: deeper positions
    weigh more, as in the authors' code. Student features must already be
    mapped to the teacher's channels by a connector.
    """
    n, batch = len(student_feats), student_feats[0].shape[0]
    total = student_feats[0].new_zeros(())
    for i, (s, t, m) in enumerate(zip(student_feats, teacher_feats, margins)):
        total = total + partial_l2(s, margin_relu(t.detach(), m)) / 2 ** (n - i - 1)
    return total / batch


# ---------------------------------------------------------------- positions in a model


def positions(model: nn.Module) -> list[tuple[nn.Module, nn.BatchNorm2d]]:
    """The pre-ReLU positions of a model: ``(relu_module, batch_norm_before_it)`` per stage.

    Our small models mark each stage's closing ReLU as ``StageReLU``;
    torchvision ResNets use the last block of every layer.
    """
    from .models import StageReLU

    found = [(mod, mod.bn) for mod in model.modules() if isinstance(mod, StageReLU)]
    if not found and hasattr(model, "backbone") and hasattr(model.backbone, "layer1"):
        net = model.backbone
        for name in ("layer1", "layer2", "layer3", "layer4"):
            block = getattr(net, name)[-1]
            bn = getattr(block, "bn3", None) or block.bn2
            found.append((block.relu, bn))
    if not found:
        raise ValueError(f"{type(model).__name__} has no convolutional stages to distil features from; "
                         "use a convnet or resnet architecture")
    return found


class FeatureTap:
    """Pre-ReLU stage features of the latest forward of a model (see ``capture``)."""

    def __init__(self, n: int) -> None:
        self._store: dict[int, Tensor] = {}
        self.n = n

    def features(self) -> list[Tensor]:
        if len(self._store) != self.n:
            raise RuntimeError("no forward pass has run inside capture() yet")
        return [self._store[i] for i in range(self.n)]


@contextmanager
def capture(model: nn.Module) -> Iterator[FeatureTap]:
    """Inside the block, every forward of ``model`` records its pre-ReLU stage features in the tap.

    A module applied several times per forward (torchvision's shared ReLU)
    keeps its last input, which is the block's output before activation.
    Inputs of in-place ReLUs are cloned, since the ReLU overwrites them.
    """
    mods = [m for m, _ in positions(model)]
    tap = FeatureTap(len(mods))

    def hook(i: int):
        def fn(mod: nn.Module, inp: tuple[Tensor, ...]) -> None:
            tap._store[i] = inp[0].clone() if getattr(mod, "inplace", False) else inp[0]
        return fn

    handles = [m.register_forward_pre_hook(hook(i)) for i, m in enumerate(mods)]
    try:
        yield tap
    finally:
        for h in handles:
            h.remove()


def margins(model: nn.Module) -> list[Tensor]:
    """Margins of every position from the batch-norm affine parameters (output ~ N(bias, weight^2))."""
    return [gaussian_margin(bn.bias.detach().float(), bn.weight.detach().float()) for _, bn in positions(model)]


def pair_positions(student_shapes: list[torch.Size], teacher_shapes: list[torch.Size]) -> list[tuple[int, int]]:
    """Match student to teacher positions by spatial size; the deepest of each size is used.

    Returns ``(student_index, teacher_index)`` pairs, shallow to deep.
    """
    def deepest(shapes):
        last: dict[tuple, int] = {}
        for i, s in enumerate(shapes):
            last[tuple(s[2:])] = i
        return last

    s_last, t_last = deepest(student_shapes), deepest(teacher_shapes)
    pairs = sorted((i, t_last[hw]) for hw, i in s_last.items() if hw in t_last)
    if not pairs:
        raise ValueError(f"no student stage matches a teacher stage in spatial size: student "
                         f"{[tuple(s[2:]) for s in student_shapes]}, teacher {[tuple(s[2:]) for s in teacher_shapes]}")
    return pairs


class Connectors(nn.Module):
    """Heo et al.'s connector per matched position: 1x1 conv + batch norm, student -> teacher channels."""

    def __init__(self, pairs: list[tuple[int, int]], student_channels: list[int], teacher_channels: list[int]):
        super().__init__()
        self.pairs = pairs
        self.maps = nn.ModuleList(
            nn.Sequential(nn.Conv2d(student_channels[i], teacher_channels[j], 1, bias=False),
                          nn.BatchNorm2d(teacher_channels[j])) for i, j in pairs)

    def forward(self, student_feats: list[Tensor], teacher_feats: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        s = [conv(student_feats[i]) for conv, (i, _) in zip(self.maps, self.pairs)]
        t = [teacher_feats[j] for _, j in self.pairs]
        return s, t


@torch.no_grad()
def build_connectors(student: nn.Module, teacher: nn.Module, example: Tensor) -> Connectors:
    """Probe both models with one batch to find the positions' shapes, then pair them."""
    was = student.training, teacher.training
    student.eval(), teacher.eval()
    with capture(student) as sf, capture(teacher) as tf:
        student(example)
        teacher(example)
        s_shapes, t_shapes = [f.shape for f in sf.features()], [f.shape for f in tf.features()]
    student.train(was[0]), teacher.train(was[1])
    pairs = pair_positions(s_shapes, t_shapes)
    return Connectors(pairs, [s[1] for s in s_shapes], [t[1] for t in t_shapes])
