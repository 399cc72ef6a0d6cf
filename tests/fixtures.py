"""Tiny data sets written in each real on-disk format."""

import gzip
import pickle
from pathlib import Path

import numpy as np
from PIL import Image


def _jpeg(path: Path, seed: int, size=(20, 16)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, format="JPEG")


def make_imagenet(root: Path, wnids=("n01440764", "n01443537", "n02099601"), per_class=(3, 2)) -> Path:
    for split, n in zip(("train", "val"), per_class):
        for c, w in enumerate(wnids):
            for i in range(n):
                _jpeg(root / split / w / f"{w}_{i}.JPEG", 100 * c + i)
    return root


def make_cub(root: Path, classes=("001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"),
             per_class=4) -> Path:
    images, labels, split = [], [], []
    n = 0
    for c, name in enumerate(classes, 1):
        for i in range(per_class):
            n += 1
            rel = f"{name}/{name.split('.')[1]}_{i:04d}.jpg"
            _jpeg(root / "images" / rel, n)
            images.append(f"{n} {rel}")
            labels.append(f"{n} {c}")
            split.append(f"{n} {1 if i % 2 == 0 else 0}")
    (root / "images.txt").write_text("\n".join(images) + "\n")
    (root / "image_class_labels.txt").write_text("\n".join(labels) + "\n")
    (root / "train_test_split.txt").write_text("\n".join(split) + "\n")
    (root / "classes.txt").write_text("\n".join(f"{i} {c}" for i, c in enumerate(classes, 1)) + "\n")
    return root


def make_cifar100(root: Path, n_train=40, n_test=20) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    g = np.random.default_rng(0)
    fine_names = [f"fine_{i}".encode() for i in range(100)]
    coarse_names = [f"coarse_{i}".encode() for i in range(20)]
    with open(root / "meta", "wb") as fh:
        pickle.dump({b"fine_label_names": fine_names, b"coarse_label_names": coarse_names}, fh)
    for split, n in (("train", n_train), ("test", n_test)):
        fine = [i % 100 for i in range(n)]
        with open(root / split, "wb") as fh:
            pickle.dump({b"data": g.integers(0, 255, size=(n, 3072), dtype=np.uint8),
                         b"fine_labels": fine, b"coarse_labels": [f // 5 for f in fine],
                         b"filenames": [f"{i}.png".encode() for i in range(n)]}, fh)
    return root


def idx_bytes(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def write_idx_gz(path: Path, arr: np.ndarray) -> None:
    path.write_bytes(gzip.compress(idx_bytes(arr)))


def write_mo(path: Path, pairs, big_endian: bool = False) -> Path:
    """A GNU .mo catalogue (the format msgfmt writes), entries sorted by msgid as msgfmt does."""
    import struct

    entries = sorted([("", "Content-Type: text/plain; charset=UTF-8\n")] + list(pairs))
    order = ">" if big_endian else "<"
    n = len(entries)
    orig_tab, trans_tab = 28, 28 + 8 * n
    data_start = 28 + 16 * n
    ids = [e[0].encode() for e in entries]
    strs = [e[1].encode() for e in entries]
    blob, o_tab, t_tab = b"", [], []
    for b in ids:
        o_tab.append((len(b), data_start + len(blob)))
        blob += b + b"\0"
    for b in strs:
        t_tab.append((len(b), data_start + len(blob)))
        blob += b + b"\0"
    head = struct.pack(order + "7I", 0x950412DE, 0, n, orig_tab, trans_tab, 0, 0)
    body = b"".join(struct.pack(order + "2I", *x) for x in o_tab) + b"".join(struct.pack(order + "2I", *x) for x in t_tab)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(head + body + blob)
    return path
