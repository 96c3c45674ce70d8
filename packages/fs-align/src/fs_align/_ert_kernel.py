"""The ERT cascade as one compiled loop (numba), in dlib's order; imported only when numba is importable.

Same arithmetic as the numpy path of :mod:`fs_align._ert` (and dlib/image_processing/shape_predictor.h), face
by face and tree by tree, with no temporaries:

* similarity from the mean shape: two float64 dot products of the flat shape with precomputed projections,
  cast to float32;
* feature pixel ``x = a * dx - b * dy + shape[anchor]`` in float32, every product and sum rounded (dlib's
  own arithmetic: a fused multiply-add, as in numpy's float32 ``matmul``, moved one of 960 random boxes by
  12 px), then ``floor(x * (x2 - x1) + x1 + 0.5)`` in float64; intensity ``(R + G + B) // 3``; outside
  pixels read 0;
* each tree walked from its root (``I[idx1] - I[idx2] > thresh`` goes left, four trees in step), then the
  leaves added to the float32 shape tree after tree; faces one after the other within each cascade.

Most of the time (about 70 % after a cold start, e.g. after the detector ran) is reading the 500 leaf rows
(544 bytes each) a cascade picks from its 4.4 MB of leaves. The compiled loop reads them in place (the numpy path
gathers copies), prefetches the row of the tree 8 ahead while adding the current one, and keeps the split
indices and thresholds in int16 so they stay in cache beside them.

The kernel is compiled on first use (about 1 s) and cached on disk when numba can write a cache (next to this
file, else numba's user cache directory ``~/.cache/numba``, or ``$NUMBA_CACHE_DIR``); a later process loads it
(about 0.3 s). With nowhere to write it is compiled in memory, once per process (:func:`compile_uncached`); a
damaged cache file is emptied and the process compiles in memory (:func:`recompile_after_cache_error`); a numba
that cannot compile the prefetch hints gets the kernel without them (:func:`compile_without_prefetch`).
"""

from __future__ import annotations

import contextlib
import math
from types import FunctionType
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils as _cgutils
from numba.core import types
from numba.extending import intrinsic

__all__ = ["compile_uncached", "compile_without_prefetch", "ert_cascade", "recompile_after_cache_error"]


_PREFETCH_AHEAD = 8
"""Trees ahead whose leaf row is requested from memory while the current one is added."""

cgutils: Any = _cgutils  # numba's code-generation helpers (untyped)
_I8P = ir.IntType(8).as_pointer()
# the intrinsic's name carries its pointer type: "p0" where llvmlite prints opaque pointers (LLVM 15+), else "p0i8"
_PREFETCH_NAME = "llvm.prefetch.p0" if str(_I8P) == "ptr" else "llvm.prefetch.p0i8"


def _prefetch_typing(typingctx: Any, arr: Any, idx: Any) -> Any:
    """Ask the CPU to start loading ``arr[idx]``'s cache line (``llvm.prefetch``: read, keep in every level).

    Only a hint (no fault, no result): the leaf rows a cascade picks are scattered over 4.4 MB, and fetching a
    few trees ahead overlaps their memory latency (measured: 10-18 % less time a face).
    """
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [_I8P, i32, i32, i32]), _PREFETCH_NAME
        )
        builder.call(fn, [builder.bitcast(ptr, _I8P), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(arr, idx), codegen


_prefetch: Any = intrinsic(_prefetch_typing)


def _cascade(
    flat: Any,
    h: int,
    w: int,
    chans: int,
    boxes: Any,
    shape: Any,
    a_vec: Any,
    b_vec: Any,
    anchor: Any,
    deltas: Any,
    idx12: Any,
    thresh: Any,
    leaves: Any,
    feats: Any,
    leaf: Any,
) -> None:
    """Run every cascade on ``shape`` in place.

    Args:
        flat: ``(H * W * chans,)`` uint8 frame.
        h, w, chans: its height, width and channel count.
        boxes: ``(N, 4)`` float64 ``(x1, y1, x2, y2)``.
        shape: ``(N, 2P)`` float32 ``(x0, y0, x1, y1, ...)`` in the box frame, updated in place.
        a_vec, b_vec: ``(2P,)`` float64 projections giving the similarity's ``a`` and ``b``.
        anchor: ``(C, F)`` int64 landmark of each feature pixel.
        deltas: ``(C, F, 2)`` float32 offsets in the mean-shape frame.
        idx12: ``(C, T, S, 2)`` int16 feature pairs of the splits (small, to stay in cache).
        thresh: ``(C, T, S)`` int16 thresholds (floored: intensities are integers).
        leaves: ``(C, T * (S + 1), 2P)`` float32 shape increments.
        feats: ``(F,)`` int32 scratch for the intensities.
        leaf: ``(T,)`` int64 scratch for the leaf rows reached.
    """
    n, p2 = shape.shape
    num_c, num_t, num_s = thresh.shape
    num_f = anchor.shape[1]
    num_l = num_s + 1
    for c in range(num_c):
        rows = leaves[c]
        for i in range(n):
            # the similarity's linear part [[a, -b], [b, a]] (float64, used in float32)
            a = 0.0
            b = 0.0
            for k in range(p2):
                v = np.float64(shape[i, k])
                a += v * a_vec[k]
                b += v * b_vec[k]
            a32 = np.float32(a)
            b32 = np.float32(b)
            x1 = boxes[i, 0]
            y1 = boxes[i, 1]
            sx = boxes[i, 2] - x1
            sy = boxes[i, 3] - y1
            ox = x1 + 0.5
            oy = y1 + 0.5
            for f in range(num_f):
                dx = deltas[c, f, 0]
                dy = deltas[c, f, 1]
                # [[a, -b], [b, a]] @ (dx, dy) in float32, each product rounded (no fused multiply-add)
                px = a32 * dx - b32 * dy
                py = b32 * dx + a32 * dy
                j = anchor[c, f]
                px = px + shape[i, 2 * j]
                py = py + shape[i, 2 * j + 1]
                col = math.floor(np.float64(px) * sx + ox)
                row = math.floor(np.float64(py) * sy + oy)
                if col < 0 or row < 0 or col >= w or row >= h:
                    feats[f] = 0
                else:
                    at = (row * w + col) * chans
                    total = 0
                    for k in range(chans):
                        total += np.int32(flat[at + k])
                    feats[f] = total // chans
            # Trees are complete (all leaves at the same depth), so four walk in step: independent chains of
            # loads the CPU overlaps. Left child 2n + 1 when I[idx1] - I[idx2] > thresh, else 2n + 2.
            t = 0
            while t + 4 <= num_t:
                n0 = 0
                n1 = 0
                n2 = 0
                n3 = 0
                while n0 < num_s:
                    g0 = feats[idx12[c, t, n0, 0]] - feats[idx12[c, t, n0, 1]] > thresh[c, t, n0]
                    g1 = feats[idx12[c, t + 1, n1, 0]] - feats[idx12[c, t + 1, n1, 1]] > thresh[c, t + 1, n1]
                    g2 = feats[idx12[c, t + 2, n2, 0]] - feats[idx12[c, t + 2, n2, 1]] > thresh[c, t + 2, n2]
                    g3 = feats[idx12[c, t + 3, n3, 0]] - feats[idx12[c, t + 3, n3, 1]] > thresh[c, t + 3, n3]
                    n0 = 2 * n0 + 2 - np.int64(g0)
                    n1 = 2 * n1 + 2 - np.int64(g1)
                    n2 = 2 * n2 + 2 - np.int64(g2)
                    n3 = 2 * n3 + 2 - np.int64(g3)
                leaf[t] = t * num_l + n0 - num_s
                leaf[t + 1] = (t + 1) * num_l + n1 - num_s
                leaf[t + 2] = (t + 2) * num_l + n2 - num_s
                leaf[t + 3] = (t + 3) * num_l + n3 - num_s
                t += 4
            for u in range(t, num_t):
                node = 0
                while node < num_s:
                    go = feats[idx12[c, u, node, 0]] - feats[idx12[c, u, node, 1]] > thresh[c, u, node]
                    node = 2 * node + 2 - np.int64(go)
                leaf[u] = u * num_l + node - num_s
            # dlib's order: the leaves added to the float32 shape one tree after the other
            si = shape[i]
            for t in range(num_t):
                if t + _PREFETCH_AHEAD < num_t:
                    ahead = rows[leaf[t + _PREFETCH_AHEAD]]
                    for k in range(0, p2, 16):  # a 64-byte line holds 16 floats
                        _prefetch(ahead, k)
                    _prefetch(ahead, p2 - 1)
                inc = rows[leaf[t]]
                for k in range(p2):
                    si[k] += inc[k]


def compile_uncached() -> Any:
    """``_cascade`` under ``numba.njit``, compiled in memory (once per process, about a second)."""
    return numba.njit(cache=False, nogil=True)(_cascade)


def recompile_after_cache_error() -> Any:
    """An in-memory kernel for this process, after the cached one failed to load (a damaged cache file).

    Also empties the damaged cache's index (best effort), so that the next process compiles and saves afresh.
    """
    with contextlib.suppress(Exception):  # a private numba attribute: nothing to repair if it is not there
        ert_cascade._cache.flush()  # numba rewrites an empty index file
    return compile_uncached()


@numba.njit(nogil=True)
def _no_prefetch(arr: Any, idx: Any) -> None:
    """Stands in for :func:`_prefetch` in :func:`compile_without_prefetch`."""


def compile_without_prefetch() -> Any:
    """The same kernel without the prefetch hints, compiled in memory: for a numba whose LLVM refuses them."""
    plain = FunctionType(_cascade.__code__, {**globals(), "_prefetch": _no_prefetch}, "_cascade_plain")
    return numba.njit(cache=False, nogil=True)(plain)


def _compile() -> Any:
    """``_cascade`` under ``numba.njit``, with a disk cache when numba has somewhere to write one."""
    try:
        return numba.njit(cache=True, nogil=True)(_cascade)
    except Exception:  # no writable cache location (numba raises RuntimeError): compile in memory instead
        return compile_uncached()


ert_cascade = _compile()
