"""The sampler: deterministic, worker processes give the same batches, masks, yaw bins, augmentation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from fs_align import MaskSource
from fs_align.testing import artifact_dir
from fs_faceset import Faceset, FacesetWriter
from fs_train import AugmentConfig, LossConfig, PairSampler, open_pair
from fs_train._loader import BatchLoader
from fs_train.losses import dssim


def _spec(facesets: tuple[Path, Path], **kw: object) -> dict:
    spec = {"src": str(facesets[0]), "dst": str(facesets[1]), "loss": LossConfig(eyes_mouth_weight=300.0).to_dict(),
            "augment": AugmentConfig(color_jitter=0.2, hsv_power=0.1).to_dict(), "resolution": 64,
            "batch_size": 6, "seed": 11, "rank": 0, "world": 1, "need_masks": True, "need_em": True}  # fmt: skip
    spec.update(kw)
    return spec


def test_workers_give_the_same_batches_as_in_process(facesets) -> None:  # type: ignore[no-untyped-def]
    spec = _spec(facesets)
    local = BatchLoader(spec, workers=0, start=5)
    a = [local.get() for _ in range(4)]
    with BatchLoader(spec, workers=2, prefetch=2, start=5) as pool:
        b = [pool.get() for _ in range(4)]
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            assert np.array_equal(x[k], y[k]), k
    rows = [np.concatenate(list(a[0][k]), axis=1) for k in ("src_input", "src_target", "dst_input", "dst_target")]
    rows += [cv2.cvtColor(np.concatenate(list(a[0][k]), axis=1), cv2.COLOR_GRAY2BGR) for k in ("src_mask", "src_em")]
    cv2.imwrite(str(artifact_dir("fs-train") / "augmented_batch.png"), np.concatenate(rows, axis=0))


def test_epochs_cover_every_face_and_ranks_are_disjoint(facesets) -> None:  # type: ignore[no-untyped-def]
    sources = open_pair(*facesets, LossConfig())
    n = len(sources[0])
    ranks = [PairSampler(sources, AugmentConfig(), 32, 4, 0, rank=r, world=2) for r in range(2)]
    seen = [[ranks[r].face_index(0, int(p)) for c in range(n // 8) for p in ranks[r].positions(c)] for r in range(2)]
    assert not set(seen[0]) & set(seen[1])
    assert len(set(seen[0]) | set(seen[1])) == n // 8 * 8


def test_uniform_yaw_balances_the_bins(facesets) -> None:  # type: ignore[no-untyped-def]
    sources = open_pair(*facesets, LossConfig())
    sampler = PairSampler(sources, AugmentConfig(uniform_yaw=True, yaw_bins=4), 32, 8, 0)
    bins = sources[0].yaw_bins(4)
    which = {int(i): b for b, members in enumerate(bins) for i in members}
    counts = np.bincount([which[sampler.face_index(0, p)] for p in range(4000)], minlength=len(bins))
    assert len(bins) >= 2
    assert counts.min() > 0.7 * 4000 / len(bins)  # uniform over bins, whatever the bins' sizes
    sizes = np.array([len(b) for b in bins])
    assert sizes.max() > 1.5 * sizes.min() or len(bins) == 4


def test_stored_masks_win_over_the_hull(facesets, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = Faceset.open(facesets[0])
    box = np.zeros((64, 64), np.uint8)
    box[16:48, 16:48] = 255
    with FacesetWriter(tmp_path / "masked") as w:
        for i in range(len(src)):
            w.add(dataclasses.replace(src[i], mask=box, id=None))
    plain = AugmentConfig(random_warp=False, rotation=0, scale=0, shift=0, flip_src=False, flip_dst=False)
    for source, expect_box in (((MaskSource.STORED, MaskSource.HULL), True), ((MaskSource.HULL,), False)):
        sources = open_pair(tmp_path / "masked", facesets[1], LossConfig(mask_source=source))
        arrays = PairSampler(sources, plain, 64, 2, 0).make(0)
        assert np.array_equal(arrays["src_mask"][0], box) is expect_box
        # dst faces have no stored mask: the landmark hull, a face-shaped blob around the centre
        m = arrays["dst_mask"][0]
        assert m[32, 32] == 255 and m[0, 0] == 0 and 0.2 < (m > 0).mean() < 0.8


def test_warp_only_on_the_input_and_flip_on_both(facesets) -> None:  # type: ignore[no-untyped-def]
    sources = open_pair(*facesets, LossConfig())
    still = AugmentConfig(random_warp=False, rotation=0, scale=0, shift=0, flip_src=False, flip_dst=False)
    base = PairSampler(sources, still, 64, 8, 0).make(0)
    warped = PairSampler(sources, dataclasses.replace(still, random_warp=True), 64, 8, 0).make(0)
    assert np.array_equal(warped["src_target"], base["src_target"])
    assert not np.array_equal(warped["src_input"], warped["src_target"])
    flips = PairSampler(sources, dataclasses.replace(still, flip_src=True), 64, 8, 0)
    arrays = flips.make(0)
    flipped = [j for j in range(8) if not np.array_equal(arrays["src_target"][j], base["src_target"][j])]
    assert flipped
    for j in flipped:
        assert np.array_equal(arrays["src_input"][j], arrays["src_target"][j])
        mirror = base["src_target"][j][:, ::-1]
        assert np.abs(arrays["src_target"][j].astype(int) - mirror).mean() < 1.0


def test_dssim_matches_its_definition() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, 32, 32, generator=g)
    assert torch.allclose(dssim(a, a, 5), torch.zeros(2), atol=1e-6)
    b = (a + 0.1 * torch.randn(a.shape, generator=g)).clamp(0, 1)
    d = dssim(a, b, 5)
    assert d.shape == (2,) and bool(torch.all((d > 0.01) & (d < 0.5)))
    assert dssim(a, 1 - a, 5).mean() > d.mean()


def test_mask_chain_is_fs_align_mask_source() -> None:
    from fs_train import ConfigError, parse_mask_chain

    assert LossConfig().mask_source == (MaskSource.STORED, MaskSource.HULL)
    assert parse_mask_chain("stored_or_hull") == (MaskSource.STORED, MaskSource.HULL)  # v0.1 config files
    assert parse_mask_chain("hull") == (MaskSource.HULL,)
    assert parse_mask_chain(["stored"]) == (MaskSource.STORED,)
    assert LossConfig.from_dict(LossConfig(mask_source="hull").to_dict()).mask_source == (MaskSource.HULL,)
    for bad in ("learned-prd", "stored,stored", "", "xseg"):
        with pytest.raises(ConfigError, match="mask_source"):
            parse_mask_chain(bad)
