"""Training methods: each one turns a model's outputs into named loss parts.

After mdistiller's ``Distiller``: a method is a small object that the loop
calls once per batch with the student's outputs, the targets and (when the
method reads it) the teacher's outputs; it returns a dict of named loss
parts whose sum is the loss. The loop knows no method; it asks a method only
whether it reads the teacher or the features at this epoch, and it logs every
part in the curves. A method is an ``nn.Module`` so that trainable pieces of
its own (feature KD's connectors) are optimised and checkpointed with it.

Notation as in the paper (Sec. 2): ``z`` the student's logits, ``v`` the
teacher's, ``T`` the temperature, ``alpha`` the label-smoothing mixture,
``beta`` the weight of the hard-label term.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from . import feature_kd, losses

METHODS: dict[str, type["Method"]] = {}


def register(name: str):
    def add(cls):
        cls.name = name
        METHODS[name] = cls
        return cls
    return add


@dataclass
class Outputs:
    """What a forward pass hands a method: logits, and the stage features when the method reads them."""

    logits: Tensor
    features: list[Tensor] | None = None


class Method(nn.Module):
    name = "method"
    uses_features = False

    def uses_teacher(self, epoch: int) -> bool:
        return True

    def forward(self, student: Outputs, targets: Tensor, teacher: Outputs | None, epoch: int) -> dict[str, Tensor]:
        raise NotImplementedError


@register("ce")
class CrossEntropy(Method):
    """Label-smoothed cross-entropy, how teachers train: ``{"ce": H((1 - alpha) y + alpha / K, softmax(z))}``."""

    def __init__(self, alpha: float = 0.0) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def uses_teacher(self, epoch: int) -> bool:
        return False

    def forward(self, student, targets, teacher, epoch):
        return {"ce": losses.ls_cross_entropy(student.logits, targets, self.alpha)}


@register("kd")
class KD(Method):
    """Hinton et al.'s KD as the paper trains students (Sec. 2).

    ``{"kd": (1 - beta) T^2 KL(softmax(v/T) || softmax(z/T)), "ce": beta H(y, softmax(z))}``;
    the ``"ce"`` part appears only when ``beta > 0`` (the paper uses ``beta = 0``).
    """

    def __init__(self, temperature: float, beta: float = 0.0) -> None:
        super().__init__()
        self.temperature, self.beta = float(temperature), float(beta)

    def forward(self, student, targets, teacher, epoch):
        return losses.kd_parts(student.logits, teacher.logits, self.temperature, targets, self.beta)


@register("feature_kd")
class FeatureKD(KD):
    """KD plus Heo et al.'s feature loss (Appendix B, Table B.5): KD's parts and ``{"feature": w L_F}``.

    ``L_F = sum_i d_p(max(t_i, m_i), C_i(s_i)) / 2^(n-i) / N`` over matched
    stages ``i``, with ``C_i`` a trainable connector (1x1 conv + batch norm)
    and ``m_i`` the teacher's per-channel margin (``lskd_core.feature_kd``).
    """

    uses_features = True

    def __init__(self, temperature: float, beta: float, weight: float, connectors: feature_kd.Connectors,
                 margins: list[Tensor]) -> None:
        super().__init__(temperature, beta)
        self.weight, self.connectors = float(weight), connectors
        for i, m in enumerate(margins):  # buffers: they follow the method to the training device
            self.register_buffer(f"margin{i}", m.detach().clone(), persistent=False)
        self.n_margins = len(margins)

    def forward(self, student, targets, teacher, epoch):
        parts = super().forward(student, targets, teacher, epoch)
        s, t = self.connectors(student.features, teacher.features)
        margins = [getattr(self, f"margin{i}") for i in range(self.n_margins)]
        fd = feature_kd.feature_distance([f.float() for f in s], [f.float() for f in t], margins)
        parts["feature"] = self.weight * fd
        return parts


@register("ce_then_kd")
class CEThenKD(Method):
    """Nagarajan et al.'s switch: ``{"ce": H(y, softmax(z))}`` before epoch ``from_epoch``, then ``inner``'s parts."""

    def __init__(self, inner: Method, from_epoch: int) -> None:
        super().__init__()
        self.inner, self.from_epoch = inner, int(from_epoch)
        self.uses_features = inner.uses_features

    def uses_teacher(self, epoch: int) -> bool:
        return epoch >= self.from_epoch and self.inner.uses_teacher(epoch)

    def forward(self, student, targets, teacher, epoch):
        if epoch < self.from_epoch:
            return {"ce": losses.ls_cross_entropy(student.logits, targets, 0.0)}
        return self.inner(student, targets, teacher, epoch)


def get_method(name: str, **kwargs) -> Method:
    """The registered method ``name`` built with ``kwargs``; an unknown name fails listing the known ones."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; registered: {', '.join(sorted(METHODS))}")
    return METHODS[name](**kwargs)


def total(parts: dict[str, Tensor]) -> Tensor:
    """The loss a method's parts add up to."""
    return sum(parts.values())
