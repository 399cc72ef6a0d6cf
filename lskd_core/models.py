"""Teachers and students. Every model is a ``Classifier``: a backbone that
returns the penultimate features and one final linear layer ``fc``, which the
projection (Müller et al. 2019) and the diffusion index need."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from .io import file_sha256


class Classifier(nn.Module):
    def __init__(self, backbone: nn.Module, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(feature_dim, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate activations, shape (N, feature_dim)."""
        return self.backbone(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.backbone(x))


class StageReLU(nn.ReLU):
    """The ReLU that closes a stage: feature distillation reads its input (the pre-ReLU features).

    It remembers the batch norm before it, whose affine parameters give the
    margin of Heo et al. The reference bypasses module registration so that
    state dicts keep the same keys.
    """

    def __init__(self, bn: nn.BatchNorm2d) -> None:
        super().__init__(inplace=False)
        object.__setattr__(self, "bn", bn)


def _conv_bn(cin: int, cout: int, stride: int = 1, stage: bool = False) -> nn.Sequential:
    bn = nn.BatchNorm2d(cout)
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), bn,
                         StageReLU(bn) if stage else nn.ReLU(inplace=True))


class _Residual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn(cin, cout, stride), nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(cout))
        self.skip = (nn.Identity() if stride == 1 and cin == cout else
                     nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))
        self.act = StageReLU(self.body[-1])

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.body(x) + self.skip(x))


def small_convnet(in_channels: int, num_classes: int, widths: tuple[int, ...] = (16, 32)) -> Classifier:
    """Plain conv-BN-ReLU stages with 2x pooling, then global average pooling."""
    layers: list[nn.Module] = []
    cin = in_channels
    for w in widths:
        layers += [_conv_bn(cin, w, stage=True), nn.MaxPool2d(2)]
        cin = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return Classifier(nn.Sequential(*layers), cin, num_classes)


def small_resnet(in_channels: int, num_classes: int, widths: tuple[int, ...] = (32, 64, 128)) -> Classifier:
    """A ResNet for small inputs: 3x3 stem, one residual block per stage, stride 2 between stages."""
    layers: list[nn.Module] = [_conv_bn(in_channels, widths[0])]
    cin = widths[0]
    for i, w in enumerate(widths):
        layers.append(_Residual(cin, w, 1 if i == 0 else 2))
        cin = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return Classifier(nn.Sequential(*layers), cin, num_classes)


def small_mlp(in_channels: int, num_classes: int, hidden: int = 128) -> Classifier:
    """A normalisation-free model: 7x7 average pooling, then one hidden ReLU layer.

    Having no batch norm, its multi-process training matches one process
    exactly up to float rounding, which is what the DDP test checks.
    """
    backbone = nn.Sequential(nn.AdaptiveAvgPool2d(7), nn.Flatten(), nn.Linear(in_channels * 49, hidden),
                             nn.ReLU(inplace=True))
    return Classifier(backbone, hidden, num_classes)


def _torchvision(name: str, num_classes: int, small_input: bool, state: dict | None = None) -> Classifier:
    """A torchvision network as a ``Classifier``; ``state`` (its ImageNet weights) is loaded before its
    1000-class head is replaced by a fresh ``fc``, as the paper's CUB recipe fine-tunes."""
    from torchvision import models as tvm

    net = getattr(tvm, name)(weights=None)
    if state is not None:
        net.load_state_dict(state)
    if name.startswith("resnet"):
        if small_input:  # CIFAR-style stem keeps 32x32 inputs from collapsing to 1x1
            net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
            net.maxpool = nn.Identity()
        dim = net.fc.in_features
        net.fc = nn.Identity()
        return Classifier(net, dim, num_classes)
    if name in ("mobilenet_v2", "efficientnet_b0"):
        dim = net.classifier[-1].in_features
        backbone = nn.Sequential(net.features, nn.AdaptiveAvgPool2d(1), nn.Flatten(), net.classifier[0])
        return Classifier(backbone, dim, num_classes)
    if name == "convnext_tiny":
        dim = net.classifier[-1].in_features
        backbone = nn.Sequential(net.features, net.avgpool, net.classifier[0], net.classifier[1])
        return Classifier(backbone, dim, num_classes)
    raise ValueError(name)


ARCHS: dict[str, Callable[..., Classifier]] = {
    "mlp_s": lambda c, k, small_input=True: small_mlp(c, k),
    "convnet_s": lambda c, k, small_input=True: small_convnet(c, k, (16, 32)),
    "convnet_m": lambda c, k, small_input=True: small_convnet(c, k, (32, 64)),
    # Three-stage CNNs: on 2 CPU cores they reach their plateau on the whole of
    # Fashion-MNIST in minutes (README, "Converged profiles").
    "convnet3_s": lambda c, k, small_input=True: small_convnet(c, k, (8, 16, 32)),
    "convnet3_m": lambda c, k, small_input=True: small_convnet(c, k, (16, 32, 64)),
    # The ends of the testbed search's capacity lever (bench/testbed_search.py).
    "convnet3_xs": lambda c, k, small_input=True: small_convnet(c, k, (4, 8, 16)),
    "convnet3_l": lambda c, k, small_input=True: small_convnet(c, k, (32, 64, 128)),
    "resnet_s": lambda c, k, small_input=True: small_resnet(c, k, (16, 32, 64)),
    "resnet_m": lambda c, k, small_input=True: small_resnet(c, k, (32, 64, 128)),
    **{n: (lambda c, k, small_input=False, _n=n: _torchvision(_n, k, small_input))
       for n in ("resnet18", "resnet50", "mobilenet_v2", "efficientnet_b0", "convnext_tiny")},
}


# What ``pretrained=True`` loaded when the paper was written (torchvision's IMAGENET1K_V1): the
# CUB recipe (Appendix C) fine-tunes from these. torch.hub names each file after the first 8
# hex digits of its SHA-256, so a file keeping its published name carries its own checksum.
PAPER_WEIGHTS = {"resnet18": "ResNet18_Weights", "resnet50": "ResNet50_Weights",
                 "mobilenet_v2": "MobileNet_V2_Weights", "convnext_tiny": "ConvNeXt_Tiny_Weights",
                 "efficientnet_b0": "EfficientNet_B0_Weights"}
_HUB_NAME = re.compile(r"-([0-9a-f]{8,64})\.pth?$")
_DIGESTS: dict[tuple, str] = {}


def paper_weights(arch: str) -> dict:
    """The published file of ``arch``'s ImageNet weights, read from the installed torchvision."""
    from torchvision import models as tvm

    if arch not in PAPER_WEIGHTS:
        raise ValueError(f"no ImageNet weights are published for {arch!r}; known: {', '.join(PAPER_WEIGHTS)}")
    url = getattr(tvm, PAPER_WEIGHTS[arch]).IMAGENET1K_V1.url
    name = url.rsplit("/", 1)[1]
    return {"arch": arch, "file": name, "url": url, "sha256_prefix": _HUB_NAME.search(name).group(1)}


def _weights_digest(path: Path) -> str:
    # Remembered per file version: a config's validation and its model's build both check the file.
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = file_sha256(path)
    return _DIGESTS[key]


def check_weights(weights: str, sha256: str | None = None) -> str:
    """Fail at once unless the weights file exists and is the expected one; return its SHA-256.

    The expected digest is ``sha256`` (all of it or a prefix), or else the one
    its torch.hub file name carries (``resnet50-0676ba61.pth``).
    """
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    want = (sha256 or "").strip().lower()
    if not want:
        m = _HUB_NAME.search(path.name)
        if not m:
            raise ValueError(f"weights {path}: give weights_sha256, or keep the published file name "
                             f"(<name>-<first 8 hex digits of its SHA-256>.pth)")
        want = m.group(1)
    got = _weights_digest(path)
    if not got.startswith(want):
        raise ValueError(f"weights {path}: sha256 {got} does not match the expected {want}")
    return got


def build(arch: str, in_channels: int, num_classes: int, small_input: bool = False,
          weights: str | None = None, weights_sha256: str | None = None) -> Classifier:
    """Build ``arch``; optionally load a local weights file whose checksum is checked first.

    The file is either this book's own ``Classifier`` state (keys ``backbone.*``,
    ``fc.*``) or a torchvision ImageNet state, whose head is then replaced.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r}; valid: {', '.join(ARCHS)}")
    if not weights:
        return ARCHS[arch](in_channels, num_classes, small_input=small_input)
    check_weights(weights, weights_sha256)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    if any(k.startswith("backbone.") for k in state):
        model = ARCHS[arch](in_channels, num_classes, small_input=small_input)
        model.load_state_dict(state)
        return model
    if arch not in PAPER_WEIGHTS:
        raise ValueError(f"weights {weights}: not a state of this book's {arch}, and {arch} has no torchvision "
                         f"ImageNet weights")
    return _torchvision(arch, num_classes, small_input, state)
