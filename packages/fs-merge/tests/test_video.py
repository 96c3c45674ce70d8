"""Video and image output on a real clip: frame count, fps, audio, the synthetic-media label, bad input."""

from __future__ import annotations

import shutil
import subprocess
import time

import cv2
import numpy as np
import pytest

import fs_merge
from fs_align import ShapeError
from fs_merge import (
    LABEL_TEXT,
    Frame,
    FrameReader,
    MergeConfig,
    MergeError,
    VideoWriter,
    merge_face,
    merge_video,
    probe_video,
    read_image_label,
    write_image,
)


def test_three_second_clip_with_audio_round_trip(clip_with_audio, lenna, tmp_path, artefacts) -> None:
    reader = FrameReader(clip_with_audio)
    assert reader.size == (400, 300) and reader.fps == pytest.approx(25.0) and reader.num_frames == 75
    assert probe_video(clip_with_audio).has_audio
    # Paste lenna's face at a fixed place of every frame (the per-frame matrix would come from a detector).
    mat = np.array([[1.6, 0.0, -150.0], [0.0, 1.6, -60.0]], np.float32)  # frame -> 256 px face
    cfg = MergeConfig(mode="seamless", color_transfer="rct", feather_px=4)
    calls: list[tuple[int, int | None]] = []

    def process(frame: Frame) -> np.ndarray:
        return merge_face(frame.image, lenna.face, lenna.mask, mat, cfg)

    out = tmp_path / "merged.mp4"
    writer = VideoWriter(out, reader.fps, crf=20, preset="veryfast", audio_from=clip_with_audio)
    result = merge_video(reader, writer, process, workers=2, progress=lambda d, t: calls.append((d, t)))
    assert result.frames_written == 75 and result.frames_failed == 0 and result.problems == ()
    assert calls[0] == (1, 75) and calls[-1] == (75, 75) and len(calls) == 75
    info = probe_video(out, count_frames=True)
    assert (info.width, info.height, info.num_frames) == (400, 300, 75)
    assert info.fps == pytest.approx(25.0)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert info.duration_s == pytest.approx(3.0, abs=0.1)
    assert info.metadata["comment"] == LABEL_TEXT and info.metadata["synthetic_media"] == "true"
    frames = [f.image for f in FrameReader(out)]
    assert len(frames) == 75
    corner = frames[10][-14:-4, -60:-10].astype(int)
    source = next(iter(FrameReader(clip_with_audio))).image
    assert corner.mean() > 60 and corner.std() > 40  # white text on a darkened box
    write_image(artefacts / "video_frame_10.png", np.hstack([source, frames[10]]), label_visible=False)
    assert not list(tmp_path.glob(".merged*"))  # no temp file left behind


def test_merge_video_keeps_order_and_survives_failures(clip_with_audio, tmp_path) -> None:
    frames = [Frame(i, i / 25, np.full((64, 96, 3), 8 * i, np.uint8)) for i in range(20)]
    errors: list[tuple[int | None, str]] = []

    def slow(frame: Frame) -> np.ndarray:
        time.sleep(0.02 if frame.index % 3 == 0 else 0.0)  # out-of-order completion
        if frame.index == 7:
            raise RuntimeError("model failed")
        return frame.image

    out = tmp_path / "order.mkv"
    writer = VideoWriter(out, 25, preset="ultrafast", crf=0, label_visible=False)
    res = merge_video(frames, writer, slow, workers=3, on_error=lambda i, m: errors.append((i, m)))
    assert res.frames_written == 20 and res.frames_failed == 1
    assert errors and errors[0][0] == 7 and "model failed" in errors[0][1]
    means = [f.image.mean() for f in FrameReader(out)]
    assert len(means) == 20 and np.all(np.diff(means) > 4)  # in order (frame 7 written unchanged)
    assert np.abs(np.array(means) - 8 * np.arange(20)).max() < 6  # limited-range YUV shifts greys a little


def test_image_folder_with_a_corrupt_frame(tmp_path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(6):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((40, 60, 3), 30 * i, np.uint8))
    (folder / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    cv2.imwrite(str(folder / "10.png"), np.full((40, 60), 200, np.uint8))  # grey image: converted
    seen: list[tuple[int | None, str]] = []
    reader = FrameReader(folder, fps=12, on_error=lambda i, m: seen.append((i, m)))
    assert reader.size == (60, 40) and reader.fps == 12 and reader.num_frames == 7
    out = tmp_path / "folder.mp4"
    res = merge_video(reader, VideoWriter(out, reader.fps, preset="ultrafast"), lambda f: f.image)
    assert res.frames_written == 6 and len(res.problems) == 1 and "3.png" in res.problems[0]
    assert seen[0][0] == 3
    assert probe_video(out, count_frames=True).num_frames == 6


def _testsrc(path, *inputs: str, gop: int = 7) -> None:
    """An H.264 test clip (96x64, 10 fps, 3 s, B-frames, a keyframe every ``gop`` frames) from lavfi inputs."""
    cmd = [fs_merge.ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", *inputs]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-g", str(gop), "-bf", "2", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, check=True, capture_output=True)


def test_reading_from_a_start_frame_equals_reading_all(clip_with_audio, tmp_path) -> None:
    """``frames(start)`` yields exactly frames start, start+1, ... of a full read: seeking to the keyframe before
    (constant frame rate, video at the container's start) or, when a seek cannot be exact (here a video that
    starts 0.37 s after its audio: ffmpeg pads the full read's start with repeats), reading from the start."""
    clip, late, ntsc = tmp_path / "gop7.mp4", tmp_path / "late.mp4", tmp_path / "ntsc.mkv"
    src = ["-f", "lavfi", "-i", "testsrc2=size=96x64:rate=10:duration=3"]
    _testsrc(clip, *src)
    _testsrc(late, "-f", "lavfi", "-i", "sine=duration=3.5", "-itsoffset", "0.37", *src, "-map", "1:v", "-map", "0:a")
    _testsrc(ntsc, "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=30000/1001:duration=3", gop=12)  # ms timestamps
    cases = [(clip, [1, 6, 7, 8, 15, 28, 29]), (late, [1, 5, 20]), (clip_with_audio, [1, 37, 74]), (ntsc, [1, 40])]
    for path, starts in cases:
        full = [f.image for f in FrameReader(path)]
        for start in starts:
            got = list(FrameReader(path, decode_threads=1).frames(start))
            assert [f.index for f in got] == list(range(start, len(full))), (path.name, start)
            assert all(np.array_equal(f.image, full[f.index]) for f in got), (path.name, start)
            assert got[0].time_s == pytest.approx(start / FrameReader(path).fps)
    assert FrameReader(clip)._seek(8) and FrameReader(ntsc)._seek(8) and not FrameReader(late)._seek(8)  # both ways
    assert list(FrameReader(clip).frames(len(full) + 5)) == []  # past the end: nothing


def test_corrupt_video_is_reported_not_fatal(clip_with_audio, tmp_path) -> None:
    bad = tmp_path / "corrupt.mp4"
    shutil.copy(clip_with_audio, bad)
    data = bytearray(bad.read_bytes())
    rng = np.random.default_rng(0)
    mid = len(data) // 2
    data[mid : mid + 3000] = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    bad.write_bytes(bytes(data))
    reader = FrameReader(bad)
    out = tmp_path / "from_corrupt.mp4"
    res = merge_video(reader, VideoWriter(out, reader.fps, preset="ultrafast", audio_from=bad), lambda f: f.image)
    assert res.problems and "decoder error" in res.problems[0]
    assert res.frames_written >= 60
    assert probe_video(out, count_frames=True).num_frames == res.frames_written


def test_labelled_images(tmp_path, lenna) -> None:
    for name in ("face.png", "face.jpg"):
        path = write_image(tmp_path / name, lenna.face)
        assert read_image_label(path) == LABEL_TEXT
        img = cv2.imread(str(path))
        assert img is not None and img.shape == lenna.face.shape
        assert not np.allclose(img[-12:, -40:], lenna.face[-12:, -40:], atol=12)  # visible mark
    plain = write_image(tmp_path / "plain.png", lenna.face, label_visible=False)
    assert np.array_equal(cv2.imread(str(plain)), lenna.face) and read_image_label(plain) == LABEL_TEXT
    with pytest.raises(MergeError, match="webp"):
        write_image(tmp_path / "x.webp", lenna.face)


def test_bad_video_input(tmp_path, monkeypatch) -> None:
    with pytest.raises(MergeError, match="no such"):
        FrameReader(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(MergeError, match=r"junk\.mp4: not a readable video"):
        FrameReader(junk)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MergeError, match="no images"):
        FrameReader(tmp_path / "empty")
    with pytest.raises(MergeError, match="writes"):
        VideoWriter(tmp_path / "x.avi", 25)
    with pytest.raises(MergeError, match="crf"):
        VideoWriter(tmp_path / "x.mp4", 25, crf=80)
    with pytest.raises(MergeError, match="preset"):
        VideoWriter(tmp_path / "x.mp4", 25, preset="turbo")
    with pytest.raises(MergeError, match="audio_from"):
        VideoWriter(tmp_path / "x.mp4", 25, audio_from=tmp_path / "none.wav")
    writer = VideoWriter(tmp_path / "x.mp4", 25, size=(64, 48))
    with pytest.raises(ShapeError, match="64x48"):
        writer.write(np.zeros((40, 64, 3), np.uint8))
    with pytest.raises(ShapeError, match="grey"):
        writer.write(np.zeros((48, 64), np.uint8))
    with pytest.raises(MergeError, match="no frames"):
        writer.close()
    with pytest.raises(RuntimeError), VideoWriter(tmp_path / "aborted.mp4", 25) as w:
        w.write(np.zeros((48, 64, 3), np.uint8))
        raise RuntimeError("stop")
    assert not (tmp_path / "aborted.mp4").exists() and not list(tmp_path.glob(".aborted*"))

    import imageio_ffmpeg

    def missing() -> str:
        raise RuntimeError("No ffmpeg exe could be found")

    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", missing)
    with pytest.raises(MergeError, match="ffmpeg not found"):
        fs_merge.ffmpeg_exe()
    with pytest.raises(MergeError, match="ffmpeg not found"):
        VideoWriter(tmp_path / "y.mp4", 25)


def test_short_audio_never_drops_frames(clip_with_audio, tmp_path) -> None:
    """Audio that ends before the video (here 3 s of audio under 4 s of frames) keeps every frame."""
    frames = [f.image for f in FrameReader(clip_with_audio)]
    out = tmp_path / "longer.mp4"
    with VideoWriter(out, 25.0, preset="ultrafast", audio_from=clip_with_audio, label_visible=False) as writer:
        for image in frames + frames[:25]:
            writer.write(image)
    info = probe_video(out, count_frames=True)
    assert info.num_frames == 100 and info.audio_codec == "aac"
    # ... and audio longer than the video is cut to the video's length.
    out2 = tmp_path / "shorter.mp4"
    with VideoWriter(out2, 25.0, preset="ultrafast", audio_from=clip_with_audio, label_visible=False) as writer:
        for image in frames[:24]:
            writer.write(image)
    info2 = probe_video(out2, count_frames=True)
    assert info2.num_frames == 24 and info2.duration_s == pytest.approx(0.96, abs=0.05)
    assert not list(tmp_path.glob(".longer*")) and not list(tmp_path.glob(".shorter*"))
