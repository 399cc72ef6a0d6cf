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
    """CIFAR-100's python layout with its real class and superclass names (from the committed WordNet table)."""
    from lskd_core.data.cifar100 import wordnet_table

    root.mkdir(parents=True, exist_ok=True)
    g = np.random.default_rng(0)
    table = wordnet_table()
    fine_names = sorted(table)
    coarse_names = sorted({row["superclass"] for row in table.values()})
    coarse_of = [coarse_names.index(table[f]["superclass"]) for f in fine_names]
    with open(root / "meta", "wb") as fh:
        pickle.dump({b"fine_label_names": [f.encode() for f in fine_names],
                     b"coarse_label_names": [c.encode() for c in coarse_names]}, fh)
    for split, n in (("train", n_train), ("test", n_test)):
        fine = [i % 100 for i in range(n)]
        with open(root / split, "wb") as fh:
            pickle.dump({b"data": g.integers(0, 255, size=(n, 3072), dtype=np.uint8),
                         b"fine_labels": fine, b"coarse_labels": [coarse_of[f] for f in fine],
                         b"filenames": [f"{i}.png".encode() for i in range(n)]}, fh)
    return root


def fixture_manifest(folder: Path, name: str, root: Path) -> Path:
    """A manifest for a fixture copy, written to ``folder`` (point LSKD_DATA_MANIFESTS at it).

    It keeps the committed manifest's description and input, and lists the
    fixture's own files with their MD5s and its own counts, so the fixture is
    checked by the same ``verify`` a real copy is.
    """
    import hashlib
    import json

    from lskd_core.data import MODULES, load_manifest

    real = load_manifest(name)
    counts = MODULES[name].counts(root)
    lines = [f"name = {json.dumps(name)}", f"title = {json.dumps(real.title + ' (test fixture)')}",
             f"source = {json.dumps('tests/fixtures.py')}", f"citation = {json.dumps(real.citation)}",
             f"licence = {json.dumps(real.licence)}", f"num_classes = {counts['classes']}", "",
             "[input]", *(f"{k} = {json.dumps(v)}" for k, v in real.input.items()), ""]
    for spec in real.files:
        if (root / spec.path).is_file():
            md5 = hashlib.md5((root / spec.path).read_bytes()).hexdigest()
            lines += ["[[files]]", f"path = {json.dumps(spec.path)}", f"md5 = {json.dumps(md5)}", ""]
    lines += ["[counts]", *(f"{json.dumps(k)} = {v}" for k, v in counts.items())]
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{name}.toml"
    out.write_text("\n".join(lines) + "\n")
    return out


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
