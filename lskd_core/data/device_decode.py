"""JPEG folders decoded and augmented on the training device: the GPU input pipeline.

With ``TrainConfig.decode = "device"`` a file-based split (ImageNet, CUB)
is read as raw bytes by a few threads, decoded in batches by
``torchvision.io.decode_jpeg`` on the training device (nvJPEG on a CUDA GPU),
then cropped, flipped and normalised there. The CPU workers then only read
files, which is what keeps 16 cores ahead of an H100 at ResNet-50 sizes
(``bench/gpu_loader.py`` measures it). Without a GPU the same code decodes on
the CPU in the training process; the default stays ``decode = "cpu"``
(torchvision transforms in DataLoader workers).

Augmentation follows Appendix C for ImageNet: a random-resized crop (scale
0.08-1, aspect 3/4-4/3, torchvision's sampling rule) and a horizontal flip
(for CUB the CPU path adds a rotation and colour jitter, which this one omits);
evaluation resizes the shorter side to ``size * 256 / 224`` and takes the
centre crop. Randomness comes from ``streams.stream(seed, epoch, batch)``, so a
batch is a function of the seed, the epoch and its index, as in memory.
"""

from __future__ import annotations

import math
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from .folders import ImageListDataset

READ_THREADS = 8
PREFETCH = 2  # batches decoded ahead of the one training


def crop_box(h: int, w: int, gen: torch.Generator, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` of a random-resized crop: torchvision's rule (10 tries, then centre)."""
    area = h * w
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        u = torch.rand(2, generator=gen, dtype=torch.float64).tolist()
        target = area * (scale[0] + (scale[1] - scale[0]) * u[0])
        aspect = math.exp(log_r[0] + (log_r[1] - log_r[0]) * u[1])
        cw, ch = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(torch.randint(0, h - ch + 1, (1,), generator=gen))
            left = int(torch.randint(0, w - cw + 1, (1,), generator=gen))
            return top, left, ch, cw
    in_ratio = w / h
    if in_ratio < ratio[0]:
        cw, ch = w, round(w / ratio[0])
    elif in_ratio > ratio[1]:
        ch, cw = h, round(h * ratio[1])
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def centre_box(h: int, w: int, size: int) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """Evaluation: the resized shape (shorter side ``size * 256 / 224``) and the centre crop in it."""
    short = int(size * 256 / 224)
    rh, rw = (short, max(1, round(w * short / h))) if h <= w else (max(1, round(h * short / w)), short)
    return (rh, rw), ((rh - size) // 2, (rw - size) // 2, size, size)


def _read(path) -> Tensor:
    from torchvision.io import read_file

    return read_file(str(path))


def _decode(raw: list[Tensor], device: torch.device) -> list[Tensor]:
    """uint8 (3, H, W) images on ``device``; JPEGs in one batched call, anything else one by one on the CPU."""
    from torchvision.io import ImageReadMode, decode_image, decode_jpeg

    is_jpeg = [len(r) > 2 and int(r[0]) == 0xFF and int(r[1]) == 0xD8 for r in raw]
    out: list[Tensor | None] = [None] * len(raw)
    jpegs = [r for r, j in zip(raw, is_jpeg) if j]
    if jpegs:
        decoded = decode_jpeg(jpegs, mode=ImageReadMode.RGB, device=device)
        it = iter(decoded)
        for i, j in enumerate(is_jpeg):
            if j:
                out[i] = next(it)
    for i, j in enumerate(is_jpeg):
        if not j:
            out[i] = decode_image(raw[i], mode=ImageReadMode.RGB).to(device)
    return out  # type: ignore[return-value]


def transform(images: list[Tensor], train: bool, size: int, mean, std, gen: torch.Generator) -> Tensor:
    """Crop (random-resized or centre), resize to ``size``, flip (train) and normalise: (N, 3, size, size) float."""
    device = images[0].device
    out = torch.empty(len(images), 3, size, size, device=device)
    for i, img in enumerate(images):
        h, w = img.shape[-2:]
        x = img.unsqueeze(0).float()
        if train:
            top, left, ch, cw = crop_box(h, w, gen)
            x = F.interpolate(x[..., top: top + ch, left: left + cw], size=(size, size), mode="bilinear",
                              antialias=True, align_corners=False)
        else:
            shape, (top, left, ch, cw) = centre_box(h, w, size)
            x = F.interpolate(x, size=shape, mode="bilinear", antialias=True, align_corners=False)
            x = x[..., top: top + ch, left: left + cw]
        out[i] = x[0]
    if train:
        flip = (torch.rand(len(images), generator=gen) < 0.5).to(device)
        out = torch.where(flip[:, None, None, None], out.flip(-1), out)
    m = torch.tensor(mean, device=device).view(1, -1, 1, 1) * 255
    s = torch.tensor(std, device=device).view(1, -1, 1, 1) * 255
    return (out.clamp_(0, 255) - m) / s


def device_batches(split: ImageListDataset, batch_size: int, seed: int, epoch: int, train: bool, size: int, mean,
                   std, device: torch.device | str, shard: tuple[int, int] = (0, 1),
                   augment: bool | None = None) -> Iterator[tuple[Tensor, Tensor, int]]:
    """``(x, y, n_global)`` like ``batching.batches``: this rank's rows of each global batch, decoded on ``device``.

    ``train`` shuffles; ``augment`` (default: ``train``) crops at random and flips.

    Files of the next ``PREFETCH`` batches are read and decoded by a
    background thread while the current batch trains.
    """
    from .streams import stream

    r, world = shard
    device = torch.device(device)
    augment = train if augment is None else augment
    n = len(split)
    order = torch.randperm(n, generator=stream(seed, epoch, 0)) if train else torch.arange(n)
    starts = list(range(0, n, batch_size))
    ready: queue.Queue = queue.Queue(maxsize=PREFETCH)
    stop = threading.Event()

    def produce() -> None:
        try:
            with ThreadPoolExecutor(READ_THREADS) as pool:
                for b, start in enumerate(starts):
                    if stop.is_set():
                        return
                    idx = order[start: start + batch_size]
                    if len(idx) < world:
                        continue
                    mine = idx[r::world].tolist()
                    raw = list(pool.map(_read, (split.items[i][0] for i in mine)))
                    x = transform(_decode(raw, device), augment, size, mean, std, stream(seed, epoch, b + 1))
                    y = torch.tensor([split.items[i][1] for i in mine])
                    ready.put((x, y, len(idx)))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            ready.put(exc)
            return
        ready.put(None)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # drain, so a producer blocked on a full queue can see the stop
            try:
                ready.get(timeout=0.1)
            except queue.Empty:
                pass
