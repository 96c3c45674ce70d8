"""swap_frames / swap_video on real frames of cap12 with a tiny numpy FaceModel: masks, motion blur, order."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

import fs_merge
from fs_align import Alignment, FaceType, MaskSource, alignment_matrix, landmark_mask, transform_points
from fs_merge import (
    FaceToSwap,
    FrameReader,
    MergeConfig,
    MergeError,
    VideoWriter,
    face_motion,
    swap_frames,
    swap_video,
)

PLAIN = MergeConfig(color_transfer="none", allow_partial=True)
VideoFaces = Any  # conftest.VideoFaces: .frames, .landmarks


class ToneModel:
    """A tiny numpy "third-party" FaceModel: the swapped face is the input with its colours inverted, the
    learned-prd mask a centred disc, the learned-dst mask a smaller disc; it counts its calls and batch sizes."""

    def __init__(self, resolution: int = 64, face_type: str = "whole_face") -> None:
        from fs_align import FaceType

        self.resolution = resolution
        self.face_type = FaceType.parse(face_type)
        yy, xx = np.mgrid[:resolution, :resolution] - (resolution - 1) / 2.0
        r = np.hypot(xx, yy)
        self._prd = (r < resolution * 0.4).astype(np.float32)
        self._dst = (r < resolution * 0.3).astype(np.float32)
        self.batches: list[int] = []

    def swap(self, faces: np.ndarray) -> fs_merge.SwapResult:
        self.batches.append(len(faces))
        n = len(faces)
        prd = np.repeat(self._prd[None], n, axis=0)
        dst = np.repeat(self._dst[None], n, axis=0)
        return fs_merge.SwapResult(np.asarray(255 - faces, np.uint8), prd, dst)


@pytest.fixture
def tone_model() -> ToneModel:
    return ToneModel()


def _faces(cap12: VideoFaces, frames: range) -> dict[int, list[FaceToSwap]]:
    return {i: [FaceToSwap(cap12.landmarks[i], id=f"f{i}")] for i in frames}


def _swap_one(cap12: VideoFaces, model: ToneModel, config: MergeConfig, **kw: object) -> np.ndarray:
    frames = [(0, cap12.frames[0])]
    faces = kw.pop("faces", None) or _faces(cap12, range(1))
    out = list(swap_frames(frames, faces, model, config, workers=1, **kw))  # type: ignore[arg-type]
    assert [i for i, _ in out] == [0]
    return out[0][1]


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2) > 0


def _half_mask(size: int) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    m[:, : size // 2] = 255  # the left half of the crop only
    return m


def _stored_face(cap12: VideoFaces, mask: np.ndarray, face_type: str = "full") -> FaceToSwap:
    """A face whose stored mask was cut with another face type and size than the model's crop."""
    size = mask.shape[0]
    matrix = alignment_matrix(cap12.landmarks[0], face_type, size)
    return FaceToSwap(cap12.landmarks[0], mask=mask, mask_alignment=Alignment(matrix, FaceType.parse(face_type), size))


def _centre_disc(faces: np.ndarray) -> np.ndarray:
    """A Segmenter: a disc of radius S / 5 in the middle of each crop."""
    n, s = faces.shape[:2]
    yy, xx = np.mgrid[:s, :s] - (s - 1) / 2.0
    return np.repeat((np.hypot(xx, yy) < s / 5)[None].astype(np.float32), n, axis=0)


@pytest.mark.parametrize(
    "mask",
    ["learned-prd", "learned-dst", "hull", "components", "extended", "stored", "xseg", "learned-prd*hull", "full"],
)
def test_every_mask_combination_merges(cap12: VideoFaces, tone_model: ToneModel, mask: str) -> None:
    config = dataclasses.replace(PLAIN, mask=mask)
    stored = _stored_face(cap12, (landmark_mask(_lm_in(cap12, "full", 96), 96) * 255).astype(np.uint8))
    faces = {0: [stored]}
    out = _swap_one(cap12, tone_model, config, faces=faces, segmenter=_centre_disc)
    changed = _changed(out, cap12.frames[0])
    centre = np.round(cap12.landmarks[0][30]).astype(int)  # nose tip: inside every mask
    assert changed[centre[1], centre[0]], mask
    assert not changed[:20].any() and not changed[:, :40].any()  # far from the face: the frame as it was
    area = int(changed.sum())
    assert 300 < area < 0.5 * changed.size, (mask, area)


def _lm_in(cap12: VideoFaces, face_type: str, size: int) -> np.ndarray:
    return transform_points(cap12.landmarks[0], alignment_matrix(cap12.landmarks[0], face_type, size))


def test_mask_sources_differ_and_combine_as_a_product(cap12: VideoFaces, tone_model: ToneModel) -> None:
    areas = {}
    for mask in ("learned-prd", "learned-dst", "hull", "extended", "learned-prd*hull", "full"):
        out = _swap_one(cap12, tone_model, dataclasses.replace(PLAIN, mask=mask))
        areas[mask] = int(_changed(out, cap12.frames[0]).sum())
    assert areas["learned-dst"] < areas["learned-prd"] < areas["full"]
    assert areas["hull"] < areas["extended"] < areas["full"]
    assert areas["learned-prd*hull"] <= min(areas["learned-prd"], areas["hull"]) + 5


def test_stored_mask_is_used_and_warped_into_the_model_crop(cap12: VideoFaces, tone_model: ToneModel) -> None:
    stored_cfg = dataclasses.replace(PLAIN, mask="stored")
    # a stored hull cut as a 'full' 96 px crop reproduces the hull the model crop draws itself
    hull96 = (landmark_mask(_lm_in(cap12, "full", 96), 96) * 255).astype(np.uint8)
    via_stored = _changed(
        _swap_one(cap12, tone_model, stored_cfg, faces={0: [_stored_face(cap12, hull96)]}), cap12.frames[0]
    )
    via_hull = _changed(_swap_one(cap12, tone_model, dataclasses.replace(PLAIN, mask="hull")), cap12.frames[0])
    iou = (via_stored & via_hull).sum() / (via_stored | via_hull).sum()
    assert iou > 0.9
    # a stored mask of the face's left half only changes only that half (frame x: the face's left is image left)
    half = _changed(
        _swap_one(cap12, tone_model, stored_cfg, faces={0: [_stored_face(cap12, _half_mask(96))]}), cap12.frames[0]
    )
    cx = float(cap12.landmarks[0][27:31, 0].mean())
    xs = np.nonzero(half)[1]
    assert xs.max() < cx + 6 and half.sum() > 300
    assert not np.array_equal(half, via_hull)


def test_stored_mask_missing_and_xseg_without_segmenter(cap12: VideoFaces, tone_model: ToneModel) -> None:
    with pytest.raises(MergeError, match="no stored mask"):
        _swap_one(cap12, tone_model, dataclasses.replace(PLAIN, mask="stored"))
    errors: list[tuple[int, str]] = []
    out = _swap_one(
        cap12, tone_model, dataclasses.replace(PLAIN, mask="stored"), on_error=lambda i, m: errors.append((i, m))
    )
    assert np.array_equal(out, cap12.frames[0]) and errors[0][0] == 0 and "no stored mask" in errors[0][1]
    with pytest.raises(MergeError, match="segmenter"):
        swap_frames([], {}, tone_model, dataclasses.replace(PLAIN, mask="xseg"))
    with pytest.raises(MergeError, match="raw-predict"):
        swap_frames([], {}, tone_model, dataclasses.replace(PLAIN, mode="raw-predict"))


def _moving(cap12: VideoFaces, step: float) -> tuple[list[tuple[int, np.ndarray]], dict[int, list[FaceToSwap]]]:
    """Frame 0 shifted right by ``step`` px per frame (5 frames), with its landmarks shifted the same."""
    frames, faces = [], {}
    for i in range(5):
        m = np.float32([[1, 0, step * i], [0, 1, 0]])
        frames.append((i, cv2.warpAffine(cap12.frames[0], m, (400, 300), borderMode=cv2.BORDER_REFLECT)))
        faces[i] = [FaceToSwap(cap12.landmarks[0] + np.float32([step * i, 0]))]
    return frames, faces


@pytest.mark.parametrize("step", [0.0, 6.0])
def test_motion_blur_follows_face_motion(cap12: VideoFaces, tone_model: ToneModel, step: float) -> None:
    frames, faces = _moving(cap12, step)
    sharp = dict(swap_frames(frames, faces, tone_model, PLAIN))
    blurred = dict(swap_frames(frames, faces, tone_model, dataclasses.replace(PLAIN, motion_blur_power=100)))
    assert face_motion(faces, 2, faces[2][0]) == pytest.approx((step, 0.0), abs=1e-4)
    diff = float(np.abs(sharp[2].astype(np.int16) - blurred[2].astype(np.int16)).mean())
    if step == 0.0:
        assert diff == 0.0  # a still face is not blurred
    else:
        assert diff > 0.05  # a moving face is
        # the blur runs along x: the horizontal gradient inside the face drops, the vertical one much less
        face = (slice(120, 220), slice(170, 260))
        gx = lambda img: float(np.abs(np.diff(img[face].astype(np.float32), axis=1)).mean())  # noqa: E731
        assert gx(blurred[2]) < 0.9 * gx(sharp[2])


def test_face_motion_matches_faces_by_track_or_nearest(cap12: VideoFaces) -> None:
    lm = cap12.landmarks[0]
    far = FaceToSwap(lm + np.float32([200, 0]), track=2)
    near = FaceToSwap(lm + np.float32([3, 1]), track=1)
    faces = {0: [far, near], 1: [FaceToSwap(lm, track=1)], 2: [FaceToSwap(lm + np.float32([-3, 1]), track=1)]}
    assert face_motion(faces, 1, faces[1][0]) == pytest.approx((-3.0, 0.0), abs=1e-4)
    untracked = {0: [FaceToSwap(lm + np.float32([200, 0])), FaceToSwap(lm + np.float32([4, 2]))], 1: [FaceToSwap(lm)]}
    assert face_motion(untracked, 1, untracked[1][0]) == pytest.approx((-4.0, -2.0), abs=1e-4)
    assert face_motion({1: [FaceToSwap(lm)]}, 1, FaceToSwap(lm)) is None


def test_order_kept_with_workers_and_batches(cap12: VideoFaces) -> None:
    frames = list(enumerate(cap12.frames))
    faces = _faces(cap12, range(1, 8, 2))  # frames 0, 2, 4, 6 have no face
    serial = list(swap_frames(frames, faces, ToneModel(), PLAIN, workers=1, batch_size=1))
    model = ToneModel()
    done: list[int] = []
    parallel = list(
        swap_frames(iter(frames), faces, model, PLAIN, workers=3, batch_size=2, progress=lambda d, t: done.append(d))
    )
    assert [i for i, _ in parallel] == list(range(8)) and done == list(range(1, 9))
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(serial, parallel))
    assert max(model.batches) == 2 and sum(model.batches) == 4  # faces of several frames in one model call
    for i, image in parallel:
        assert (image is cap12.frames[i]) == (i not in faces)  # frames without faces pass through untouched


def test_swap_video_on_a_frames_folder(cap12: VideoFaces, tone_model: ToneModel, tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(cap12.frames[:6]):
        assert cv2.imwrite(str(folder / f"{i:06d}.png"), frame)
    reader = FrameReader(folder, fps=10)
    faces = _faces(cap12, range(6))
    faces[3] = [dataclasses.replace(faces[3][0])]
    bad = dict(faces)
    bad[4] = [FaceToSwap(cap12.landmarks[4] + np.float32([5000, 0]))]  # lands outside the frame: that frame fails
    seen: list[int] = []
    out = tmp_path / "swap.mp4"
    writer = VideoWriter(out, reader.fps, preset="ultrafast", label_visible=False)
    result = swap_video(reader, writer, bad, tone_model, PLAIN, on_frame=lambda i, img: seen.append(i))
    assert result.frames_written == 6 and result.frames_failed == 1 and "frame 4" in result.problems[0]
    assert seen == list(range(6))
    info = fs_merge.probe_video(out, count_frames=True)
    assert info.fps == 10 and info.num_frames == 6
    got = [f.image for f in FrameReader(out)]
    diffs = [float(cv2.absdiff(g, f).mean()) for g, f in zip(got, cap12.frames)]
    assert diffs[4] < 0.5 * min(diffs[:4] + diffs[5:]), diffs  # the failed frame is the original (encoded)


def test_mask_config_parses_dfl_strings_and_old_files() -> None:
    assert MergeConfig().mask == (MaskSource.LEARNED_PRD,)
    cfg = MergeConfig(mask="learned-prd*hull")
    assert cfg.mask == (MaskSource.LEARNED_PRD, MaskSource.HULL)
    assert MergeConfig.from_toml(cfg.to_toml()) == cfg and MergeConfig.from_json(cfg.to_json()) == cfg
    assert MergeConfig(mask="XSeg-dst*learned-prd").mask == (MaskSource.XSEG, MaskSource.LEARNED_PRD)
    assert MergeConfig(mask="dst").mask == (MaskSource.HULL,)
    assert MergeConfig(mask="full").mask == () and MergeConfig(mask=()).to_dict()["mask"] == "full"
    assert MergeConfig(mask=[MaskSource.STORED, "hull", "hull"]).mask == (MaskSource.STORED, MaskSource.HULL)
    assert MergeConfig.from_dict({"mode": "overlay"}).mask == (MaskSource.LEARNED_PRD,)  # files from before
    assert MergeConfig.from_dict({"mask_mode": "learned-prd*learned-dst"}).mask[1] is MaskSource.LEARNED_DST
    with pytest.raises(MergeError, match="does not apply at merge"):
        MergeConfig(mask="polygons")
    with pytest.raises(MergeError, match="unknown mask source"):
        MergeConfig(mask="learned-prd*blob")


def test_face_to_swap_checks() -> None:
    lm = np.zeros((68, 2), np.float32) + np.arange(68, dtype=np.float32)[:, None]
    with pytest.raises(fs_merge.MergeError.__mro__[1], match="68 x 2"):
        FaceToSwap(lm[:5])
    with pytest.raises(ValueError, match="mask_alignment"):
        FaceToSwap(lm, mask=np.zeros((8, 8), np.uint8))
    al = Alignment(np.float32([[1, 0, 0], [0, 1, 0]]), "full", 16)
    with pytest.raises(ValueError, match="16 x 16"):
        FaceToSwap(lm, mask=np.zeros((8, 8), np.uint8), mask_alignment=al)


def test_model_outputs_are_checked(cap12: VideoFaces) -> None:
    class Broken(ToneModel):
        def swap(self, faces: np.ndarray) -> fs_merge.SwapResult:
            out = super().swap(faces)
            return fs_merge.SwapResult(out.faces[:, :32], out.face_mask, out.dst_mask)

    with pytest.raises(ValueError, match=r"model\.swap: faces: expected 1 x 64 x 64 x 3"):
        _swap_one(cap12, Broken(), PLAIN)
    with pytest.raises(MergeError, match="FaceModel"):
        swap_frames([], {}, object(), PLAIN)  # type: ignore[arg-type]
