"""Data layer: one module per data set, one manifest per data set, one ``verify``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from types import ModuleType

from . import cifar100, cub, fashion_mnist, imagenet
from .errors import DataError
from .manifest import Manifest, available, check_counts, check_files, load_manifest

MODULES: dict[str, ModuleType] = {
    "fashion_mnist": fashion_mnist,
    "imagenet1k": imagenet,
    "cub200": cub,
    "cifar100": cifar100,
}

__all__ = ["DataError", "MODULES", "available", "class_names", "class_synsets", "in_memory", "input_spec",
           "load_manifest", "resolve_root", "test_split", "verify"]


def in_memory(name: str) -> bool:
    """Whether the data set is held in memory as tensors (else it is read from image files)."""
    return MODULES[name].IN_MEMORY


def test_split(name: str) -> str:
    """The name of the held-out split the book scores on ("test", or ImageNet's "val")."""
    return MODULES[name].TEST_SPLIT


def resolve_root(name: str, root: Path | str | None) -> Path:
    if name not in MODULES:
        raise DataError(f"unknown data set {name!r}; valid: {', '.join(MODULES)}")
    if root is None:
        default = load_manifest(name).default_root
        if default is None:
            raise DataError(f"{name} is not embedded: pass the folder of your copy (lskd book --data-root, lskd run -p data_root, lskd data verify --root) "
                            f"(see data_manifests/{name}.toml)")
        root = default
    return Path(root)


def verify(name: str, root: Path | str | None = None, manifest: Manifest | None = None) -> dict[str, int]:
    """Check a copy against its manifest: files, checksums, then counts.

    Returns the counts found. Raises ``DataError`` naming the first problem.
    """
    m = manifest or load_manifest(name)
    root = resolve_root(name, root)
    check_files(m, root)
    found = MODULES[name].counts(root)
    check_counts(m, found)
    return found


@lru_cache(maxsize=8)
def verified(name: str, root: str) -> dict[str, int]:
    """``verify`` once per process, so every load checks before use at no repeat cost."""
    return verify(name, root)


@lru_cache(maxsize=8)
def _files_checked(name: str, root: str) -> None:
    check_files(load_manifest(name), Path(root))


def class_names(name: str, root: Path | str | None = None) -> tuple[str, ...]:
    """The data set's class names in label order, read from the copy (CIFAR-100's ``meta``,
    ImageNet's wnid folders, CUB's ``classes.txt``; Fashion-MNIST's are fixed).

    The copy's files are checked against the manifest's checksums first: no byte
    of a file is parsed before it is known to be the published one.
    """
    path = resolve_root(name, root)
    _files_checked(name, str(path))
    return tuple(MODULES[name].classes(path))


def class_synsets(name: str, root: Path | str | None = None, wn=None) -> list[str | None]:
    """A WordNet 3.0 noun offset per class, or None for a class WordNet does not name (method 2 only)."""
    from ..semantics.wordnet import load

    return MODULES[name].synsets(class_names(name, root), wn or load(), resolve_root(name, root))


def input_spec(name: str) -> dict:
    """``{"size", "mean", "std"}`` of the data set's manifest: what the model sees."""
    return load_manifest(name).input
