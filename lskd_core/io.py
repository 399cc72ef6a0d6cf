"""Atomic file writes (a reader never sees a partial checkpoint, record or notebook) and file checksums."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600; a cache shared by a class needs the umask's usual 0644/0664.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def atomic_torch_save(path: Path, obj: Any) -> None:
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


class DamagedFile(OSError):
    """A checkpoint or model file that exists but does not load (truncated, overwritten)."""


def load_checkpoint(path: Path) -> Any:
    import errno
    import pickle

    # weights_only=True: a checkpoint can never execute code when loaded.
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise  # refused on purpose (code inside), not damaged
    except FileNotFoundError:
        raise
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise DamagedFile(errno.EIO, f"{path} is damaged and does not load ({exc}); `lskd runs gc` removes "
                                     f"a damaged checkpoint so that the run starts over", str(path)) from exc


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
