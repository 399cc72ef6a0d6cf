"""The GPU input pipeline against synthetic tensors, side by side in one run.

    python bench/gpu_loader.py [--images 4096] [--quick] [--json OUT]

Writes an ImageNet-layout folder of JPEGs at ImageNet-like sizes (about
500x375, quality 90, 1000 wnid folders' worth of naming), then measures
images/s of:

1. the loaders alone, one epoch each: torchvision transforms in DataLoader
   workers (one per core, ``decode="cpu"``), and JPEGs decoded and augmented on
   the device (``decode="device"``, ``lskd_core.data.device_decode``);
2. ResNet-50 -> ResNet-18 KD end to end (bf16, channels_last, batch 256),
   fed by each loader and by synthetic tensors already on the device.

The goal (issue 15): the device-decoded KD reaches at least 90 % of the
synthetic-tensor KD throughput with the machine's cores. Without a GPU the
script still runs (``--quick``, on the CPU) to prove the pipeline end to end;
its figures then say nothing about a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lskd_core.config import TrainConfig  # noqa: E402
from lskd_core.data.batching import batches  # noqa: E402
from lskd_core.data.imagenet import dataset  # noqa: E402
from lskd_core.data.prepared import transforms_for  # noqa: E402
from run import resnet_kd  # noqa: E402  (bench/run.py, this folder)


def write_folder(root: Path, n: int, classes: int, quick: bool) -> Path:
    """``n`` JPEGs of smooth random content at ImageNet-like sizes under ROOT/train/<wnid>/."""
    from PIL import Image

    g = np.random.default_rng(0)
    for i in range(n):
        w, h = (int(g.integers(64, 96)), int(g.integers(48, 72))) if quick else \
            (int(g.integers(400, 600)), int(g.integers(300, 450)))
        # Low-frequency content compresses like a photograph, unlike white noise.
        small = g.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((w, h), Image.BICUBIC)
        folder = root / "train" / f"n{1440764 + i % classes:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        img.save(folder / f"img_{i:06d}.JPEG", format="JPEG", quality=90)
    return root


def loader(kind: str, ds, cfg: TrainConfig, device: torch.device):
    """One epoch of (x, y) on ``device`` from the named input path."""
    if kind == "device":
        for x, y, _ in batches(ds, cfg, 0, True):
            yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        return
    cpu_cfg = TrainConfig(**{**cfg.__dict__, "decode": "cpu"})
    ds.transform = transforms_for("imagenet1k", train=True, image_size=cfg.image_size)
    for x, y, _ in batches(ds, cpu_cfg, 0, True):
        yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def synthetic(n_batches: int, bs: int, size: int, device: torch.device):
    x = torch.randn(bs, 3, size, size, device=device)
    y = torch.randint(0, 1000, (bs,), device=device)
    for _ in range(n_batches):
        yield x, y


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def rate(batches_iter, step, device) -> float:
    n, t0 = 0, None
    for i, (x, y) in enumerate(batches_iter):
        if i == 1:  # the first batch pays for warm-up (cudnn autotune, worker start)
            sync(device)
            t0, n = time.perf_counter(), 0
        step(x, y)
        n += len(y)
    sync(device)
    return n / (time.perf_counter() - t0) if t0 else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=4096)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--quick", action="store_true", help="small images and models' inputs: proves the path on a CPU")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    size = 64 if a.quick else 224
    bs = min(a.batch, 32) if a.quick else a.batch
    n = min(a.images, 256) if a.quick else a.images
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        root = write_folder(Path(tmp) / "imagenet", n, 100, a.quick)
        made = time.perf_counter() - t0
        ds = dataset(root, "train")
        cfg = TrainConfig(dataset="imagenet1k", data_root=str(root), batch_size=bs, image_size=size,
                          num_workers=os.cpu_count() or 1, decode="device", small_input=False)
        out = {"device": torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU ({platform.processor()})",
               "cpu_cores": os.cpu_count(), "images": n, "batch": bs, "size": size, "torch": torch.__version__,
               "folder_written_s": round(made, 1)}
        # 1. Loaders alone.
        for kind in ("cpu", "device"):
            out[f"loader_{kind}_images_per_s"] = rate(loader(kind, ds, cfg, device), lambda x, y: None, device)

        # 2. KD end to end, the same step as bench/run.py's GPU benchmark.
        _, _, kd = resnet_kd(device)

        def kd_step(x, y):
            kd(x)

        steps = -(-n // bs)
        out["kd_synthetic_images_per_s"] = rate(synthetic(steps, bs, size, device), kd_step, device)
        for kind in ("cpu", "device"):
            out[f"kd_{kind}_images_per_s"] = rate(loader(kind, ds, cfg, device), kd_step, device)
        for kind in ("cpu", "device"):
            out[f"kd_{kind}_over_synthetic"] = out[f"kd_{kind}_images_per_s"] / out["kd_synthetic_images_per_s"]
    if device.type != "cuda":
        out["note"] = "no GPU: these CPU figures prove the pipeline runs; they are not the GPU measurement"
    print(json.dumps(out, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
