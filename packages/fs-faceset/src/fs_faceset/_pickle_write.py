"""Write plain data as a pickle stream (protocol 3) for DeepFaceLab's APP15 segment, without :mod:`pickle`.

Only None, bools, ints, floats, str, bytes, lists, tuples, dicts and 1-D uint8 numpy arrays are written (the
last as numpy's own ``_reconstruct`` recipe, which DFL needs for ``xseg_mask``). Nothing here reads pickles.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from fs_faceset.errors import FacesetError

__all__ = ["plain_pickle"]


def _ndarray_u8(arr: np.ndarray[Any, Any], out: bytearray) -> None:
    raw = np.ascontiguousarray(arr, dtype=np.uint8).tobytes()
    out += b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
    out += b"K\x00\x85C\x01b\x87R"  # (ndarray, (0,), b'b') REDUCE
    out += b"(K\x01"  # state: (1, shape, dtype, False, data)
    out += b"J" + struct.pack("<i", raw.__len__()) + b"\x85"
    out += b"cnumpy\ndtype\nX\x02\x00\x00\x00u1\x89\x88\x87R"
    out += b"(K\x03X\x01\x00\x00\x00|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    out += b"\x89B" + struct.pack("<I", len(raw)) + raw + b"tb"


def _write(obj: Any, out: bytearray) -> None:
    if obj is None:
        out += b"N"
    elif obj is True or obj is False:
        out += b"\x88" if obj else b"\x89"
    elif isinstance(obj, (int, np.integer)):
        v = int(obj)
        if -(1 << 31) <= v < 1 << 31:
            out += b"J" + struct.pack("<i", v)
        else:
            raw = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            out += b"\x8a" + bytes([len(raw)]) + raw
    elif isinstance(obj, (float, np.floating)):
        out += b"G" + struct.pack(">d", float(obj))
    elif isinstance(obj, str):
        raw = obj.encode("utf-8", "surrogatepass")
        out += b"X" + struct.pack("<I", len(raw)) + raw
    elif isinstance(obj, bytes):
        out += b"B" + struct.pack("<I", len(obj)) + obj
    elif isinstance(obj, np.ndarray) and obj.dtype == np.uint8 and obj.ndim == 1:
        _ndarray_u8(obj, out)
    elif isinstance(obj, (list, tuple)):
        out += b"](" if isinstance(obj, list) else b"("
        for item in obj:
            _write(item, out)
        out += b"e" if isinstance(obj, list) else b"t"
    elif isinstance(obj, dict):
        out += b"}("
        for k, v in obj.items():
            _write(k, out)
            _write(v, out)
        out += b"u"
    else:
        raise FacesetError(f"cannot write a {type(obj).__name__} into a DFL metadata pickle")


def plain_pickle(obj: Any) -> bytes:
    """The protocol-3 pickle bytes of ``obj`` (plain data as listed in the module docstring)."""
    out = bytearray(b"\x80\x03")
    _write(obj, out)
    out += b"."
    return bytes(out)
