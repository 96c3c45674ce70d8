"""Greedy non-maximum suppression in torch, batched over groups (frames, pyramid scales), any device.

torchvision has no CPU build here, so this is written with plain tensor ops: boxes are sorted by group then
score, padded into a ``(groups, K, K)`` overlap matrix, and the greedy rule "keep a box unless a kept,
higher-scoring box of its group overlaps it" is solved by fixed-point iteration. Starting from "keep all",
iteration ``t`` fixes the first ``t`` boxes of every group, and the rule has exactly one fixed point (the
greedy answer), so the loop stops at the greedy result, usually after a handful of steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import torch

__all__ = ["batched_nms", "nms_numpy"]

_MAX_CELLS = 1 << 24


def _pairwise(boxes: torch.Tensor, mode: str) -> torch.Tensor:
    """Overlap of every pair in ``(G, K, 4)`` xyxy boxes: IoU (``union``) or intersection / smaller area."""
    import torch

    x1, y1, x2, y2 = boxes.unbind(-1)
    area = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    iw = (torch.minimum(x2[:, :, None], x2[:, None, :]) - torch.maximum(x1[:, :, None], x1[:, None, :])).clamp(min=0)
    ih = (torch.minimum(y2[:, :, None], y2[:, None, :]) - torch.maximum(y1[:, :, None], y1[:, None, :])).clamp(min=0)
    inter = iw * ih
    if mode == "min":
        denom = torch.minimum(area[:, :, None], area[:, None, :])
    else:
        denom = area[:, :, None] + area[:, None, :] - inter
    return inter / denom.clamp(min=1e-9)


def batched_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    groups: torch.Tensor,
    iou_threshold: float,
    mode: Literal["union", "min"] = "union",
) -> torch.Tensor:
    """Indices of the boxes that survive greedy NMS within each group.

    Args:
        boxes: ``(N, 4)`` float xyxy.
        scores: ``(N,)`` float; higher wins.
        groups: ``(N,)`` int64 group ids (boxes of different groups never suppress each other).
        iou_threshold: a box is suppressed when its overlap with a kept, higher-scoring box exceeds this.
        mode: ``"union"`` (IoU) or ``"min"`` (intersection over the smaller box, MTCNN's last stage).

    Returns:
        ``(M,)`` int64 indices into ``boxes``, ordered by group, then by descending score.
    """
    import torch

    n = boxes.shape[0]
    if n == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = torch.argsort(scores, descending=True, stable=True)
    order = order[torch.argsort(groups[order], stable=True)]
    g_sorted = groups[order]
    _, dense, counts = torch.unique_consecutive(g_sorted, return_inverse=True, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(n, device=boxes.device) - starts[dense]
    k = int(counts.max())
    n_groups = int(counts.shape[0])
    per_chunk = max(1, _MAX_CELLS // (k * k))
    kept: list[torch.Tensor] = []
    for g0 in range(0, n_groups, per_chunk):
        g1 = min(n_groups, g0 + per_chunk)
        sel = (dense >= g0) & (dense < g1)
        idx = order[sel]
        gi = dense[sel] - g0
        ri = rank[sel]
        padded = boxes.new_zeros((g1 - g0, k, 4))
        padded[gi, ri] = boxes[idx].to(padded.dtype)
        valid = torch.zeros((g1 - g0, k), dtype=torch.bool, device=boxes.device)
        valid[gi, ri] = True
        upper = torch.ones((k, k), dtype=torch.bool, device=boxes.device).triu(1)
        sup = (_pairwise(padded, mode) > iou_threshold) & upper & valid[:, :, None] & valid[:, None, :]
        keep = valid.clone()
        for _ in range(k):
            new = valid & ~(sup & keep[:, :, None]).any(1)
            if torch.equal(new, keep):
                break
            keep = new
        kept.append(idx[keep[gi, ri]])
    return torch.cat(kept)


def nms_numpy(boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], iou_threshold: float) -> list[int]:
    """Greedy IoU NMS of one group in numpy (no torch import): :func:`batched_nms`'s answer for a single group.

    The same float32 arithmetic and rule: boxes in descending score order (stable), each kept unless a kept,
    higher-scoring box overlaps it by more than ``iou_threshold``. Returns indices into ``boxes``, best first.
    """
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
    area = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    kept: list[int] = []
    for i in order.tolist():
        if kept:
            k = np.asarray(kept)
            iw = np.clip(np.minimum(b[k, 2], b[i, 2]) - np.maximum(b[k, 0], b[i, 0]), 0, None)
            ih = np.clip(np.minimum(b[k, 3], b[i, 3]) - np.maximum(b[k, 1], b[i, 1]), 0, None)
            inter = iw * ih
            iou = inter / np.maximum(area[k] + area[i] - inter, np.float32(1e-9))
            if np.any(iou > iou_threshold):
                continue
        kept.append(int(i))
    return kept
