"""Several models of one architecture trained as one module: the batched sweep.

A sweep's students see the same batches and the same teacher outputs, so they
can share every forward, backward and optimizer step. ``Stack`` fuses them into
one network whose convolutions are grouped by member (``groups`` times the
member count) and whose batch norms and linear layers hold every member's
channels; the activations stay one (N, members*C, H, W) tensor from input to
logits, which on a CPU is what makes training four small models at once faster
than one after another (``bench/run.py --only batched``). An architecture that
cannot be fused (a layer that mixes channels) is stacked with
``torch.func.stack_module_state`` and run by ``vmap``. SGD with momentum and
weight decay is elementwise, so one optimizer over the stacked parameters is
exactly one optimizer per member. Grouped convolutions add in another order
than a lone model's: a member equals the same model trained alone to float
rounding, and bitwise when the same sweep is repeated (tests/test_batched.py).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from . import feature_kd


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
