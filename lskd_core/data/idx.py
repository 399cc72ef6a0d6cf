"""Reader for the IDX format of (Fashion-)MNIST, plain or gzip-compressed.

Layout (LeCun et al.): two zero bytes, a type code (0x08 = uint8), the number
of dimensions, then one big-endian uint32 per dimension, then the payload.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .errors import DataError

_UINT8 = 0x08


def read_bytes(path: Path) -> bytes:
    """The decompressed content of ``path`` (gzip is detected by its magic bytes)."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (EOFError, OSError) as exc:
            raise DataError(f"{path}: the gzip stream is truncated or corrupt ({exc}); "
                            "re-install the data (for Fashion-MNIST: apt-get install --reinstall dataset-fashion-mnist)") from exc
    return raw


def parse_idx(buf: bytes, name: str = "<idx>") -> np.ndarray:
    """Parse an IDX buffer of unsigned bytes into an array of its declared shape."""
    if len(buf) < 4 or buf[0] != 0 or buf[1] != 0:
        raise DataError(f"{name}: not an IDX file (bad magic number)")
    if buf[2] != _UINT8:
        raise DataError(f"{name}: IDX type code 0x{buf[2]:02x} is not uint8 (0x08)")
    ndim = buf[3]
    header = 4 + 4 * ndim
    if len(buf) < header:
        raise DataError(f"{name}: truncated IDX header")
    shape = tuple(int.from_bytes(buf[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(buf) != expected:
        raise DataError(
            f"{name}: IDX payload has {len(buf) - header} bytes, the header "
            f"declares shape {shape} = {expected - header} bytes (file truncated or padded)"
        )
    return np.frombuffer(buf, dtype=np.uint8, offset=header).reshape(shape)


def read_idx(path: Path) -> np.ndarray:
    return parse_idx(read_bytes(path), name=str(path))
