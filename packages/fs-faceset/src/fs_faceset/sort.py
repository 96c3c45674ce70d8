"""Sort keys over a faceset, as in DeepFaceLab's and faceswap's sort tools. Each returns an order: an int64
array of positions into the faceset (first = kept / looked at first), so ``faceset[order]`` is the sorted view.

Directions: blur and motion blur sharpest first; brightness and hue highest first; black-border pixels fewest
first; yaw and pitch from most negative to most positive (:class:`fs_align.Pose` conventions); face size in
source largest first; histogram orders keep similar faces next to each other; hist-dissim most dissimilar first.

Image statistics are taken inside the convex hull of the face-space landmarks (the face, not the border).
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import numpy.typing as npt

from fs_faceset.errors import FacesetError
from fs_faceset.faceset import Faceset

__all__ = [
    "by_black_border",
    "by_blur",
    "by_brightness",
    "by_embedding",
    "by_face_size",
    "by_hist",
    "by_hist_blur",
    "by_hist_dissim",
    "by_hue",
    "by_motion_blur",
    "by_pitch",
    "by_yaw",
    "cluster_embeddings",
    "final",
    "hist_groups",
    "like_poses",
    "poses",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
_BATCH = 64


def _batches(fs: Faceset) -> Iterator[tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]]:
    for start in range(0, len(fs), _BATCH):
        idx = np.arange(start, min(start + _BATCH, len(fs)))
        yield fs.images(idx), fs.landmarks(idx)


def _hull(lm: npt.NDArray[np.float32], size: int) -> npt.NDArray[np.bool_]:
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(lm).astype(np.int32)), 1)
    return mask.astype(bool) if mask.any() else np.ones((size, size), bool)


def _per_face(fs: Faceset, fn: object) -> F64:
    out = np.zeros(len(fs), np.float64)
    k = 0
    for imgs, lms in _batches(fs):
        for img, lm in zip(imgs, lms):
            out[k] = fn(img, _hull(lm, fs.size))  # type: ignore[operator]
            k += 1
    return out


def _order(values: F64, descending: bool) -> I64:
    return np.argsort(-values if descending else values, kind="stable").astype(np.int64)


def blur_scores(fs: Faceset) -> F64:
    """Variance of the Laplacian of the grey face (higher is sharper)."""

    def f(img: npt.NDArray[np.uint8], m: npt.NDArray[np.bool_]) -> float:
        lap = cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_64F)
        return float(lap[m].var())

    return _per_face(fs, f)


def by_blur(fs: Faceset) -> I64:
    """Sharpest first (variance of the Laplacian inside the face)."""
    return _order(blur_scores(fs), True)


def by_motion_blur(fs: Faceset) -> I64:
    """Least motion-blurred first: the score is the weakest of four directional gradient energies (0, 45, 90,
    135 degrees), which drops when the face is smeared along one direction even if it is sharp across it."""
    kernels = [
        np.array([[-1, 1]], np.float32),
        np.array([[-1], [1]], np.float32),
        np.array([[-1, 0], [0, 1]], np.float32) / np.sqrt(2),
        np.array([[0, -1], [1, 0]], np.float32) / np.sqrt(2),
    ]

    def f(img: npt.NDArray[np.uint8], m: npt.NDArray[np.bool_]) -> float:
        grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
        return min(float(np.mean(cv2.filter2D(grey, -1, k)[m] ** 2)) for k in kernels)

    return _order(_per_face(fs, f), True)


def by_brightness(fs: Faceset) -> I64:
    """Brightest first (mean HSV value inside the face)."""
    return _order(_per_face(fs, lambda img, m: cv2.cvtColor(img, cv2.COLOR_BGR2HSV)[..., 2][m].mean()), True)


def by_hue(fs: Faceset) -> I64:
    """Highest mean hue first (OpenCV hue 0-179, inside the face)."""
    return _order(_per_face(fs, lambda img, m: cv2.cvtColor(img, cv2.COLOR_BGR2HSV)[..., 0][m].mean()), True)


def by_black_border(fs: Faceset) -> I64:
    """Fewest pure-black pixels first (black comes from warping past the frame's edge)."""
    counts = np.zeros(len(fs))
    k = 0
    for imgs, _ in _batches(fs):
        counts[k : k + len(imgs)] = np.count_nonzero(imgs.max(axis=3) == 0, axis=(1, 2))
        k += len(imgs)
    return _order(counts, False)


def histograms(fs: Faceset, bins: int = 32) -> npt.NDArray[np.float32]:
    """Per-face B, G, R histograms (``bins`` each) inside the face, each channel normalised to sum 1."""
    out = np.zeros((len(fs), 3 * bins), np.float32)
    k = 0
    for imgs, lms in _batches(fs):
        for img, lm in zip(imgs, lms):
            m = _hull(lm, fs.size).astype(np.uint8)
            h = [cv2.calcHist([img], [c], m, [bins], [0, 256]).ravel() for c in range(3)]
            out[k] = np.concatenate([x / max(x.sum(), 1.0) for x in h])
            k += 1
    return out


def _similarity(hists: npt.NDArray[np.float32]) -> F64:
    """Bhattacharyya coefficient between every pair (1 = identical colour distribution), mean over channels."""
    root = np.sqrt(hists.astype(np.float64))
    return np.asarray(root @ root.T / 3.0)


def hist_groups(fs: Faceset, threshold: float = 0.9) -> I64:
    """Group labels: a face joins the first group whose first face has histogram similarity >= ``threshold``."""
    sim = _similarity(histograms(fs))
    labels = -np.ones(len(fs), np.int64)
    leaders: list[int] = []
    for i in range(len(fs)):
        best = max(leaders, key=lambda j: sim[i, j], default=None)
        if best is not None and sim[i, best] >= threshold:
            labels[i] = labels[best]
        else:
            labels[i] = len(leaders)
            leaders.append(i)
    return labels


def by_hist(fs: Faceset) -> I64:
    """Similar colour histograms next to each other (greedy nearest-neighbour chain from face 0)."""
    n = len(fs)
    if n == 0:
        return np.zeros(0, np.int64)
    sim = _similarity(histograms(fs))
    used = np.zeros(n, bool)
    order = [0]
    used[0] = True
    for _ in range(n - 1):
        row = np.where(used, -np.inf, sim[order[-1]])
        nxt = int(np.argmax(row))
        order.append(nxt)
        used[nxt] = True
    return np.asarray(order, np.int64)


def by_hist_dissim(fs: Faceset) -> I64:
    """Most dissimilar first: the score is a face's summed histogram distance to every other face."""
    sim = _similarity(histograms(fs))
    return _order(np.sum(1.0 - sim, axis=1), True)


def by_hist_blur(fs: Faceset, threshold: float = 0.9) -> I64:
    """Histogram groups (largest group first), sharpest first within each group."""
    labels, blur = hist_groups(fs, threshold), blur_scores(fs)
    sizes = np.bincount(labels) if len(labels) else np.zeros(0, np.int64)
    return np.lexsort((-blur, labels, -sizes[labels])).astype(np.int64) if len(labels) else np.zeros(0, np.int64)


def poses(fs: Faceset) -> F64:
    """``(n, 3)`` pitch, yaw, roll in degrees: the stored pose, or ``fs_align.estimate_pose`` on the face-space
    landmarks (frame = the aligned image) where none is stored; NaN where neither is possible."""
    out = fs.column("pose").astype(np.float64)
    missing = np.flatnonzero(np.isnan(out).any(axis=1))
    if missing.size:
        try:
            from fs_align import estimate_pose
        except ImportError:
            return out
        lms = fs.landmarks(missing)
        for j, lm in zip(missing, lms):
            try:
                p = estimate_pose(lm, (fs.size, fs.size))
            except ValueError:
                continue
            out[j] = (p.pitch, p.yaw, p.roll)
    return out


def by_yaw(fs: Faceset) -> I64:
    """Yaw from most negative to most positive (faces without a pose last)."""
    return _order(np.nan_to_num(poses(fs)[:, 1], nan=np.inf), False)


def by_pitch(fs: Faceset) -> I64:
    """Pitch from most negative (looking down) to most positive (faces without a pose last)."""
    return _order(np.nan_to_num(poses(fs)[:, 0], nan=np.inf), False)


def by_face_size(fs: Faceset) -> I64:
    """Largest face in its source frame first (frame pixels per face side, from ``image_to_face``'s scale)."""
    mats = fs.column("image_to_face").astype(np.float64)
    scale = np.sqrt(np.abs(np.linalg.det(mats[:, :, :2])))
    return _order(fs.size / np.maximum(scale, 1e-12), True)


def cluster_embeddings(embeddings: npt.ArrayLike, threshold: float = 0.5) -> I64:
    """Cluster identity embeddings: a face joins the cluster whose mean direction has cosine similarity
    >= ``threshold`` with it (the best such), else starts a new cluster. Returns a label per face."""
    emb = np.asarray(embeddings, np.float64)
    if emb.ndim != 2 or not np.all(np.isfinite(emb)):
        raise FacesetError(f"embeddings: expected a finite (n, d) array, got shape {emb.shape}")
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    sums: list[F64] = []
    labels = np.zeros(len(unit), np.int64)
    for i, e in enumerate(unit):
        if sums:
            cent = np.stack(sums)
            cos = cent @ e / np.maximum(np.linalg.norm(cent, axis=1), 1e-12)
            best = int(np.argmax(cos))
            if cos[best] >= threshold:
                labels[i] = best
                sums[best] = sums[best] + e
                continue
        labels[i] = len(sums)
        sums.append(e.copy())
    return labels


def by_embedding(embeddings: npt.ArrayLike, threshold: float = 0.5) -> I64:
    """Sort by face: largest identity cluster first, within a cluster most typical (closest to its mean) first.

    ``embeddings`` is ``(n, d)`` in faceset order (e.g. from fs-detect's SFace, or the faces' stored ones).
    """
    emb = np.asarray(embeddings, np.float64)
    labels = cluster_embeddings(emb, threshold)
    if len(labels) == 0:
        return np.zeros(0, np.int64)
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    cent = np.stack([unit[labels == c].mean(axis=0) for c in range(labels.max() + 1)])
    typical = np.sum(unit * cent[labels], axis=1)
    sizes = np.bincount(labels)
    return np.lexsort((-typical, labels, -sizes[labels])).astype(np.int64)


def final(fs: Faceset, target: int = 2000, *, yaw_bins: int = 128) -> I64:
    """DeepFaceLab's best-N selection: positions of up to ``target`` faces covering the yaw range evenly.

    Faces are binned by yaw over [-68.75, 68.75] degrees (DFL's +-1.2 rad); each bin's share is ``target /
    yaw_bins`` plus what empty bins leave over; within a bin the 10x-share sharpest are kept, spread over pitch
    bins, each pitch bin ordered by histogram dissimilarity, and faces are taken round-robin over pitch bins.
    """
    n = len(fs)
    if target < 1:
        raise FacesetError(f"target: expected >= 1, got {target}")
    if n == 0:
        return np.zeros(0, np.int64)
    pose = poses(fs)
    yaw, pitch = np.nan_to_num(pose[:, 1]), np.nan_to_num(pose[:, 0])
    blur = blur_scores(fs)
    dissim = np.sum(1.0 - _similarity(histograms(fs)), axis=1)
    edges = np.linspace(np.degrees(-1.2), np.degrees(1.2), yaw_bins)
    ybin = np.clip(np.searchsorted(edges, yaw, side="right") - 1, 0, yaw_bins - 1)
    per = round(target / yaw_bins)
    counts = np.bincount(ybin, minlength=yaw_bins)
    per += int(np.maximum(per - counts, 0).sum()) // yaw_bins
    per = max(per, 1)
    pitch_edges = np.linspace(-90.0, 90.0, per)
    chosen: list[int] = []
    for b in range(yaw_bins):
        members = np.flatnonzero(ybin == b)
        members = members[np.argsort(-blur[members], kind="stable")][: per * 10]
        pbin = np.clip(np.searchsorted(pitch_edges, pitch[members], side="right") - 1, 0, per - 1)
        queues = [list(members[pbin == p][np.argsort(-dissim[members[pbin == p]], kind="stable")]) for p in range(per)]
        take = per
        while take > 0 and any(queues):
            for q in queues:
                if q and take > 0:
                    chosen.append(int(q.pop(0)))
                    take -= 1
    return np.asarray(chosen[:target], np.int64)


def like_poses(
    fs: Faceset, target: npt.ArrayLike, n: int, *, prefer: npt.ArrayLike | None = None, within_deg: float = 2.0
) -> I64:
    """Positions of up to ``n`` faces whose head poses cover ``target``'s: src faces chosen for a dst.

    ``target`` is ``(m, 2)`` or more columns of (pitch, yaw, ...) degrees, e.g. ``poses(dst)``. The target poses
    are visited evenly (each ``m / n``-th, or each several times round when ``n > m``) and each takes a face not
    yet taken among those nearest to it in (pitch, yaw): with ``prefer`` (a score per face, higher is better,
    e.g. :func:`blur_scores`) the best-scoring face within ``within_deg`` of the nearest distance, else the
    nearest. So the faces follow the target's pose distribution (where a dst spends most frames, most faces)
    instead of the src's: a model trained on faces that never reach the dst's poses renders src's usual pose
    instead (fs-train's README measures it). Faces and targets without a pose are skipped.
    """
    if n < 1:
        raise FacesetError(f"n: expected >= 1, got {n}")
    want = np.asarray(target, np.float64)
    if want.ndim != 2 or want.shape[1] < 2:
        raise FacesetError(f"target: expected (m, 2) pitch and yaw degrees, got shape {want.shape}")
    want = want[np.isfinite(want[:, :2]).all(axis=1), :2]
    have = poses(fs)[:, :2]
    score = np.zeros(len(have)) if prefer is None else np.nan_to_num(np.asarray(prefer, np.float64), nan=-np.inf)
    if score.shape != (len(have),):
        raise FacesetError(f"prefer: expected one score per face ({len(have)}), got shape {score.shape}")
    free: npt.NDArray[np.bool_] = np.asarray(np.isfinite(have).all(axis=1), bool)
    if not len(want) or not free.any():
        return np.zeros(0, np.int64)
    chosen: list[int] = []
    for t in want[(np.arange(min(n, int(free.sum()))) * len(want)) // n]:
        dist = np.where(free, np.hypot(have[:, 0] - t[0], have[:, 1] - t[1]), np.inf)
        near = np.flatnonzero(dist <= dist.min() + (within_deg if prefer is not None else 0.0))
        best = int(near[np.argmax(score[near])])
        free[best] = False
        chosen.append(best)
    return np.asarray(chosen, np.int64)
