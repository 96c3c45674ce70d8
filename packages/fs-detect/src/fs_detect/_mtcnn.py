"""The MTCNN cascade in torch, batched across frames: P-Net pyramid, R-Net and O-Net on resampled crops.

Every stage runs on the whole batch at once: each pyramid scale is one P-Net call over all frames of the same
size, the candidate crops of all frames go through R-Net and O-Net together, and NMS is grouped per frame
(and per scale) in one call. Crops are resampled with ``grid_sample`` from a 2x mip pyramid of the frames
(level chosen so the crop shrinks by less than 2x), which keeps the whole cascade on the device without
per-box Python work.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from fs_detect._base import Detector, RawDetections
from fs_detect._mtcnn_nets import load_mtcnn_nets
from fs_detect._nms import batched_nms
from fs_detect._types import DetectorConfig, DetectorName

__all__ = ["MTCNNDetector"]

_STAGE_THRESHOLDS = (0.6, 0.4, 0.4)
_PYRAMID_FACTOR = 0.709
_PNET_NMS = 0.5
_STAGE_NMS = 0.7


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Grow xyxy boxes to squares about their centres."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(w, h)
    cx = boxes[:, 0] + w / 2
    cy = boxes[:, 1] + h / 2
    return torch.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], dim=1)


def _regress(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    """Apply MTCNN's box offsets (fractions of width/height) to xyxy boxes."""
    wh = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)
    return boxes + reg * wh


class MTCNNDetector(Detector):
    """MTCNN (Zhang et al. 2016) with the facenet-pytorch weights, written here in torch.

    Input frames are BGR; the networks were trained on RGB scaled to [-1, 1] and the conversion happens on
    the device. Frames of equal size in one :meth:`detect_batch` call are processed as one batch.
    """

    name = DetectorName.MTCNN
    default_score_threshold = 0.92

    def __init__(
        self, config: DetectorConfig, device: torch.device, home: Path | None = None, *, download: bool = True
    ) -> None:
        super().__init__(config)
        self._device = device
        self.pnet, self.rnet, self.onet = load_mtcnn_nets(device, home, download=download)

    @property
    def device(self) -> torch.device:
        return self._device

    def _min_side(self) -> int:
        return 12

    def _detect_raw(self, images: list[npt.NDArray[np.uint8]], min_faces: list[float]) -> list[RawDetections]:
        out: list[RawDetections] = [RawDetections.empty() for _ in images]
        groups: dict[tuple[tuple[int, ...], float], list[int]] = {}
        for i, im in enumerate(images):
            groups.setdefault((im.shape, round(min_faces[i], 3)), []).append(i)
        with torch.inference_mode():
            for (_, min_face), idx in groups.items():
                batch = torch.from_numpy(np.stack([images[i] for i in idx])).to(self._device)
                for i, raw in zip(idx, self._cascade(batch, min_face)):
                    out[i] = raw
        return out

    def _scales(self, h: int, w: int, min_face: float) -> list[float]:
        m = 12.0 / min_face
        side = min(h, w) * m
        scales = []
        while side >= 12.0:
            scales.append(m)
            m *= _PYRAMID_FACTOR
            side *= _PYRAMID_FACTOR
        return scales

    def _cascade(self, frames_u8: torch.Tensor, min_face_px: float) -> list[RawDetections]:
        n, h, w, _ = frames_u8.shape
        x = frames_u8.permute(0, 3, 1, 2).flip(1).float().sub_(127.5).mul_(1.0 / 128.0)
        # ``min_face_px`` is the configured minimum in this (possibly downscaled) frame's pixels; the pyramid
        # never goes below P-Net's own 12 px window.
        min_face = max(12.0, min_face_px)
        boxes, scores, frame_idx = self._stage1(x, h, w, min_face)
        mips = self._mips(x)
        t2, t3 = _STAGE_THRESHOLDS[1], min(_STAGE_THRESHOLDS[2], self.score_threshold)
        if boxes.shape[0]:
            prob, reg = self.rnet(self._crops(mips, boxes, frame_idx, 24))
            keep = prob >= t2
            boxes, scores, frame_idx, reg = boxes[keep], prob[keep], frame_idx[keep], reg[keep]
            k = batched_nms(boxes, scores, frame_idx, _STAGE_NMS)
            boxes = _square(_regress(boxes[k], reg[k]))
            scores, frame_idx = scores[k], frame_idx[k]
        points = boxes.new_zeros((0, 5, 2))
        if boxes.shape[0]:
            prob, reg, pts = self.onet(self._crops(mips, boxes, frame_idx, 48))
            keep = prob >= t3
            boxes, scores, frame_idx, reg, pts = boxes[keep], prob[keep], frame_idx[keep], reg[keep], pts[keep]
            wh = boxes[:, 2:] - boxes[:, :2]
            points = torch.stack([pts[:, :5], pts[:, 5:]], dim=2) * wh[:, None, :] + boxes[:, None, :2]
            boxes = _regress(boxes, reg)
            k = batched_nms(boxes, scores, frame_idx, _STAGE_NMS, mode="min")
            boxes, scores, frame_idx, points = boxes[k], scores[k], frame_idx[k], points[k]
            if boxes.shape[0]:
                # Score the refined box once more: a face stays a face once its box is centred on it, while
                # most false positives (textures, blur) lose confidence. R-Net's threshold is lowered to 0.4
                # (from the usual 0.7) so that faces R-Net under-rates reach O-Net; this second pass keeps that
                # from adding false positives.
                scores, _, _ = self.onet(self._crops(mips, _square(boxes), frame_idx, 48))
        boxes = torch.stack(
            [boxes[:, 0].clamp(0, w), boxes[:, 1].clamp(0, h), boxes[:, 2].clamp(0, w), boxes[:, 3].clamp(0, h)], 1
        )
        b, s, p, f = (t.float().cpu().numpy() for t in (boxes, scores, points, frame_idx))
        out = []
        for i in range(n):
            m = f == i
            out.append(RawDetections(b[m].astype(np.float32), s[m].astype(np.float32), p[m].astype(np.float32)))
        return out

    def _stage1(
        self, x: torch.Tensor, h: int, w: int, min_face: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """P-Net over the pyramid: square candidate boxes, scores and frame indices (after NMS and regression)."""
        all_boxes, all_scores, all_groups = [], [], []
        n = x.shape[0]
        for si, scale in enumerate(self._scales(h, w, min_face)):
            size = (int(h * scale + 1), int(w * scale + 1))
            prob, reg = self.pnet(F.interpolate(x, size=size, mode="area"))
            hit = (prob >= _STAGE_THRESHOLDS[0]).nonzero()
            if hit.shape[0] == 0:
                continue
            fi, yi, xi = hit.unbind(1)
            cell = torch.stack([xi, yi], dim=1).to(x.dtype)
            q1 = torch.floor((2.0 * cell + 1.0) / scale)
            q2 = torch.floor((2.0 * cell + 12.0) / scale)
            boxes = torch.cat([q1, q2], dim=1)
            boxes = _regress(boxes, reg[fi, :, yi, xi])
            score = prob[fi, yi, xi]
            k = batched_nms(boxes, score, fi, _PNET_NMS)
            all_boxes.append(boxes[k])
            all_scores.append(score[k])
            all_groups.append(fi[k] + n * si)
        if not all_boxes:
            empty = x.new_zeros((0, 4))
            return empty, x.new_zeros((0,)), torch.zeros(0, dtype=torch.long, device=x.device)
        boxes, scores, groups = torch.cat(all_boxes), torch.cat(all_scores), torch.cat(all_groups)
        frame_idx = groups % n
        k = batched_nms(boxes, scores, frame_idx, _STAGE_NMS)
        return _square(boxes[k]), scores[k], frame_idx[k]

    @staticmethod
    def _mips(x: torch.Tensor) -> list[torch.Tensor]:
        mips = [x]
        while min(mips[-1].shape[-2:]) >= 48:
            mips.append(F.avg_pool2d(mips[-1], 2, ceil_mode=True))
        return mips

    @staticmethod
    def _crops(mips: list[torch.Tensor], boxes: torch.Tensor, frame_idx: torch.Tensor, size: int) -> torch.Tensor:
        """Resample each xyxy box (frame pixels) to ``size x size``; outside the frame reads as 0 (mid grey)."""
        k = boxes.shape[0]
        side = (boxes[:, 2:] - boxes[:, :2]).clamp(min=1.0)
        level = torch.log2(side.max(dim=1).values / size).floor().clamp(0, len(mips) - 1).long()
        steps = (torch.arange(size, device=boxes.device, dtype=boxes.dtype) + 0.5) / size
        out = boxes.new_zeros((k, 3, size, size))
        for lv in torch.unique(level).tolist():
            sel = (level == lv).nonzero().squeeze(1)
            img = mips[lv]
            span_x = img.shape[-1] * (2**lv)
            span_y = img.shape[-2] * (2**lv)
            b = boxes[sel]
            gx = (b[:, 0:1] + steps[None] * (b[:, 2:3] - b[:, 0:1])) * (2.0 / span_x) - 1.0
            gy = (b[:, 1:2] + steps[None] * (b[:, 3:4] - b[:, 1:2])) * (2.0 / span_y) - 1.0
            grid = torch.stack([gx[:, None, :].expand(-1, size, -1), gy[:, :, None].expand(-1, -1, size)], dim=-1)
            fi = frame_idx[sel]
            # One grid_sample per level over all frames: pad each frame's boxes to the same count.
            counts = torch.bincount(fi, minlength=img.shape[0])
            kmax = int(counts.max())
            order = torch.argsort(fi, stable=True)
            starts = torch.cumsum(counts, 0) - counts
            rank = torch.empty_like(fi)
            rank[order] = torch.arange(fi.shape[0], device=fi.device) - starts[fi[order]]
            full = grid.new_full((img.shape[0], kmax, size, size, 2), -4.0)
            full[fi, rank] = grid
            sampled = F.grid_sample(
                img, full.view(img.shape[0], kmax * size, size, 2), mode="bilinear", align_corners=False
            )
            sampled = sampled.view(img.shape[0], 3, kmax, size, size).permute(0, 2, 1, 3, 4)
            out[sel] = sampled[fi, rank]
        return out
