"""The data layer: IDX parsing, manifests, verification messages, and the
loaders for ImageNet, CUB-200-2011 and CIFAR-100 on fixtures in their real formats."""

import dataclasses
from pathlib import Path
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from lskd_core import data
from lskd_core.data import DataError, cifar100, cub, fashion_mnist, imagenet, load_manifest
from lskd_core.data.idx import parse_idx, read_idx
from lskd_core.data.prepared import augment_batch, tensor_split
from fixtures import idx_bytes, make_cifar100, make_cub, make_imagenet, write_idx_gz


# ------------------------------------------------------------ IDX / Fashion-MNIST

def test_idx_roundtrip_and_truncation(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert (parse_idx(idx_bytes(arr)) == arr).all()
    with pytest.raises(DataError, match="truncated or padded"):
        parse_idx(idx_bytes(arr)[:-5])
    with pytest.raises(DataError, match="bad magic"):
        parse_idx(b"\x01\x02\x08\x01")
    p = tmp_path / "x.gz"
    p.write_bytes(__import__("gzip").compress(idx_bytes(arr))[:-10])
    with pytest.raises(DataError, match="gzip stream is truncated"):
        read_idx(p)


def test_fashion_mnist_embedded_copy_verifies():
    counts = data.verify("fashion_mnist")
    assert counts == {"train": 60000, "test": 10000, "classes": 10}
    x, y = fashion_mnist.load(fashion_mnist.DEFAULT_ROOT, "test")
    assert x.shape == (10000, 28, 28) and x.dtype == torch.uint8
    assert torch.bincount(y).tolist() == [1000] * 10


def _copy_fm(tmp_path):
    root = tmp_path / "fm"
    shutil.copytree(fashion_mnist.DEFAULT_ROOT, root)
    return root


def test_wrong_checksum_is_named(tmp_path):
    root = _copy_fm(tmp_path)
    labels = read_idx(root / "t10k-labels-idx1-ubyte.gz").copy()
    labels[0] = (labels[0] + 1) % 10
    write_idx_gz(root / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(DataError, match=r"wrong checksum for .*t10k-labels-idx1-ubyte.gz"):
        data.verify("fashion_mnist", root)


def test_missing_file_is_named(tmp_path):
    root = _copy_fm(tmp_path)
    (root / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"missing file .*train-labels.*apt-get install dataset-fashion-mnist"):
        data.verify("fashion_mnist", root)


def test_truncated_idx_is_named(tmp_path):
    root = _copy_fm(tmp_path)
    p = root / "t10k-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])
    with pytest.raises(DataError, match="truncated"):
        data.verify("fashion_mnist", root)


def test_missing_root_is_named(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        data.verify("fashion_mnist", tmp_path / "nowhere")


def test_subset_is_class_balanced_and_seed_independent():
    a = tensor_split("fashion_mnist", "train", n=500)
    b = tensor_split("fashion_mnist", "train", n=500)
    assert len(a.y) == 500 and torch.bincount(a.y).tolist() == [50] * 10
    assert torch.equal(a.x, b.x)
    assert abs(a.x.mean().item()) < 0.2  # normalised


def test_augmentation_is_a_pure_function_of_the_generator():
    s = tensor_split("fashion_mnist", "test", n=100)
    x = s.x[:16]
    a = augment_batch(x, 2, torch.Generator().manual_seed(5))
    b = augment_batch(x, 2, torch.Generator().manual_seed(5))
    c = augment_batch(x, 2, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c) and a.shape == x.shape



def _augment_loop(x, pad, generator):
    """The per-sample definition: pad, crop at (dy, dx), flip; same draws in the same order."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        crop = padded[i, :, dy[i]: dy[i] + h, dx[i]: dx[i] + w]
        out[i] = crop.flip(-1) if flip[i] else crop
    return out


@pytest.mark.parametrize("pad,shape", [(2, (33, 1, 28, 28)), (4, (9, 3, 32, 32)), (0, (4, 2, 5, 7))])
def test_vectorised_augmentation_equals_the_per_sample_loop(pad, shape):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    fast = augment_batch(x, pad, torch.Generator().manual_seed(9))
    slow = _augment_loop(x, pad, torch.Generator().manual_seed(9))
    assert torch.equal(fast, slow)


def test_augmentation_keeps_the_image_content():
    # A crop of a padded image keeps every pixel of the overlap: with pad 1 at
    # least (h-1)x(w-1) pixels of each sample survive, and a flip is a permutation.
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6) + 1
    out = augment_batch(x, 1, torch.Generator().manual_seed(0))
    for i in range(2):
        kept = set(out[i].flatten().tolist()) - {0.0}
        assert kept <= set(x[i].flatten().tolist()) and len(kept) >= 25


# ------------------------------------------------------------ manifests

def test_every_manifest_is_complete():
    for name in data.available():
        m = load_manifest(name)
        assert m.source and m.citation and m.licence and m.counts and m.num_classes > 0
        assert m.counts.get("classes") == m.num_classes
        assert "hierarchy" in m.extra, f"{name}: no class list or hierarchy source"


def test_unknown_dataset_lists_valid_ones():
    with pytest.raises(DataError, match="known: .*fashion_mnist"):
        load_manifest("mnist-ish")


# ------------------------------------------------------------ ImageNet

def test_imagenet_fixture_loads_and_verifies(tmp_path):
    root = make_imagenet(tmp_path / "imnet")
    ds = imagenet.dataset(root, "train")
    assert len(ds) == 9 and ds.classes == ["n01440764", "n01443537", "n02099601"]
    img, y = ds[4]
    assert img.size == (20, 16) and y == 1
    m = dataclasses.replace(load_manifest("imagenet1k"), counts={"train": 9, "val": 6, "classes": 3})
    assert data.verify("imagenet1k", root, manifest=m)["val"] == 6
    with pytest.raises(DataError, match=r"wrong count for 'train': found 9, expected 1281167"):
        data.verify("imagenet1k", root)


def test_imagenet_rejects_unsorted_val_and_truncated_jpeg(tmp_path):
    root = make_imagenet(tmp_path / "imnet")
    (root / "val" / "ILSVRC2012_val_00000001.JPEG").write_bytes(b"")
    (root / "val" / "loose").mkdir()
    with pytest.raises(DataError, match="not a WordNet id"):
        imagenet.counts(root)
    root2 = make_imagenet(tmp_path / "imnet2")
    p = next((root2 / "train" / "n01440764").iterdir())
    p.write_bytes(p.read_bytes()[:20])
    ds = imagenet.dataset(root2, "train")
    with pytest.raises(DataError, match="truncated or corrupt"):
        ds[[i for i, (q, _) in enumerate(ds.items) if q == p][0]]


# ------------------------------------------------------------ CUB-200-2011

def test_cub_fixture_loads_and_verifies(tmp_path):
    root = make_cub(tmp_path / "CUB_200_2011")
    tr, te = cub.dataset(root, "train"), cub.dataset(root, "test")
    assert len(tr) == 6 and len(te) == 6 and tr.classes[0] == "001.Black_footed_Albatross"
    assert sorted(set(tr.targets)) == [0, 1, 2]
    m = dataclasses.replace(load_manifest("cub200"), counts={"images": 12, "train": 6, "test": 6, "classes": 3})
    assert data.verify("cub200", root, manifest=m)["classes"] == 3
    with pytest.raises(DataError, match="wrong count for 'images': found 12, expected 11788"):
        data.verify("cub200", root)


def test_cub_missing_index_file_and_missing_image(tmp_path):
    root = make_cub(tmp_path / "CUB_200_2011")
    (root / "train_test_split.txt").unlink()
    with pytest.raises(DataError, match="missing file .*train_test_split.txt"):
        data.verify("cub200", root)
    root2 = make_cub(tmp_path / "CUB2")
    next((root2 / "images").rglob("*.jpg")).unlink()
    with pytest.raises(DataError, match="which does not exist"):
        cub.counts(root2)


# ------------------------------------------------------------ CIFAR-100

def test_cifar100_fixture_loads_with_superclasses(tmp_path):
    root = make_cifar100(tmp_path / "cifar-100-python")
    x, fine, coarse = cifar100.load(root, "train")
    assert x.shape == (40, 3, 32, 32) and x.dtype == torch.uint8
    fine_names, coarse_names = cifar100.meta(root)
    assert len(fine_names) == 100 and len(coarse_names) == 20
    of = cifar100.superclass_of(root)  # from the labels, against the class names in meta
    assert fine_names[37] == "house" and coarse_names[of[37]] == "large_man-made_outdoor_things"
    assert cifar100.counts(root) == {"classes": 100, "superclasses": 20, "train": 40, "test": 20}


def test_cifar100_fixture_fails_checksums_and_truncation(tmp_path):
    root = make_cifar100(tmp_path / "cifar-100-python")
    with pytest.raises(DataError, match="wrong checksum for .*train: md5"):
        data.verify("cifar100", root)
    (root / "test").write_bytes((root / "test").read_bytes()[:100])
    with pytest.raises(DataError, match="truncated"):
        cifar100.load(root, "test")


# ------------------------------------------------------------ CLI

@pytest.mark.slow
def test_cli_verify_ok_and_error_messages(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "lskd_core.cli", "data", "verify", "fashion_mnist"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and '"train": 60000' in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "lskd_core.cli", "data", "verify", "cub200", "--root",
                          str(make_cub(tmp_path / "c"))], capture_output=True, text=True)
    assert bad.returncode == 2 and "wrong count for 'images'" in bad.stderr


# ------------------------------------------------------------ file-based augmentation and training

@pytest.mark.parametrize("dataset", ["imagenet1k", "cub200"])
def test_file_transforms_shape_normalise_and_vary(dataset):
    from PIL import Image

    from lskd_core.data.prepared import _stats, transforms_for

    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8))
    train_tf, eval_tf = transforms_for(dataset, True, 24), transforms_for(dataset, False, 24)
    torch.manual_seed(0)
    a, b = train_tf(img), train_tf(img)
    assert a.shape == b.shape == (3, 24, 24) and not torch.equal(a, b)  # random crops differ
    e1, e2 = eval_tf(img), eval_tf(img)
    assert torch.equal(e1, e2) and e1.shape == (3, 24, 24)  # evaluation is deterministic
    # Normalisation: the eval tensor equals (pixel/255 - mean)/std of the centre crop.
    mean, std = _stats(dataset)
    raw = eval_tf.transforms[-2](eval_tf.transforms[1](eval_tf.transforms[0](img)))
    torch.testing.assert_close(e1, (raw - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None])
    names = [type(t).__name__ for t in train_tf.transforms]
    assert ("RandomRotation" in names and "ColorJitter" in names) == (dataset == "cub200")


def test_engine_trains_on_a_file_based_fixture(tmp_path, monkeypatch):
    """The DataLoader path of the engine, end to end, on ImageNet's real folder layout."""
    import lskd_core.data.prepared as prepared
    from lskd_core.config import TrainConfig
    from lskd_core.train import train_teacher

    root = make_imagenet(tmp_path / "imnet", per_class=(4, 2))
    monkeypatch.setattr(prepared, "verified", lambda *a: None)  # the fixture is not the 1.28M-image set
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "runs"))
    cfg = TrainConfig(dataset="imagenet1k", data_root=str(root), arch="convnet_s", num_epochs=2, batch_size=4,
                      image_size=16, num_workers=0, small_input=True)
    a = train_teacher(cfg, progress=False).metrics()
    assert a["curves"]["epoch"] == [1, 2] and 0 <= a["final_top1"] <= 100 and a["final_top5"] == 100.0
    monkeypatch.setenv("LSKD_CACHE", str(tmp_path / "runs2"))
    b = train_teacher(cfg, progress=False).metrics()
    assert a["curves"] == b["curves"]  # seeded DataLoader shuffling and augmentation


def test_class_count_mismatch_is_named(tmp_path):
    root = make_imagenet(tmp_path / "imnet")
    m = dataclasses.replace(load_manifest("imagenet1k"), counts={"train": 9, "val": 6, "classes": 1000})
    with pytest.raises(DataError, match=r"wrong count for 'classes': found 3, expected 1000"):
        data.verify("imagenet1k", root, manifest=m)


# ------------------------------------------------------------ decoding on the training device


def test_random_resized_crop_box_follows_torchvisions_rule():
    from lskd_core.data.device_decode import crop_box

    g = torch.Generator().manual_seed(0)
    for h, w in ((375, 500), (500, 333), (64, 64), (16, 20)):
        for _ in range(200):
            top, left, ch, cw = crop_box(h, w, g)
            assert 0 <= top and top + ch <= h and 0 <= left and left + cw <= w
            # Sampled boxes keep area 8-100 % and aspect 3/4-4/3 up to rounding; the fallback is centred.
            sampled = 0.08 * h * w * 0.9 <= ch * cw <= h * w and 0.7 <= cw / ch <= 1.4
            centred = (top, left) == ((h - ch) // 2, (w - cw) // 2)
            assert sampled or centred
    # A strip too thin for any allowed aspect falls back to the centre crop of the closest aspect.
    assert crop_box(10, 1000, torch.Generator().manual_seed(0)) == (0, (1000 - 13) // 2, 10, 13)


def test_device_decode_evaluation_matches_the_cpu_transforms(tmp_path):
    """Centre crop on decoded JPEGs equals torchvision's PIL path to decoding and resampling differences."""
    from PIL import Image

    from lskd_core.data.device_decode import device_batches
    from lskd_core.data.imagenet import dataset
    from lskd_core.data.prepared import transforms_for

    root = make_imagenet(tmp_path / "imnet", per_class=(2, 2))
    for p in (root / "val").rglob("*.JPEG"):  # ImageNet-like aspect, big enough for the resize to matter
        Image.fromarray(np.random.default_rng(len(str(p))).integers(0, 255, (90, 120, 3), dtype=np.uint8)
                        .repeat(2, 0).repeat(2, 1)).save(p, format="JPEG", quality=95)
    ds = dataset(root, "val")
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    x, y, n = next(device_batches(ds, 8, 0, 0, False, 64, mean, std, "cpu"))
    ref_tf = transforms_for("imagenet1k", train=False, image_size=64)
    ref = torch.stack([ref_tf(Image.open(p).convert("RGB")) for p, _ in ds.items])
    assert x.shape == ref.shape == (6, 3, 64, 64) and n == 6 and y.tolist() == [c for _, c in ds.items]
    assert (x - ref).abs().mean() < 0.05  # in units of the normalised input (std 1)


def test_device_decode_batches_are_a_function_of_seed_epoch_and_index(tmp_path):
    from PIL import Image

    from lskd_core.data.device_decode import device_batches
    from lskd_core.data.imagenet import dataset

    root = make_imagenet(tmp_path / "imnet", per_class=(4, 2))
    png = root / "train" / "n01440764" / "extra.png"  # a PNG among the JPEGs decodes on the CPU path
    Image.fromarray(np.zeros((16, 20, 3), np.uint8)).save(png)
    ds = dataset(root, "train")
    stats = ((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))

    def epoch(seed, e):
        return [(x, y) for x, y, _ in device_batches(ds, 4, seed, e, True, 12, *stats, "cpu")]

    a, b, c = epoch(0, 0), epoch(0, 0), epoch(0, 1)
    assert sum(len(y) for _, y in a) == len(ds) == 13
    assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b))
    assert not all(torch.equal(ya, yc) for (_, ya), (_, yc) in zip(a, c))
    # Two ranks split each global batch; together they hold its images once. The last batch (one image)
    # cannot feed two ranks and is skipped, as in memory.
    ranks = [[y for _, y, _ in device_batches(ds, 4, 0, 0, True, 12, *stats, "cpu", shard=(r, 2))] for r in (0, 1)]
    assert sorted(torch.cat([torch.cat(ranks[0]), torch.cat(ranks[1])]).tolist()) == sorted(
        torch.cat([y for _, y in a[:3]]).tolist())


def test_engine_trains_with_device_decoding(tmp_path, monkeypatch):
    """decode='device' end to end through the engine (here the device is the CPU), repeatable bitwise."""
    import lskd_core.data.prepared as prepared
    from lskd_core.config import TrainConfig
    from lskd_core.train import train_teacher

    root = make_imagenet(tmp_path / "imnet", per_class=(4, 2))
    monkeypatch.setattr(prepared, "verified", lambda *a: None)
    cfg = TrainConfig(dataset="imagenet1k", data_root=str(root), arch="convnet_s", num_epochs=2, batch_size=4,
                      image_size=16, small_input=True, decode="device")
    runs = []
    for cache in ("runs", "runs2"):
        monkeypatch.setenv("LSKD_CACHE", str(tmp_path / cache))
        runs.append(train_teacher(cfg, progress=False).metrics())
    assert runs[0]["curves"]["epoch"] == [1, 2] and runs[0]["curves"] == runs[1]["curves"]
    with pytest.raises(ValueError, match="JPEG folders"):
        TrainConfig(dataset="fashion_mnist", decode="device").validate()


# ---------------------------------------------------------------- nothing unpickled before it is trusted


class _Plant:
    """A pickle that runs ``touch marker`` when loaded by an unrestricted unpickler."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def _evil_meta(root: Path, marker: Path) -> None:
    import pickle

    with open(root / "meta", "wb") as fh:
        pickle.dump({b"fine_label_names": [_Plant(marker)], b"coarse_label_names": []}, fh)


def test_a_planted_pickle_never_runs_through_the_class_check(tmp_path, monkeypatch):
    """Issue 28, item 1: the chapters' class-name check read CIFAR's meta before its checksum."""
    from fixtures import fixture_manifest

    root = make_cifar100(tmp_path / "cifar-100-python")
    monkeypatch.setenv("LSKD_DATA_MANIFESTS", str(fixture_manifest(tmp_path / "m", "cifar100", root).parent))
    marker = tmp_path / "marker"
    _evil_meta(root, marker)
    with pytest.raises(DataError, match="checksum"):
        data.class_names("cifar100", root)
    assert not marker.exists()


@pytest.mark.parametrize("reader", ["meta", "load", "counts"])
def test_a_planted_pickle_is_refused_unread_even_without_a_manifest(tmp_path, reader):
    import pickle

    root = make_cifar100(tmp_path / "cifar-100-python")
    marker = tmp_path / "marker"
    _evil_meta(root, marker)
    with open(root / "test", "wb") as fh:
        pickle.dump({b"data": _Plant(marker), b"fine_labels": [], b"coarse_labels": []}, fh)
    call = {"meta": lambda: cifar100.meta(root), "load": lambda: cifar100.load(root, "test"),
            "counts": lambda: cifar100.counts(root)}[reader]
    with pytest.raises(DataError, match="refused unread"):
        call()
    assert not marker.exists()


@pytest.mark.parametrize("bad", ["missing key", "wrong type", "label 250", "label -1", "a list"])
def test_malformed_cifar_pickles_are_one_data_error(tmp_path, bad):
    import pickle

    root = make_cifar100(tmp_path / "cifar-100-python")
    d = {b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [0, 1], b"coarse_labels": [0, 1]}
    if bad == "missing key":
        del d[b"fine_labels"]
    elif bad == "wrong type":
        d[b"fine_labels"] = ["a", "b"]
    elif bad == "label 250":
        d[b"fine_labels"] = [0, 250]
    elif bad == "label -1":
        d[b"coarse_labels"] = [-1, 0]
    with open(root / "test", "wb") as fh:
        pickle.dump([d] if bad == "a list" else d, fh)
    with pytest.raises(DataError, match="cifar100"):
        cifar100.load(root, "test")
