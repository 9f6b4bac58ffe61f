"""The score cache's record format and float16 row codec (used by :mod:`qrexp.engine.score_cache`).

A record is a 512-byte JSON header (format, key, kind, parts with dtype and shape, codec, payload
length, CRC-32 of the payload), space-padded, then the payload: the parts' raw bytes, or with codec
``zlib-shuffle`` the parts' bytes grouped by position within each item (float exponent bytes
together) and zlib-compressed. No pickle: a record is read with numpy, whatever wrote it.
"""
from __future__ import annotations

import json
import zlib
from typing import Mapping

import numpy as np
import torch

from qrexp.io.files import canonical_json

RECORD_FORMAT = "qrexp.score_cache.v2"
HEADER_BYTES = 512
_DTYPES = {"float32": (torch.float32, np.float32), "float16": (torch.float16, np.float16)}


# ---------------------------------------------------------------------------------- half codec
def half_encode(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[..., T] float -> (scales [...] float32, powers of two; values [..., T] float16).

    Each row is divided by 2^(e-15) where max|row| < 2^e, so every value lies in (-2^15, 2^15) and
    keeps float16's 11-bit mantissa (relative rounding <= 2^-11) down to 2^-24 of the row maximum."""
    x = x.detach().to("cpu", torch.float32)
    amax = x.abs().amax(-1) if x.shape[-1] else torch.zeros(x.shape[:-1])
    _, exponent = torch.frexp(amax)
    scales = torch.where(amax > 0, torch.ldexp(torch.ones_like(amax), exponent - 15), torch.ones_like(amax))
    return scales, (x / scales.unsqueeze(-1)).to(torch.float16)


def half_decode(scales: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`half_encode` -> float32 [..., T] (exact: the scales are powers of two)."""
    return values.to(torch.float32) * scales.unsqueeze(-1)


def half_round(x: torch.Tensor) -> torch.Tensor:
    """``x`` as the cache stores it: float32 values that float16 rows with a scale can hold."""
    return half_decode(*half_encode(x))


def _shuffle(a: np.ndarray) -> bytes:
    """Bytes grouped by position within each item (exponent bytes together: they compress)."""
    return a.reshape(-1).view(np.uint8).reshape(-1, a.itemsize).T.tobytes()


def _unshuffle(raw: bytes, dtype, count: int) -> np.ndarray:
    size = np.dtype(dtype).itemsize
    return np.frombuffer(raw, np.uint8).reshape(size, count).T.copy().view(dtype).reshape(-1)


def encode_record(key: str, kind: str, parts: Mapping[str, torch.Tensor], compress: bool) -> bytes:
    """The file bytes of one record: 512-byte JSON header + payload (zlib over shuffled bytes)."""
    arrays = {n: t.detach().to("cpu").contiguous().numpy() for n, t in parts.items()}
    if compress:
        payload = zlib.compress(b"".join(_shuffle(a) for a in arrays.values()), 1)
    else:
        payload = b"".join(a.tobytes() for a in arrays.values())
    header = canonical_json({"format": RECORD_FORMAT, "key": key, "kind": kind,
                             "codec": "zlib-shuffle" if compress else "raw",
                             "parts": [[n, str(a.dtype), list(a.shape)] for n, a in arrays.items()],
                             "payload_bytes": len(payload), "crc32": zlib.crc32(payload)}).encode()
    if len(header) >= HEADER_BYTES:
        raise ValueError(f"score cache: header of {len(header)} bytes for key {key[:12]}...")
    return header + b" " * (HEADER_BYTES - 1 - len(header)) + b"\n" + payload


def decode_record(raw: bytes, key: str) -> tuple[str, dict[str, torch.Tensor]]:
    """(kind, {part name: tensor}) from file bytes; ValueError naming what is wrong."""
    head = json.loads(raw[:HEADER_BYTES].decode("utf-8"))
    if not isinstance(head, dict) or head.get("format") != RECORD_FORMAT:
        raise ValueError("not a qrexp score-cache record")
    if head.get("key") != key:
        raise ValueError(f"stored under key {str(head.get('key'))[:12]}...")
    payload = raw[HEADER_BYTES:]
    if len(payload) != head["payload_bytes"] or zlib.crc32(payload) != head["crc32"]:
        raise ValueError(f"payload of {len(payload)} bytes fails its length or CRC-32 check")
    if head["codec"] == "zlib-shuffle":
        payload = zlib.decompress(payload)
    out, offset = {}, 0
    for name, dtype, shape in head["parts"]:
        tdtype, ndtype = _DTYPES[dtype]
        count = int(np.prod(shape, dtype=np.int64))
        chunk = payload[offset: offset + count * np.dtype(ndtype).itemsize]
        offset += len(chunk)
        arr = (_unshuffle(chunk, ndtype, count) if head["codec"] == "zlib-shuffle"
               else np.frombuffer(chunk, ndtype).copy())
        out[name] = torch.from_numpy(arr.reshape(shape)).to(tdtype)
    if offset != len(payload):
        raise ValueError("payload length does not match its parts")
    return head["kind"], out
