"""Fast copies between Python bytes and pjsua2's `ByteVector` (a SWIG `std::vector<unsigned char>`).

SWIG converts a ByteVector element by element (~250 µs for one 20 ms frame), far too slow for a media callback
that runs 50 times a second per call. libstdc++ lays a vector out as three pointers (begin, end, capacity end),
so we read and write its storage with ctypes in about a microsecond. `verify()` checks that layout once at start
and we fall back to the slow path if it ever differs.
"""

from __future__ import annotations

import ctypes
from typing import Any

import pjsua2 as pj

_PTR = ctypes.sizeof(ctypes.c_void_p)
_fast = False


def _span(vec: Any) -> tuple[int, int]:
    addr = int(vec.this)
    begin = ctypes.c_void_p.from_address(addr).value or 0
    end = ctypes.c_void_p.from_address(addr + _PTR).value or 0
    return begin, end - begin


def verify() -> bool:
    """Check the vector layout against SWIG's own accessors; enables the fast path when it matches."""
    global _fast
    probe = bytes(range(256)) * 3
    try:
        vec = pj.ByteVector(probe)
        begin, size = _span(vec)
        _fast = size == vec.size() == len(probe) and ctypes.string_at(begin, size) == probe
    except Exception:  # any surprise: stay on the slow, safe path
        _fast = False
    return _fast


def to_bytes(vec: Any, size: int | None = None) -> bytes:
    """The first `size` bytes (all by default) of a ByteVector."""
    if _fast:
        begin, n = _span(vec)
        n = n if size is None else min(n, size)
        return ctypes.string_at(begin, n) if n and begin else b""
    data = bytes(tuple(vec))
    return data if size is None else data[:size]


def fill(vec: Any, data: bytes) -> None:
    """Make `vec` hold exactly `data`."""
    if vec.size() != len(data):
        vec.resize(len(data))
    if _fast:
        begin, _ = _span(vec)
        if data:
            ctypes.memmove(begin, data, len(data))
        return
    vec.assign(data)  # pragma: no cover - slow path
