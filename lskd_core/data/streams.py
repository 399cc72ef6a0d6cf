"""Random streams keyed by (seed, epoch, batch, ...): resumable without any saved RNG state."""

from __future__ import annotations

import torch


def stream(seed: int, *keys: int) -> torch.Generator:
    """An independent random stream for (seed, keys): resumable without saved RNG state."""
    x = seed
    for k in keys:
        x = (x * 1_000_003 + k + 1) % (2**63 - 1)
    return torch.Generator().manual_seed(x)
