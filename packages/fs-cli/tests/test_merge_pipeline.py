"""`fs merge` and fs_cli.pipeline.swap: the faceset as the record (stored masks, curation), frames folders,
a .dfm through onnxruntime against the torch model, and the FaceModel protocol under mypy."""

from __future__ import annotations

import dataclasses
import shutil
import textwrap
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

import fs_faceset
import fs_models
from fs_cli.pipeline import faces_from_faceset, swap_video_from_faceset
from fs_merge import FrameReader, MergeConfig, OnnxFaceModel, probe_video, swap_frames
from fs_models.testing import tiny_df

ROOT = Path(__file__).resolve().parents[3]
MERGE = ["--mode", "overlay", "--color", "none", "--blur", "0", "--preset", "ultrafast", "--no-label-visible"]


def _frames(video: Path) -> list[np.ndarray]:
    return [f.image for f in FrameReader(video)]


def _diffs(a: Path, b: Path) -> list[float]:
    return [float(cv2.absdiff(x, y).mean()) for x, y in zip(_frames(a), _frames(b))]


def _with_masks(src: Path, dst: Path, make: Any) -> Path:
    """A copy of the faceset ``src`` whose faces carry ``make(face)`` as their stored mask."""
    with fs_faceset.FacesetWriter(dst) as writer:
        for face in fs_faceset.Faceset.open(src):
            writer.add(dataclasses.replace(face, mask=make(face)))
    return dst


def test_stored_masks_drive_the_merge(fs: Any, clip: Path, clip_faces: Path, tiny_model: Path, tmp_path: Path) -> None:
    # `fs mask hull` rewrites the faceset in place (as `fs mask apply` does); merge still finds its faces
    faces = shutil.copytree(clip_faces, tmp_path / "faces")
    assert fs("-q", "mask", "hull", faces, "--kind", "extended").exit_code == 0
    outs = {}
    for mask in ("stored", "extended", "hull"):
        outs[mask] = tmp_path / f"{mask}.mp4"
        result = fs(
            "-q", "merge", clip, "--model", tiny_model, "--faceset", faces, "-o", outs[mask], "--mask", mask, *MERGE
        )
        assert result.exit_code == 0, result.output
    stored_vs_extended = np.mean(_diffs(outs["stored"], outs["extended"]))
    stored_vs_hull = np.mean(_diffs(outs["stored"], outs["hull"]))
    assert stored_vs_extended < 0.25 * stored_vs_hull  # the stored (extended) mask was used, not the hull

    # a stored mask of the face's left half only: the right half of every face stays the dst's
    def left_half(face: Any) -> np.ndarray:
        m = np.zeros((face.size, face.size), np.uint8)
        m[:, : face.size // 2] = 255
        return m

    half = _with_masks(clip_faces, tmp_path / "half", left_half)
    out = tmp_path / "half.mp4"
    result = fs("-q", "merge", clip, "--model", tiny_model, "--faceset", half, "-o", out, "--mask", "stored", *MERGE)
    assert result.exit_code == 0, result.output
    records = faces_from_faceset(half, clip.name)
    for (got, dst), i in zip(zip(_frames(out), _frames(clip)), range(24)):
        lm = records[i][0].landmarks
        cx, top, bottom = int(lm[27:31, 0].mean()), int(lm[:, 1].min()), int(lm[:, 1].max())
        changed = cv2.absdiff(got, dst).max(axis=2)[top:bottom]
        assert changed[:, : cx - 4].mean() > 4 * changed[:, cx + 4 :].mean() + 1, i


def test_mask_apply_in_place_then_merge_uses_the_stored_masks(
    fs: Any, clip: Path, clip_faces: Path, tiny_model: Path, tmp_path: Path
) -> None:
    import torch

    from fs_mask import XSegConfig, XSegNet, save_checkpoint

    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "xseg.safetensors", XSegNet(XSegConfig(32, 4, 2, 16)))
    faces = shutil.copytree(clip_faces, tmp_path / "faces")
    result = fs("merge", clip, "--model", tiny_model, "--faceset", faces, "-o", tmp_path / "x.mp4", "--mask", "stored")
    assert result.exit_code == 1 and "no face has a stored mask" in result.output
    result = fs("-q", "mask", "apply", faces, "--model", ckpt, "--device", "cpu")  # rewrites the faceset in place
    assert result.exit_code == 0, result.output
    assert all(face.mask is not None for face in fs_faceset.Faceset.open(faces))
    outs = {}
    for mask, extra in (("stored", []), ("xseg", ["--xseg", ckpt]), ("hull", [])):
        outs[mask] = tmp_path / f"{mask}.mp4"
        args = ["merge", clip, "--model", tiny_model, "--faceset", faces, "-o", outs[mask], "--mask", mask, *extra]
        result = fs("-q", *args, *MERGE)
        assert result.exit_code == 0, result.output
    # the faceset's crops are the model's (whole_face, 64 px): the stored masks are the XSeg net's masks
    stored_vs_xseg = np.mean(_diffs(outs["stored"], outs["xseg"]))
    assert stored_vs_xseg < 0.1 * np.mean(_diffs(outs["stored"], outs["hull"])), stored_vs_xseg


def test_curated_faces_stay_unswapped(fs: Any, clip: Path, clip_faces: Path, tiny_model: Path, tmp_path: Path) -> None:
    faces = shutil.copytree(clip_faces, tmp_path / "faces")
    opened = fs_faceset.Faceset.open(faces)
    frames = opened.column("frame_index")
    gone = [fid for fid, i in zip(opened.ids, frames) if i < 6]
    fs_faceset.remove(faces, gone)
    out, out_all = tmp_path / "curated.mp4", tmp_path / "all.mp4"
    result = fs("-q", "merge", clip, "--model", tiny_model, "--faceset", faces, "-o", out, "--json", *MERGE)
    assert result.exit_code == 0, result.output
    diffs = _diffs(out, clip)
    assert max(diffs[:6]) < 0.3 * min(diffs[6:])  # the removed faces' frames are dst's frames (re-encoded)
    result = fs("-q", "merge", clip, "--model", tiny_model, "--faceset", faces, "-o", out_all, "--all-faces", *MERGE)
    assert result.exit_code == 0, result.output
    assert min(_diffs(out_all, clip)[:6]) > 2 * max(diffs[:6])


def test_frames_folder_dst_with_and_without_faceset(fs: Any, clip: Path, tiny_model: Path, tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    assert fs("-q", "video", "frames", clip, "-o", frames, "--every", "3").exit_code == 0  # 8 frames at 25/3 fps
    merged = {}
    for how in ("found", "faceset"):
        args: list[Any] = []
        if how == "faceset":
            faceset = tmp_path / "frame_faces"
            assert fs("-q", "extract", frames, "-o", faceset, "--size", "64").exit_code == 0
            args = ["--faceset", faceset]
        merged[how] = tmp_path / f"{how}.mp4"
        result = fs("-q", "merge", frames, "--model", tiny_model, "-o", merged[how], *args, *MERGE)
        assert result.exit_code == 0, result.output
        info = probe_video(merged[how], count_frames=True)
        assert info.num_frames == 8 and info.fps == pytest.approx(25 / 3, abs=0.01)
        assert info.audio_codec is not None  # from the folder's audio.mkv
        diffs = [float(cv2.absdiff(a, b).mean()) for a, b in zip(_frames(merged[how]), _frames(frames))]
        assert min(diffs) > 0.5  # every frame's face replaced


def test_dfm_through_onnxruntime_matches_torch(clip: Path, clip_faces: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    net = tiny_df(seed=3)
    dfm = fs_models.export_onnx(net, tmp_path / "tiny.dfm")
    torch_model, onnx_model = fs_models.TorchFaceModel(net, batch_size=4), OnnxFaceModel(dfm)
    assert onnx_model.resolution == torch_model.resolution == 64 and onnx_model.face_type is torch_model.face_type
    faces = {i: f for i, f in faces_from_faceset(clip_faces, clip.name).items() if i < 8}
    frames = [(f.index, f.image) for f in FrameReader(clip) if f.index < 8]
    config = MergeConfig(mask="learned-prd*hull", color_transfer="rct", feather_px=4, allow_partial=True)
    by_torch = dict(swap_frames(frames, faces, torch_model, config))
    by_onnx = dict(swap_frames(frames, faces, onnx_model, config))
    for i, image in frames:
        a, b = by_torch[i].astype(np.int16), by_onnx[i].astype(np.int16)
        assert np.abs(a - image).mean() > 0.5  # swapped
        assert np.abs(a - b).mean() < 0.05 and np.abs(a - b).max() <= 3, i
    out = tmp_path / "dfm.mp4"
    summary = swap_video_from_faceset(clip, clip_faces, onnx_model, config, out, preset="ultrafast")
    assert summary.frames_written == 24 and summary.frames_failed == 0
    assert summary.frames_with_faces == 24 and probe_video(out).audio_codec is not None


def test_torch_face_model_is_a_face_model_for_mypy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    api = pytest.importorskip("mypy.api")
    snippet = tmp_path / "uses_protocol.py"
    snippet.write_text(
        textwrap.dedent(
            """
            import fs_merge
            import fs_models


            def run(model: fs_merge.FaceModel) -> int:
                return model.resolution


            class NoFaceType:
                resolution = 64

                def swap(self, faces: object) -> fs_merge.SwapResult:
                    raise NotImplementedError


            run(fs_models.TorchFaceModel(fs_models.create_model("df")))
            run(fs_merge.OnnxFaceModel("model.dfm"))
            run(NoFaceType())
            """
        )
    )
    src = ":".join(str(p) for p in sorted((ROOT / "packages").glob("*/src")))
    args = [str(snippet), "--strict", "--no-site-packages", "--ignore-missing-imports", "--follow-imports=silent"]
    args += ["--cache-dir", str(tmp_path / "cache"), "--no-incremental"]
    monkeypatch.setenv("MYPYPATH", src)
    stdout, stderr, _ = api.run(args)
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    # only the class without face_type is rejected: TorchFaceModel and OnnxFaceModel are FaceModels
    assert len(errors) == 1 and '"NoFaceType"; expected "FaceModel"' in errors[0], stdout + stderr
