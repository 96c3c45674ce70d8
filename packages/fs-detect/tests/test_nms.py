"""The torch NMS against a plain greedy reference."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fs_detect import batched_nms, box_iou
from fs_detect._nms import nms_numpy


def _reference(boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, thr: float) -> list[int]:
    keep: list[int] = []
    for g in np.unique(groups):
        idx = [int(i) for i in np.flatnonzero(groups == g)]
        idx.sort(key=lambda i: (-scores[i], i))
        kept: list[int] = []
        for i in idx:
            if all(box_iou(boxes[i], boxes[j]) <= thr for j in kept):
                kept.append(i)
        keep.extend(kept)
    return keep


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 60), st.integers(1, 4), st.floats(0.1, 0.9))
def test_matches_greedy_reference(seed: int, n: int, n_groups: int, thr: float) -> None:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 50, (n, 2))
    wh = rng.uniform(5, 30, (n, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = rng.permutation(n).astype(np.float32)  # distinct scores: the greedy order is unique
    groups = rng.integers(0, n_groups, n)
    got = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(groups), thr).tolist()
    assert got == _reference(boxes, scores, groups, thr)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 60), st.floats(0.1, 0.9))
def test_numpy_nms_matches_torch_for_one_group(seed: int, n: int, thr: float) -> None:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 50, (n, 2))
    wh = rng.uniform(5, 30, (n, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = rng.integers(0, max(n // 2, 1), n).astype(np.float32)  # ties too: the stable order decides
    want = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.zeros(n, dtype=torch.long), thr)
    assert nms_numpy(boxes, scores, thr) == want.tolist()


def test_empty_and_min_mode() -> None:
    empty = batched_nms(torch.zeros((0, 4)), torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5)
    assert empty.shape == (0,)
    # A small box inside a big one: IoU is low, intersection over the smaller box is 1.
    boxes = torch.tensor([[0.0, 0.0, 100.0, 100.0], [10.0, 10.0, 30.0, 30.0]])
    scores = torch.tensor([0.9, 0.8])
    groups = torch.zeros(2, dtype=torch.long)
    assert batched_nms(boxes, scores, groups, 0.5).tolist() == [0, 1]
    assert batched_nms(boxes, scores, groups, 0.5, mode="min").tolist() == [0]
