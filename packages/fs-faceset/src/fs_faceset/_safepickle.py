"""A restricted pickle reader that interprets a pickle stream as data and never executes anything.

DeepFaceLab (JPEG APP15 segment) and faceswap (``.fsa`` alignments) store their metadata as pickles. We never
call :mod:`pickle`; this module walks the opcode stream itself and accepts only:

* plain values: ``None``, bools, ints, floats, str, bytes, and list / tuple / dict / set / frozenset of them;
* exactly one kind of object reference, the numpy array and numpy scalar reconstruction that ``pickle.dumps``
  writes for ``ndarray`` / numpy scalars (``numpy[._]core.multiarray._reconstruct``, ``numpy.ndarray``,
  ``numpy.dtype``, ``numpy[._]core.multiarray.scalar``) plus ``_codecs.encode`` (how protocol 2 spells bytes).
  These names are never imported or called: the reader recognises the opcode pattern and builds the array
  from the raw bytes with ``np.frombuffer`` for plain numeric dtypes (bool, ints, floats) only.

Anything else (other globals, ``NEWOBJ``, ``INST``, ``OBJ``, extension codes, persistent ids, out-of-band
buffers, object-dtype arrays) raises :class:`~fs_faceset.errors.FacesetFormatError`. The reader is iterative
(no recursion on nesting depth) and linear in the stream length.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from fs_faceset.errors import FacesetFormatError

__all__ = ["safe_unpickle"]

_NUMERIC = {"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"}
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy._core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy", "ndarray"): "ndarray",
    ("numpy", "dtype"): "dtype",
    ("numpy.core.multiarray", "scalar"): "scalar",
    ("numpy._core.multiarray", "scalar"): "scalar",
    ("_codecs", "encode"): "encode",
    ("numpy.core.numeric", "_frombuffer"): "frombuffer",
    ("numpy._core.numeric", "_frombuffer"): "frombuffer",
    ("builtins", "set"): "set",
    ("__builtin__", "set"): "set",
    ("builtins", "frozenset"): "frozenset",
    ("__builtin__", "frozenset"): "frozenset",
}
_MAX_MEMO = 1 << 20


class _Name:
    """A recognised global, as a marker (never resolved to the real object)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind


class _DType:
    def __init__(self, code: str) -> None:
        self.code = code  # e.g. "f4", "u1"
        self.order = "<"


class _ArrayProto:
    """``_reconstruct(ndarray, (0,), b'b')`` awaiting its BUILD state."""


def _dtype_of(obj: Any, what: str) -> np.dtype[Any]:
    if not isinstance(obj, _DType):
        raise FacesetFormatError(f"{what}: pickle array without a recognised dtype")
    order = obj.order if obj.order in "<>" else "<"
    return np.dtype(order + obj.code if obj.code not in ("b1", "i1", "u1") else obj.code)


class _Reader:
    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = memoryview(data), 0, what
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}

    def fail(self, msg: str) -> FacesetFormatError:
        return FacesetFormatError(f"{self.what}: refused pickle stream at byte {self.pos}: {msg}")

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail("truncated")
        out = bytes(self.data[self.pos : self.pos + n])
        self.pos += n
        return out

    def line(self) -> bytes:
        end = bytes(self.data[self.pos : self.pos + 4096]).find(b"\n")
        if end < 0:
            raise self.fail("unterminated text field")
        return self.take(end + 1)[:-1]

    def u(self, fmt: str) -> int:
        return int(struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0])

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise self.fail("no MARK on the stack")
        k = self.marks.pop()
        items = self.stack[k:]
        del self.stack[k:]
        return items

    def pop(self) -> Any:
        if not self.stack or (self.marks and len(self.stack) <= self.marks[-1]):
            raise self.fail("stack underflow")
        return self.stack.pop()

    def put(self, idx: int) -> None:
        if not self.stack or len(self.memo) >= _MAX_MEMO:
            raise self.fail("bad memo put")
        self.memo[idx] = self.stack[-1]

    def get(self, idx: int) -> None:
        if idx not in self.memo:
            raise self.fail(f"memo key {idx} undefined")
        self.stack.append(self.memo[idx])

    def reduce(self, func: Any, args: Any) -> Any:
        if not isinstance(func, _Name) or not isinstance(args, tuple):
            raise self.fail("REDUCE of something other than a recognised numpy constructor")
        if func.kind == "reconstruct" and len(args) == 3 and isinstance(args[0], _Name) and args[0].kind == "ndarray":
            return _ArrayProto()
        if func.kind == "dtype" and len(args) >= 1 and isinstance(args[0], str) and args[0] in _NUMERIC:
            return _DType(args[0])
        if func.kind == "scalar" and len(args) == 2 and isinstance(args[1], bytes):
            dt = _dtype_of(args[0], self.what)
            if len(args[1]) != dt.itemsize:
                raise self.fail("numpy scalar of the wrong byte length")
            return np.frombuffer(args[1], dtype=dt)[0].item()
        if func.kind == "frombuffer" and len(args) == 4 and isinstance(args[0], bytes) and args[3] in ("C", "F"):
            return self.array(args[0], args[2], args[1], args[3] == "F")
        if func.kind in ("set", "frozenset") and len(args) <= 1:
            items = self._hashable(list(args[0]) if args and isinstance(args[0], (list, tuple)) else [])
            return set(items) if func.kind == "set" else frozenset(items)
        if func.kind == "encode" and len(args) == 2 and isinstance(args[0], str) and args[1] == "latin1":
            return args[0].encode("latin1")
        raise self.fail(f"call to {func.kind} with unsupported arguments")

    def build(self, obj: Any, state: Any) -> Any:
        if isinstance(obj, _DType) and isinstance(state, tuple) and len(state) >= 2 and isinstance(state[1], str):
            obj.order = state[1]
            return obj
        if isinstance(obj, _ArrayProto) and isinstance(state, tuple) and len(state) == 5:
            _, shape, dtype, fortran, raw = state
            return self.array(raw, shape, dtype, bool(fortran))
        raise self.fail("BUILD of something other than a numpy array or dtype")

    def array(self, raw: Any, shape: Any, dtype: Any, fortran: bool) -> Any:
        dt = _dtype_of(dtype, self.what)
        if not (isinstance(shape, tuple) and all(type(d) is int and d >= 0 for d in shape)):
            raise self.fail("array with an invalid shape")
        if not isinstance(raw, bytes) or len(raw) != math.prod(shape) * dt.itemsize:
            raise self.fail(f"array data does not match shape {shape} and dtype {dt}")
        arr = np.frombuffer(raw, dtype=dt).reshape(shape, order="F" if fortran else "C")
        return np.ascontiguousarray(arr).astype(dt.newbyteorder("="))

    def run(self) -> Any:
        """Interpret the stream; returns the one object left on the stack at STOP."""
        steps = (self._op_stack, self._op_scalar, self._op_container, self._op_object)
        while True:
            op = self.take(1)
            if op == b".":  # STOP
                if len(self.stack) != 1 or self.marks:
                    raise self.fail("unbalanced stack at STOP")
                return self.stack.pop()
            if not any(step(op) for step in steps):
                raise self.fail(f"opcode {op!r} is not allowed (object construction or unknown)")

    def _op_stack(self, op: bytes) -> bool:
        """Framing, marks and stack manipulation, None and booleans. ``False``: not one of these opcodes."""
        st = self.stack
        if op == b"\x80":  # PROTO
            if self.u("<B") > 5:
                raise self.fail("unknown pickle protocol")
        elif op == b"\x95":  # FRAME
            self.take(8)
        elif op == b"(":
            self.marks.append(len(st))
        elif op == b"0":
            self.pop()
        elif op == b"1":
            self.pop_mark()
        elif op == b"2":
            st.append(self.pop())
            st.append(st[-1])
        elif op == b"N":
            st.append(None)
        elif op in (b"\x88", b"\x89"):
            st.append(op == b"\x88")
        else:
            return False
        return True

    def _op_scalar(self, op: bytes) -> bool:
        """Numbers, strings and bytes. ``False``: not one of these opcodes."""
        st = self.stack
        if op == b"J":
            st.append(self.u("<i"))
        elif op == b"K":
            st.append(self.u("<B"))
        elif op == b"M":
            st.append(self.u("<H"))
        elif op in (b"\x8a", b"\x8b"):
            n = self.u("<B") if op == b"\x8a" else self.u("<i")
            if n > 1024:
                raise self.fail("integer too long")
            st.append(int.from_bytes(self.take(n), "little", signed=True))
        elif op in (b"I", b"L"):
            text = self.line().rstrip(b"L")
            st.append({b"00": False, b"01": True}.get(text) if text in (b"00", b"01") else self._int(text))
        elif op == b"G":
            st.append(struct.unpack(">d", self.take(8))[0])
        elif op == b"F":
            try:
                st.append(float(self.line()))
            except ValueError:
                raise self.fail("bad FLOAT") from None
        elif op in (b"X", b"\x8c", b"\x8d"):
            fmt = {b"X": "<I", b"\x8c": "<B", b"\x8d": "<Q"}[op]
            try:
                st.append(self.take(self.u(fmt)).decode("utf-8", "surrogatepass"))
            except UnicodeDecodeError:
                raise self.fail("invalid UTF-8 string") from None
        elif op in (b"B", b"C", b"\x8e", b"\x96"):
            fmt = {b"B": "<I", b"C": "<B", b"\x8e": "<Q", b"\x96": "<Q"}[op]
            st.append(self.take(self.u(fmt)))
        elif op == b"V":
            st.append(self.line().decode("raw_unicode_escape"))
        elif op in (b"T", b"U"):
            st.append(self.take(self.u("<i" if op == b"T" else "<B")).decode("latin1"))
        else:
            return False
        return True

    def _op_container(self, op: bytes) -> bool:
        """Empty containers, tuples, lists, dicts and sets, and adding to them. ``False``: not one of these opcodes."""
        st = self.stack
        if op == b"}":
            st.append({})
        elif op == b"]":
            st.append([])
        elif op == b")":
            st.append(())
        elif op == b"\x8f":
            st.append(set())
        elif op == b"t":
            st.append(tuple(self.pop_mark()))
        elif op in (b"\x85", b"\x86", b"\x87"):
            n = op[0] - 0x84
            if len(st) < n:
                raise self.fail("stack underflow")
            packed = tuple(st[-n:])
            del st[-n:]
            st.append(packed)
        elif op == b"l":
            st.append(self.pop_mark())
        elif op == b"d":
            st.append(self._dict(self.pop_mark()))
        elif op == b"\x91":
            st.append(frozenset(self._hashable(self.pop_mark())))
        elif op == b"a":
            value = self.pop()
            self._target(list).append(value)
        elif op == b"e":
            items = self.pop_mark()
            self._target(list).extend(items)
        elif op == b"s":
            value, key = self.pop(), self.pop()
            self._target(dict).update(self._dict([key, value]))
        elif op == b"u":
            items = self.pop_mark()
            self._target(dict).update(self._dict(items))
        elif op == b"\x90":
            items = self.pop_mark()
            self._target(set).update(self._hashable(items))
        else:
            return False
        return True

    def _op_object(self, op: bytes) -> bool:
        """Memo, the allowed globals, REDUCE and BUILD (numpy arrays, dtypes, scalars). ``False``: not one of these."""
        st = self.stack
        if op in (b"p", b"q", b"r"):
            self.put(self._int(self.line()) if op == b"p" else self.u("<B" if op == b"q" else "<I"))
        elif op == b"\x94":
            self.put(len(self.memo))
        elif op in (b"g", b"h", b"j"):
            self.get(self._int(self.line()) if op == b"g" else self.u("<B" if op == b"h" else "<I"))
        elif op == b"c":
            module, name = self.line().decode("latin1"), self.line().decode("latin1")
            st.append(self._global(module, name))
        elif op == b"\x93":
            name, module = self.pop(), self.pop()
            if not (isinstance(module, str) and isinstance(name, str)):
                raise self.fail("STACK_GLOBAL of non-strings")
            st.append(self._global(module, name))
        elif op == b"R":
            args, func = self.pop(), self.pop()
            st.append(self.reduce(func, args))
        elif op == b"b":
            state = self.pop()
            obj = self.pop()
            st.append(self.build(obj, state))
        else:
            return False
        return True

    def _int(self, text: bytes) -> int:
        try:
            return int(text)
        except ValueError:
            raise self.fail("bad integer literal") from None

    def _global(self, module: str, name: str) -> _Name:
        kind = _ALLOWED_GLOBALS.get((module, name))
        if kind is None:
            raise self.fail(f"class or function reference {module}.{name} (only plain data is accepted)")
        return _Name(kind)

    def _target(self, kind: type) -> Any:
        if not self.stack or not isinstance(self.stack[-1], kind):
            raise self.fail(f"append/setitem target is not a {kind.__name__}")
        return self.stack[-1]

    def _hashable(self, items: list[Any]) -> list[Any]:
        for x in items:
            if not isinstance(x, (str, bytes, int, float, bool, type(None), tuple)):
                raise self.fail(f"unhashable set item or dict key of type {type(x).__name__}")
        return items

    def _dict(self, items: list[Any]) -> dict[Any, Any]:
        if len(items) % 2:
            raise self.fail("odd number of dict items")
        keys = self._hashable(items[0::2])
        try:
            return dict(zip(keys, items[1::2]))
        except TypeError:
            raise self.fail("unhashable dict key") from None


def _check_plain(obj: Any, what: str) -> None:
    todo, seen = [obj], set()
    while todo:
        x = todo.pop()
        if isinstance(x, (_Name, _DType, _ArrayProto)):
            raise FacesetFormatError(f"{what}: pickle stream left an unfinished object reference")
        if isinstance(x, (list, tuple, set, frozenset)) and id(x) not in seen:
            seen.add(id(x))
            todo.extend(x)
        elif isinstance(x, dict) and id(x) not in seen:
            seen.add(id(x))
            todo.extend(x.values())


def safe_unpickle(data: bytes, what: str = "pickle") -> Any:
    """Decode a pickle stream of plain data (and numpy numeric arrays) without executing anything.

    Args:
        data: the pickle bytes.
        what: a file name or label for error messages.

    Raises:
        FacesetFormatError: the stream is malformed, truncated, or references anything but plain data.
    """
    reader = _Reader(bytes(data), what)
    try:
        out = reader.run()
    except FacesetFormatError:
        raise
    except (ValueError, TypeError, struct.error, MemoryError, OverflowError) as exc:
        raise reader.fail(f"{type(exc).__name__}: {exc}") from None
    _check_plain(out, what)
    return out
