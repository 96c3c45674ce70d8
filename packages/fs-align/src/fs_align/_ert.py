"""Vectorised inference of a dlib ERT shape predictor (Kazemi & Sullivan 2014) in numpy.

Follows dlib/image_processing/shape_predictor.h exactly:

* the shape lives in the box-normalised frame, where ``(0, 0)`` is the box's top-left corner ``(x1, y1)`` and
  ``(1, 1)`` its bottom-right corner ``(x2, y2)``;
* each cascade places its feature pixels at ``S @ delta + shape[anchor]`` where ``S`` is the 2x2 part of the
  least-squares similarity from the mean shape to the current shape (computed in float64, used in float32),
  maps them to the image in float64 and rounds them (``floor(v + 0.5)``);
* a pixel's intensity is ``(R + G + B) // 3`` (integer mean of the channels); pixels outside the image read 0;
* a split goes left when ``I[idx1] - I[idx2] > thresh``; the leaves of the trees are added to the shape one
  after the other in float32 (the order changes the result).

Two backends with the same output: ``"numba"`` (:mod:`fs_align._ert_kernel`, one compiled loop in dlib's order,
used when numba is importable: ``pip install fs-align[fast]``) and ``"numpy"`` (below: all faces and all trees of a
cascade evaluated at once, the fallback).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from fs_align._dlib_format import ShapePredictorModel
from fs_align.errors import AssetError, ConfigError

__all__ = ["ERT_BACKENDS", "ErtPredictor", "similarity_params", "warm_up"]

ERT_BACKENDS = ("auto", "numba", "numpy")
"""``backend`` values of :class:`ErtPredictor`: ``auto`` takes numba when it imports, else numpy."""

_LEAF_CHUNK_BYTES = 512 * 1024
"""Largest block of gathered leaf rows summed at once (a batch of 8 faces sums its 500 trees in 4 chunks)."""


def similarity_params(src: npt.NDArray[np.float64], dst: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Least-squares similarity ``dst ~ [[a, -b], [b, a]] @ src + t`` for batches of point sets.

    Args:
        src: ``(..., P, 2)`` points.
        dst: ``(..., P, 2)`` points.

    Returns:
        ``(..., 4)`` float64 ``(a, b, tx, ty)``. This is Umeyama's solution without reflection, which dlib's
        ``find_similarity_transform`` also computes (for 2-D the closed form is exact).
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    ms = src.mean(axis=-2, keepdims=True)
    md = dst.mean(axis=-2, keepdims=True)
    s = src - ms
    d = dst - md
    var = np.sum(s * s, axis=(-2, -1))
    var = np.where(var > 0, var, 1.0)
    a = np.sum(s * d, axis=(-2, -1)) / var
    b = np.sum(s[..., 0] * d[..., 1] - s[..., 1] * d[..., 0], axis=-1) / var
    tx = md[..., 0, 0] - (a * ms[..., 0, 0] - b * ms[..., 0, 1])
    ty = md[..., 0, 1] - (b * ms[..., 0, 0] + a * ms[..., 0, 1])
    return np.stack([a, b, tx, ty], axis=-1)


def _leaf_table(num_splits: int) -> npt.NDArray[np.intp]:
    """Leaf reached for every combination of split outcomes (bit i of the code: split i goes left).

    Nodes are numbered breadth-first as in dlib (children of ``i``: ``2i + 1`` left, ``2i + 2`` right).
    """
    codes = np.arange(1 << num_splits, dtype=np.int64)
    node = np.zeros_like(codes)
    while True:
        inner = node < num_splits
        if not inner.any():
            break
        left = (codes >> np.where(inner, node, 0)) & 1
        node = np.where(inner, 2 * node + 2 - left, node)
    return (node - num_splits).astype(np.intp)


def _load_kernel() -> Any | None:
    """The compiled cascade, or None when numba is not installed or does not import."""
    try:
        from fs_align._ert_kernel import ert_cascade
    except Exception:  # ImportError, or a numba that fails to load (e.g. built for another numpy)
        return None
    return ert_cascade


def warm_up() -> str:
    """Compile the numba kernel now (or load it from numba's disk cache), on a tiny model: no asset needed.

    For a process that forks workers (a fork server): the compiled loop is inherited, so each worker skips
    the first call's 0.3-1.5 s. Returns the backend that will run (``"numpy"`` when numba is unusable).
    """
    p, f, t, s = 3, 4, 2, 3
    model = ShapePredictorModel(
        initial_shape=np.linspace(0.2, 0.8, 2 * p, dtype=np.float32).reshape(p, 2),
        split_idx=np.zeros((1, t, s, 2), np.int32),
        split_thresh=np.zeros((1, t, s), np.float32),
        leaves=np.zeros((1, t, s + 1, p, 2), np.float32),
        anchor_idx=np.zeros((1, f), np.int32),
        deltas=np.zeros((1, f, 2), np.float32),
    )
    predictor = ErtPredictor(model)
    predictor(np.zeros((8, 8, 3), np.uint8), np.array([[1.0, 1.0, 7.0, 7.0]]))
    return predictor.backend


class ErtPredictor:
    """Runs a parsed :class:`ShapePredictorModel` on a grey image and a batch of boxes.

    Args:
        model: the parsed predictor.
        backend: one of :data:`ERT_BACKENDS`; ``"numba"`` raises :class:`ConfigError` when numba is missing.
    """

    def __init__(self, model: ShapePredictorModel, backend: str = "auto") -> None:
        if backend not in ERT_BACKENDS:
            raise ConfigError(f"backend: expected one of {', '.join(ERT_BACKENDS)}, got {backend!r}")
        self._kernel = None if backend == "numpy" else _load_kernel()
        if backend == "numba" and self._kernel is None:
            raise ConfigError("backend 'numba': numba is not importable (pip install fs-align[fast])")
        self.backend = "numpy" if self._kernel is None else "numba"
        self._requested = backend
        self._kernel_ran = False
        c, t, s = model.split_thresh.shape
        self.model = model
        self.num_points = model.num_points
        self.depth = model.depth
        self.num_splits = s
        self.num_trees = t
        self.initial = np.ascontiguousarray(model.initial_shape, dtype=np.float32)
        mean64 = self.initial.astype(np.float64)
        if s > 15:
            raise AssetError(f"trees deeper than 4 levels are not supported ({s} splits per tree)")
        self.idx12 = np.ascontiguousarray(model.split_idx.reshape(c, t * s, 2).transpose(0, 2, 1), dtype=np.intp)
        self._leaf_table = _leaf_table(s)
        # Intensities are integers, so ``d > thresh`` equals ``d > floor(thresh)`` for the integer difference
        # ``d`` in [-255, 255]; clipping to +-300 keeps that and fits int16.
        self.thresh_int = np.clip(np.floor(model.split_thresh.reshape(c, t * s)), -300, 300).astype(np.int16)
        self._bit_weights = (2.0 ** np.arange(s)).astype(np.float32)
        self.leaves = np.ascontiguousarray(model.leaves.reshape(c, t * (s + 1), self.num_points * 2))
        anchor = np.asarray(model.anchor_idx, dtype=np.intp)
        # indices of each feature's anchor x and y in the flat (x0, y0, x1, y1, ...) shape: (C, 2, F)
        self.anchor_xy = np.ascontiguousarray(np.stack([2 * anchor, 2 * anchor + 1], axis=1))
        self.deltas = np.ascontiguousarray(model.deltas.transpose(0, 2, 1), dtype=np.float32)  # (C, 2, F)
        self._tree_leaf_base = (np.arange(t, dtype=np.intp) * (s + 1))[None, :]
        # The similarity's linear part [[a, -b], [b, a]] as one product with the flat shape: because the mean
        # shape is centred, a = <shape, mean> / |mean|^2 and b = <shape, (-mean_y, mean_x)> / |mean|^2.
        mean_c = mean64 - mean64.mean(axis=0)
        var = float(np.sum(mean_c**2))
        a_vec = mean_c.reshape(-1) / var
        b_vec = np.stack([-mean_c[:, 1], mean_c[:, 0]], axis=1).reshape(-1) / var
        self._sim_proj = np.ascontiguousarray(np.stack([a_vec, -b_vec, b_vec, a_vec], axis=1))  # (2P, 4)
        if self._kernel is not None:  # the compiled loop's layouts
            self._k_a = np.ascontiguousarray(a_vec)
            self._k_b = np.ascontiguousarray(b_vec)
            self._k_anchor = np.ascontiguousarray(anchor, dtype=np.int64)
            self._k_deltas = np.ascontiguousarray(model.deltas, dtype=np.float32)
            small = np.int16 if model.num_features <= np.iinfo(np.int16).max else np.int32
            self._k_idx12 = np.ascontiguousarray(model.split_idx, dtype=small)
            self._k_thresh = np.ascontiguousarray(self.thresh_int.reshape(c, t, s))
            self._k_leaves = self.leaves

    def __call__(self, image: npt.NDArray[np.uint8], boxes: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Predict landmarks.

        Args:
            image: ``H x W x 3`` uint8 (any channel order: only the channel sum is used) or ``H x W`` uint8 grey.
            boxes: ``(N, 4)`` float64 ``(x1, y1, x2, y2)``; (0, 0) and (1, 1) of the model frame map to the
                corners ``(x1, y1)`` and ``(x2, y2)``.

        Returns:
            ``(N, P, 2)`` float64 landmarks in image pixels.
        """
        n = boxes.shape[0]
        h, w = image.shape[:2]
        chans = 1 if image.ndim == 2 else image.shape[2]
        if self._kernel is not None:
            flat_frame = np.ascontiguousarray(image).reshape(-1)
            if self._kernel_ran:
                return self._run_kernel(flat_frame, h, w, chans, boxes)
            first = self._first_kernel_call(flat_frame, h, w, chans, boxes)
            if first is not None:
                return first
        # Only the feature pixels are read (converting a whole 1080p frame costs more than predicting a face),
        # through 1-D takes from the flat frame (the fastest gather numpy has).
        flat = np.ascontiguousarray(image).reshape(-1)
        scale = (boxes[:, 2:4] - boxes[:, 0:2])[:, :, None]  # (N, 2, 1)
        offset = boxes[:, 0:2, None] + 0.5  # rounding as floor(v + 0.5)
        to_index = np.array([chans, chans * w], dtype=np.float64)
        shape = np.broadcast_to(self.initial.reshape(-1), (n, 2 * self.num_points)).copy()  # (N, 2P) x, y, x, ...
        row_bytes = self.leaves.shape[2] * self.leaves.itemsize
        chunk = max(16, min(self.num_trees, _LEAF_CHUNK_BYTES // (n * row_bytes)))
        for c in range(self.leaves.shape[0]):
            # similarity from the mean shape (float64, used in float32); feature = S @ delta + shape[anchor]
            lin = (shape.astype(np.float64) @ self._sim_proj).astype(np.float32).reshape(n, 2, 2)
            # each product rounded to float32, as dlib computes it (matmul may fuse them: 1 box in 960 moved 12 px)
            feat = lin[:, :, 0:1] * self.deltas[c, 0]
            feat += lin[:, :, 1:2] * self.deltas[c, 1]
            feat += shape.take(self.anchor_xy[c], axis=1)
            pos = np.floor(feat * scale + offset)  # (N, 2, F) float64 whole pixels
            if pos.min() >= 0 and pos[:, 0].max() < w and pos[:, 1].max() < h:
                inside = None
                index = (to_index @ pos).astype(np.intp)
            else:
                inside = (pos[:, 0] >= 0) & (pos[:, 0] < w) & (pos[:, 1] >= 0) & (pos[:, 1] < h)
                index = np.where(inside, to_index @ pos, 0).astype(np.intp)
            feats = flat.take(index).astype(np.int16)
            for k in range(1, chans):  # three 1-D takes beat one (N, F, 3) take and a sum over the last axis
                feats += flat.take(index + k)
            if chans > 1:
                feats //= chans  # dlib's intensity: the integer mean of the channels
            if inside is not None:
                feats *= inside  # pixels outside the image read 0
            pair = feats.take(self.idx12[c], axis=1)  # (N, 2, T * S)
            go_left = (pair[:, 0] - pair[:, 1]) > self.thresh_int[c]
            # The S split outcomes of a tree, as the bits of an integer, select its leaf through a table.
            code = go_left.reshape(n * self.num_trees, -1).astype(np.float32) @ self._bit_weights
            leaf = self._leaf_table.take(code.astype(np.intp)).reshape(n, self.num_trees)
            leaf += self._tree_leaf_base
            # dlib adds the leaves one tree after the other onto the current shape, in float32; the same order
            # matters: adding the shape after the leaves (a sparse one-hot product, 2-3x faster for batches)
            # moved 10 % of 1280 jittered real-face boxes by more than 0.5 px, up to 15 px, after later cascades.
            # Trees go in chunks whose gathered leaves stay in cache (one chunk for a single face).
            for k in range(0, self.num_trees, chunk):
                inc = self.leaves[c].take(leaf[:, k : k + chunk], axis=0)  # (N, chunk, 2P)
                inc[:, 0, :] += shape
                shape = np.add.reduce(inc, axis=1)
        return self._to_image(shape, boxes)

    def _first_kernel_call(
        self, flat: npt.NDArray[np.uint8], h: int, w: int, chans: int, boxes: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64] | None:
        """The first call compiles the kernel or loads numba's disk cache; None: use the numpy path.

        When that fails, in turn: compile in memory (a damaged cache file, whose index is emptied), compile
        without the prefetch hints (an LLVM that refuses them), and last the numpy path (a numba that cannot
        compile the kernel at all), with the same output, unless ``backend="numba"`` was asked for (then the
        last error propagates).
        """
        from fs_align import _ert_kernel

        attempts = [
            lambda: self._kernel,
            _ert_kernel.recompile_after_cache_error,
            _ert_kernel.compile_without_prefetch,
        ]
        for k, attempt in enumerate(attempts):
            try:
                self._kernel = attempt()
                return self._run_kernel(flat, h, w, chans, boxes)
            except Exception:
                if k == len(attempts) - 1 and self._requested == "numba":
                    raise
        self._kernel = None
        self.backend = "numpy"
        return None

    def _run_kernel(
        self, flat: npt.NDArray[np.uint8], h: int, w: int, chans: int, boxes: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        n = boxes.shape[0]
        boxes = np.ascontiguousarray(boxes, dtype=np.float64)
        shape = np.broadcast_to(self.initial.reshape(-1), (n, 2 * self.num_points)).copy()
        feats = np.empty(self.deltas.shape[2], dtype=np.int32)
        leaf = np.empty(self.num_trees, dtype=np.int64)
        assert self._kernel is not None
        self._kernel(
            flat, h, w, chans, boxes, shape, self._k_a, self._k_b, self._k_anchor, self._k_deltas,
            self._k_idx12, self._k_thresh, self._k_leaves, feats, leaf,
        )  # fmt: skip
        self._kernel_ran = True
        return self._to_image(shape, boxes)

    def _to_image(self, shape: npt.NDArray[np.float32], boxes: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Box-frame ``(N, 2P)`` float32 shapes to ``(N, P, 2)`` float64 image pixels."""
        n = boxes.shape[0]
        box_origin = boxes[:, None, 0:2]
        box_scale = (boxes[:, 2:4] - boxes[:, 0:2])[:, None, :]
        out = box_origin + shape.reshape(n, self.num_points, 2).astype(np.float64) * box_scale
        return np.asarray(out, dtype=np.float64)
