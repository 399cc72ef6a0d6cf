"""Multi-process training under ``torchrun`` (DistributedDataParallel).

The engine calls :func:`init` itself, so any ``lskd`` command runs
distributed when started by ``torchrun``; without the torchrun environment
everything here is a no-op on one process. The backend is NCCL on GPUs and
gloo on CPUs (the CPU path is what CI tests).

How a global batch is split: every rank draws the same global batch and
augmentation from the seed, then keeps the rows ``rank::world``. Each rank's
loss is weighted by ``n_rank * world / n_global`` so that DDP's gradient
average equals the gradient of the global-batch mean, as in one process.
Batch normalisation still sees only its rank's rows (as in the paper's
multi-GPU runs); a BN-free model matches one process up to float rounding.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as td


def world_size() -> int:
    return td.get_world_size() if td.is_available() and td.is_initialized() else 1


def rank() -> int:
    return td.get_rank() if td.is_available() and td.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def init() -> int:
    """Join the process group when started by torchrun; returns the world size."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or td.is_initialized():
        return world_size()
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        td.init_process_group("nccl")
    else:
        td.init_process_group("gloo")
    return world_size()


def cpus() -> int:
    """The CPU cores this process may use (``settings.usable_cpus``)."""
    from .settings import usable_cpus

    return usable_cpus()


def device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) if world_size() > 1 else 0)
    return torch.device("cpu")


def barrier() -> None:
    if world_size() > 1:
        td.barrier()


def all_true(flag: bool, dev: torch.device) -> bool:
    """True on every rank only if ``flag`` holds on every rank (so all ranks stop together)."""
    if world_size() == 1:
        return flag
    t = torch.tensor([0.0 if flag else 1.0], device=dev)
    td.all_reduce(t)
    return t.item() == 0.0


def sum_floats(values: list[float], dev: torch.device) -> list[float]:
    if world_size() == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=dev)
    td.all_reduce(t)
    return t.tolist()
