"""Reader of dlib's ``shape_predictor`` files (``shape_predictor_68_face_landmarks.dat``) in numpy.

The format (dlib/serialize.h, dlib/image_processing/shape_predictor.h) is one stream of packed integers:

* an integer is a control byte (bit 7: negative, bits 0-3: byte count 1..8, bits 4-6: zero) followed by that
  many little-endian magnitude bytes;
* a float is two integers, an int64 mantissa then an int16 exponent (value = mantissa * 2**exponent; the
  exponents 32000/32001/32002 mean +inf/-inf/NaN);
* a ``std::vector`` is its length then its items; a ``matrix<float,0,1>`` is ``-rows, -cols`` then the values
  row by row; a ``vector<float,2>`` is x then y;
* a predictor is ``version (1), initial_shape, forests, anchor_idx, deltas`` where ``forests`` is a vector of
  cascades, each a vector of trees, each tree ``splits`` (vector of ``idx1, idx2, thresh``) then
  ``leaf_values`` (vector of shape-sized column matrices).

Because every item is a packed integer, the reader first finds where each integer starts (one pass over the
control bytes), decodes all of them at once with numpy, then checks the layout with array arithmetic. Any
inconsistency raises :class:`~fs_align.errors.AssetError` naming the file and the byte offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fs_align.errors import AssetError

__all__ = ["ShapePredictorModel", "read_shape_predictor"]

_SPECIAL_EXPONENT = 32000  # is_inf; 32001 is -inf, 32002 is NaN


@dataclass(frozen=True)
class ShapePredictorModel:
    """The arrays of a dlib ERT shape predictor (C cascades, T trees of depth D, P points, F feature pixels).

    Attributes:
        initial_shape: ``(P, 2)`` float32 mean shape in the box-normalised frame ([0, 1] x [0, 1]).
        split_idx: ``(C, T, S, 2)`` int32 feature-pixel pair compared at each split (S = 2**D - 1).
        split_thresh: ``(C, T, S)`` float32 thresholds (go left when ``I[idx1] - I[idx2] > thresh``).
        leaves: ``(C, T, L, P, 2)`` float32 shape increments (L = 2**D).
        anchor_idx: ``(C, F)`` int32 landmark each feature pixel is anchored to.
        deltas: ``(C, F, 2)`` float32 offset of each feature pixel from its anchor, in the mean-shape frame.
    """

    initial_shape: npt.NDArray[np.float32]
    split_idx: npt.NDArray[np.int32]
    split_thresh: npt.NDArray[np.float32]
    leaves: npt.NDArray[np.float32]
    anchor_idx: npt.NDArray[np.int32]
    deltas: npt.NDArray[np.float32]

    @property
    def num_cascades(self) -> int:
        return int(self.split_idx.shape[0])

    @property
    def num_trees(self) -> int:
        return int(self.split_idx.shape[1])

    @property
    def depth(self) -> int:
        return int(self.split_idx.shape[2] + 1).bit_length() - 1

    @property
    def num_points(self) -> int:
        return int(self.initial_shape.shape[0])

    @property
    def num_features(self) -> int:
        return int(self.anchor_idx.shape[1])

    def arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        """The arrays by field name (for saving)."""
        return {
            "initial_shape": self.initial_shape,
            "split_idx": self.split_idx,
            "split_thresh": self.split_thresh,
            "leaves": self.leaves,
            "anchor_idx": self.anchor_idx,
            "deltas": self.deltas,
        }

    def validate(self, source: str) -> None:
        """Check shapes, index ranges and finiteness; raise :class:`AssetError` naming ``source``."""
        c, t, s = self.split_thresh.shape
        p = self.num_points
        f = self.num_features
        want = {
            "initial_shape": (p, 2),
            "split_idx": (c, t, s, 2),
            "leaves": (c, t, s + 1, p, 2),
            "anchor_idx": (c, f),
            "deltas": (c, f, 2),
        }
        for name, shape in want.items():
            got = getattr(self, name).shape
            if got != shape:
                raise AssetError(f"{source}: {name} has shape {got}, expected {shape}")
        if (s + 1) & s or s < 1:
            raise AssetError(f"{source}: trees have {s} splits, not 2**depth - 1")
        if self.split_idx.size and (self.split_idx.min() < 0 or self.split_idx.max() >= f):
            raise AssetError(f"{source}: a split refers to a feature pixel outside 0..{f - 1}")
        if self.anchor_idx.size and (self.anchor_idx.min() < 0 or self.anchor_idx.max() >= p):
            raise AssetError(f"{source}: an anchor refers to a landmark outside 0..{p - 1}")
        for name in ("initial_shape", "split_thresh", "leaves", "deltas"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise AssetError(f"{source}: {name} holds NaN or infinite values")


def _int_starts(buf: bytes, path: Path) -> npt.NDArray[np.int64]:
    """Byte offsets of every packed integer in ``buf`` (the file must be nothing but packed integers)."""
    steps = buf.translate(bytes(1 + (b & 0x0F) for b in range(256)))
    n = len(buf)
    starts: list[int] = []
    append = starts.append
    pos = 0
    while pos < n:
        append(pos)
        pos += steps[pos]
    if pos != n:
        raise AssetError(f"{path}: truncated: the integer at byte offset {starts[-1]} runs past the end ({n} bytes)")
    out = np.asarray(starts, dtype=np.int64)
    ctrl = np.frombuffer(buf, dtype=np.uint8)[out]
    size = ctrl & 0x0F
    bad = np.flatnonzero(((ctrl & 0x70) != 0) | (size == 0) | (size > 8))
    if bad.size:
        off = int(out[bad[0]])
        raise AssetError(f"{path}: corrupt: invalid integer control byte 0x{buf[off]:02x} at byte offset {off}")
    return out


def _decode_ints(buf: bytes, starts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Decode the packed integers that begin at ``starts`` (vectorised)."""
    raw = np.frombuffer(buf + bytes(8), dtype=np.uint8)
    ctrl = raw[starts]
    size = (ctrl & 0x0F).astype(np.int64)
    mag = np.zeros(starts.shape, dtype=np.uint64)
    for k in range(8):
        byte = raw[starts + 1 + k].astype(np.uint64)
        byte[size <= k] = 0
        mag |= byte << np.uint64(8 * k)
    val = mag.view(np.int64)  # magnitudes above 2**63 only occur in corrupt files; caught by range checks
    return np.where(ctrl & 0x80, -val, val)


class _Cursor:
    """Walks the decoded integer stream, reporting byte offsets on error."""

    def __init__(self, vals: npt.NDArray[np.int64], starts: npt.NDArray[np.int64], path: Path) -> None:
        self.vals = vals
        self.starts = starts
        self.path = path
        self.i = 0

    def offset(self, i: int | None = None) -> int:
        j = self.i if i is None else i
        return int(self.starts[j]) if j < len(self.starts) else int(self.starts[-1]) + 1 if len(self.starts) else 0

    def fail(self, what: str, i: int | None = None) -> AssetError:
        return AssetError(f"{self.path}: corrupt or not a dlib shape predictor: {what} at byte offset {self.offset(i)}")

    def need(self, count: int, what: str) -> None:
        if self.i + count > len(self.vals):
            raise AssetError(
                f"{self.path}: truncated: {what} needs {count} more integers after byte offset {self.offset()}"
            )

    def int_(self, what: str, lo: int = 0, hi: int = 1 << 40) -> int:
        self.need(1, what)
        v = int(self.vals[self.i])
        if not lo <= v <= hi:
            raise self.fail(f"{what} = {v} outside [{lo}, {hi}]")
        self.i += 1
        return v

    def floats(self, count: int, what: str) -> npt.NDArray[np.float32]:
        self.need(2 * count, what)
        pair = self.vals[self.i : self.i + 2 * count].reshape(count, 2)
        exp = pair[:, 1]
        bad = _bad_floats(pair)
        if bad.size:
            raise self.fail(f"{what}: invalid float", self.i + 2 * int(bad[0]))
        self.i += 2 * count
        return np.ldexp(pair[:, 0].astype(np.float64), exp.astype(np.int32)).astype(np.float32)

    def column(self, rows: int, what: str) -> npt.NDArray[np.float32]:
        start = self.i
        nr = abs(self.int_(f"{what} rows", -(1 << 20), 1 << 20))
        nc = abs(self.int_(f"{what} cols", -(1 << 20), 1 << 20))
        if (nr, nc) != (rows, 1):
            raise self.fail(f"{what} is {nr}x{nc}, expected {rows}x1", start)
        return self.floats(rows, what)


def _bad_floats(pairs: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
    """Rows of ``(n, 2)`` (mantissa, exponent) pairs that are inf/NaN codes or out of range."""
    exp = pairs[:, 1]
    return np.flatnonzero((exp >= _SPECIAL_EXPONENT) | (exp < -(1 << 15)) | (np.abs(pairs[:, 0]) >= 1 << 62))


def _check_block(cur: _Cursor, block: npt.NDArray[np.int64], col: int, want: int, stride: int, what: str) -> None:
    """Check that column ``col`` of a ``(rows, stride)`` block equals ``want`` (counts and matrix sizes)."""
    vals = block[:, col]
    bad = np.flatnonzero(np.abs(vals) != want)
    if bad.size:
        i = cur.i + int(bad[0]) * stride + col
        raise cur.fail(f"{what} = {int(vals[bad[0]])}, expected {want}", i)


def read_shape_predictor(path: str | Path) -> ShapePredictorModel:
    """Parse a dlib ``shape_predictor`` ``.dat`` file into numpy arrays (slow: tens of seconds for 100 MB).

    Raises:
        AssetError: the file is missing, truncated or corrupt (names the file and the byte offset).
    """
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise AssetError(f"{path}: cannot read the shape predictor file: {exc}") from exc
    if not buf:
        raise AssetError(f"{path}: empty file, expected a dlib shape predictor")
    starts = _int_starts(buf, path)
    cur = _Cursor(_decode_ints(buf, starts), starts, path)

    version = cur.int_("version", -(1 << 20), 1 << 20)
    if version != 1:
        raise cur.fail(f"version {version} (expected 1)", 0)
    cur.need(2, "initial shape")
    rows = abs(int(cur.vals[cur.i]))
    if rows == 0 or rows % 2 or rows > 1 << 16:
        raise cur.fail(f"initial shape with {rows} values")
    initial = cur.column(rows, "initial shape")

    num_c = cur.int_("number of cascades", 1, 1000)
    num_t = cur.int_("number of trees", 1, 100_000)
    first_tree = cur.i
    num_s = cur.int_("number of splits", 1, 1 << 12)
    cur.i = first_tree
    num_l = num_s + 1
    leaf_len = 2 + 2 * rows
    tree_len = 1 + 4 * num_s + 1 + num_l * leaf_len
    cascade_len = num_t * tree_len
    idx = np.empty((num_c, num_t, num_s, 2), dtype=np.int32)
    thresh = np.empty((num_c, num_t, num_s), dtype=np.float32)
    leaves = np.empty((num_c, num_t, num_l, rows), dtype=np.float32)
    for c in range(num_c):
        if c > 0:
            cur.int_(f"number of trees of cascade {c}", num_t, num_t)
        cur.need(cascade_len, f"cascade {c}")
        block = cur.vals[cur.i : cur.i + cascade_len].reshape(num_t, tree_len)
        _check_block(cur, block, 0, num_s, tree_len, f"cascade {c}: number of splits")
        _check_block(cur, block, 1 + 4 * num_s, num_l, tree_len, f"cascade {c}: number of leaves")
        splits = block[:, 1 : 1 + 4 * num_s].reshape(num_t, num_s, 4)
        leaf = block[:, 2 + 4 * num_s :].reshape(num_t, num_l, leaf_len)
        for col, want in ((0, rows), (1, 1)):
            bad = np.flatnonzero(np.abs(leaf[:, :, col]).ravel() != want)
            if bad.size:
                t, l = divmod(int(bad[0]), num_l)
                i = cur.i + t * tree_len + 2 + 4 * num_s + l * leaf_len + col
                raise cur.fail(f"cascade {c} tree {t}: leaf matrix size {int(leaf[t, l, col])}", i)
        if splits[:, :, :2].min() < 0 or splits[:, :, :2].max() >= 1 << 31:
            bad_at = int(np.flatnonzero(((splits[:, :, :2] < 0) | (splits[:, :, :2] >= 1 << 31)).ravel())[0])
            t, rest = divmod(bad_at, num_s * 2)
            i = cur.i + t * tree_len + 1 + (rest // 2) * 4 + rest % 2
            raise cur.fail(f"cascade {c}: split feature index out of range", i)
        idx[c] = splits[:, :, :2]
        fl = splits[:, :, 2:].reshape(-1, 2)
        lv = leaf[:, :, 2:].reshape(-1, 2)
        bad_fl = _bad_floats(fl)
        if bad_fl.size:
            t, s = divmod(int(bad_fl[0]), num_s)
            raise cur.fail(f"cascade {c} tree {t}: invalid split threshold", cur.i + t * tree_len + 1 + 4 * s + 2)
        bad_lv = _bad_floats(lv)
        if bad_lv.size:
            t, rest = divmod(int(bad_lv[0]), num_l * rows)
            l, j = divmod(rest, rows)
            i = cur.i + t * tree_len + 2 + 4 * num_s + l * leaf_len + 2 + 2 * j
            raise cur.fail(f"cascade {c} tree {t}: invalid leaf value", i)
        thresh[c] = np.ldexp(fl[:, 0].astype(np.float64), fl[:, 1].astype(np.int32)).reshape(num_t, num_s)
        leaves[c] = np.ldexp(lv[:, 0].astype(np.float64), lv[:, 1].astype(np.int32)).reshape(num_t, num_l, rows)
        cur.i += cascade_len

    num_f = 0
    anchors: list[npt.NDArray[np.int64]] = []
    cur.int_("number of anchor lists", num_c, num_c)
    for c in range(num_c):
        n = cur.int_(f"number of anchors of cascade {c}", 1, 1 << 20)
        if c == 0:
            num_f = n
        elif n != num_f:
            raise cur.fail(f"cascade {c} has {n} feature pixels, cascade 0 has {num_f}", cur.i - 1)
        cur.need(n, f"anchors of cascade {c}")
        a = cur.vals[cur.i : cur.i + n]
        bad = np.flatnonzero((a < 0) | (a >= rows // 2))
        if bad.size:
            raise cur.fail(f"cascade {c}: anchor landmark {int(a[bad[0]])} out of range", cur.i + int(bad[0]))
        anchors.append(a)
        cur.i += n
    deltas = np.empty((num_c, num_f, 2), dtype=np.float32)
    cur.int_("number of delta lists", num_c, num_c)
    for c in range(num_c):
        cur.int_(f"number of deltas of cascade {c}", num_f, num_f)
        deltas[c] = cur.floats(2 * num_f, f"deltas of cascade {c}").reshape(num_f, 2)
    if cur.i != len(cur.vals):
        raise cur.fail(f"{len(cur.vals) - cur.i} unexpected integers after the predictor")

    model = ShapePredictorModel(
        initial_shape=initial.reshape(-1, 2),
        split_idx=idx,
        split_thresh=thresh,
        leaves=leaves.reshape(num_c, num_t, num_l, rows // 2, 2),
        anchor_idx=np.stack(anchors).astype(np.int32),
        deltas=deltas,
    )
    model.validate(str(path))
    return model
