"""The bad-input corpus of RELIABILITY.md, made here: each command gives one error line (or skips the file and
lists it), writes nothing at its output path on failure, and finds faces upright in what it can read."""

from __future__ import annotations

import io
import json
import pickle
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from fs_faceset import Faceset, validate
from fs_merge import FrameReader, ffmpeg_exe


def one_line_error(result: Any, *words: str) -> str:
    """The command failed with exactly one ``error:`` line, no traceback; returns the line."""
    text = result.output
    assert result.exit_code == 1, text
    errors = [ln for ln in text.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in text, text
    for w in words:
        assert w.lower() in errors[0].lower(), errors[0]
    return str(errors[0])


@pytest.fixture(scope="module")
def face_frame(clip: Path) -> np.ndarray:
    frame = next(iter(FrameReader(clip))).image
    return np.ascontiguousarray(frame)


def _exif_rotated_jpeg(img: np.ndarray) -> bytes:
    """The image stored turned 90 degrees clockwise, with EXIF orientation 8 (viewers turn it back)."""
    from PIL import Image

    stored = Image.fromarray(np.ascontiguousarray(np.rot90(img, k=-1)[:, :, ::-1]))
    exif = stored.getexif()
    exif[0x0112] = 8  # rotate 90 CW to view: undoes the rot90(k=-1) above
    buf = io.BytesIO()
    stored.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    return buf.getvalue()


def _cmyk_jpeg(img: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img[:, :, ::-1])).convert("CMYK").save(buf, "JPEG", quality=95)
    return buf.getvalue()


def test_extract_image_corpus(fs: Any, face_frame: np.ndarray, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    img = face_frame
    h, w = img.shape[:2]
    cv2.imwrite(str(corpus / "plain.jpg"), img)
    (corpus / "zero.jpg").write_bytes(b"")
    png = cv2.imencode(".png", img)[1].tobytes()
    (corpus / "truncated.png").write_bytes(png[: len(png) // 2])
    (corpus / "notes.jpg").write_text("not an image at all")
    cv2.imwrite(str(corpus / "deep16.png"), img.astype(np.uint16) * 257)
    cv2.imwrite(str(corpus / "rgba.png"), np.dstack([img, np.full((h, w), 255, np.uint8)]))
    cv2.imwrite(str(corpus / "grey.png"), cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(corpus / "grey16.png"), cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257)
    (corpus / "cmyk.jpg").write_bytes(_cmyk_jpeg(img))
    (corpus / "phone.jpg").write_bytes(_exif_rotated_jpeg(img))
    cv2.imwrite(str(corpus / "big8k.jpg"), cv2.resize(img, (7680, 5760), interpolation=cv2.INTER_LINEAR))
    cv2.imwrite(str(corpus / "one.png"), np.zeros((1, 1, 3), np.uint8))
    out = tmp_path / "faces"
    result = fs("-q", "extract", corpus, "-o", out, "--size", "64", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    skipped = {Path(s["file"]).name for s in summary["skipped"]}
    assert skipped == {"zero.jpg", "truncated.png", "notes.jpg"}, summary["skipped"]
    faces = Faceset.open(out)
    found = {s for s in faces.source_paths}
    readable = {"plain.jpg", "deep16.png", "rgba.png", "grey.png", "grey16.png", "cmyk.jpg", "phone.jpg", "big8k.jpg"}
    assert readable <= found, found
    by_name = {f.source_path: f for f in faces}
    ref = by_name["plain.jpg"].source_landmarks
    for name in ("deep16.png", "rgba.png", "cmyk.jpg", "phone.jpg"):
        err = np.abs(by_name[name].source_landmarks - ref).max()
        assert err < 3.0, (name, err)  # same face, same place: the phone photo is read upright
    big = by_name["big8k.jpg"].source_landmarks * np.array([w / 7680, h / 5760])
    assert np.abs(big - ref).max() < 4.0
    lms = by_name["phone.jpg"].source_landmarks
    assert lms[36:48, 1].mean() < lms[48:68, 1].mean()  # eyes above the mouth: upright
    sources = faces.sources()
    assert (sources["phone.jpg"].width, sources["phone.jpg"].height) == (w, h)
    assert sources["one.png"].frames_processed == 1  # looked at, no face, no crash


def _ffmpeg(*args: object) -> None:
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *(str(a) for a in args)]
    subprocess.run(cmd, check=True, capture_output=True)


def test_extract_video_corpus(fs: Any, clip: Path, tmp_path: Path) -> None:
    d = tmp_path
    (d / "zero.mp4").write_bytes(b"")
    head = clip.read_bytes()
    (d / "truncated.mp4").write_bytes(head[: len(head) // 3])
    _ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", d / "audio_only.mp4")
    _ffmpeg("-i", clip, "-an", "-frames:v", "0", "-c:v", "libx264", d / "no_frames.mp4")
    # variable frame rate: the frame times stretched unevenly
    _ffmpeg("-i", clip, "-an", "-vf", "setpts='PTS+if(gt(N,8),0.3/TB,0)'", "-fps_mode", "vfr", d / "vfr.mp4")
    _ffmpeg("-i", clip, "-an", "-vf", "crop=399:297:0:0", "-c:v", "libx264", "-pix_fmt", "yuv444p", d / "odd.mp4")
    # a phone video: frames stored turned 90 degrees clockwise, the display matrix turns them back
    _ffmpeg("-i", clip, "-an", "-vf", "transpose=1", "-c:v", "libx264", "-preset", "ultrafast", d / "sideways.mp4")
    _ffmpeg("-display_rotation", "90", "-i", d / "sideways.mp4", "-c:v", "copy", d / "rotated.mp4")
    for name, words in (("zero.mp4", ["zero.mp4"]), ("truncated.mp4", ["truncated.mp4"]),
                        ("audio_only.mp4", ["audio_only.mp4"]), ("no_frames.mp4", ["no_frames.mp4"])):  # fmt: skip
        out = d / f"out_{name}"
        one_line_error(fs("-q", "extract", d / name, "-o", out, "--size", "64"), *words)
        assert not out.exists(), name  # nothing at the output path
    frames = FrameReader(clip).num_frames
    for name in ("vfr.mp4", "odd.mp4", "rotated.mp4"):
        out = d / f"out_{name}"
        result = fs("-q", "extract", d / name, "-o", out, "--size", "64", "--track", "largest", "--json")
        assert result.exit_code == 0, (name, result.output)
        faces = Faceset.open(out)
        assert len(faces) >= frames - 2, (name, len(faces))
        lms = faces[0].source_landmarks
        assert lms[36:48, 1].mean() < lms[48:68, 1].mean(), name  # upright: eyes above the mouth
    info = Faceset.open(d / "out_rotated.mp4").sources()["rotated.mp4"]
    assert (info.width, info.height) == (400, 300)  # decoded turned upright, at the displayed size


def _dfl_jpg_with(payload: bytes, img: np.ndarray) -> bytes:
    """A JPEG whose APP15 segment carries ``payload`` (where DFL keeps its pickled metadata)."""
    data = cv2.imencode(".jpg", img)[1].tobytes()
    seg = b"\xff\xef" + struct.pack(">H", len(payload) + 2) + payload
    return data[:2] + seg + data[2:]


class _Hostile:
    def __reduce__(self) -> tuple[Any, ...]:
        return (subprocess.call, (["touch", "/tmp/fs-pwned"],))


def test_interop_and_model_corpus(fs: Any, clip_faces: Path, tiny_model: Path, clip: Path, tmp_path: Path) -> None:
    d = tmp_path
    # a DFL folder: our own export plus a JPG whose metadata pickle would run a command
    assert fs("-q", "faceset", "export-dfl", clip_faces, "-o", d / "dfl").exit_code == 0
    face = cv2.imread(str(sorted((d / "dfl").glob("*.jpg"))[0]))
    assert face is not None
    (d / "dfl" / "evil.jpg").write_bytes(_dfl_jpg_with(pickle.dumps({"x": _Hostile()}, protocol=2), face))
    result = fs("-q", "faceset", "import-dfl", d / "dfl", "-o", d / "imported", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [Path(s["file"]).name for s in report["skipped"]] == ["evil.jpg"], report["skipped"]
    assert not Path("/tmp/fs-pwned").exists()
    # a faceswap alignments file that inflates to more than the 1 GiB cap
    bomb = d / "bomb.fsa"
    comp = zlib.compressobj(9)
    chunk = bytes(1 << 24)
    bomb.write_bytes(b"".join(comp.compress(chunk) for _ in range(66)) + comp.flush())
    assert bomb.stat().st_size < 4 << 20
    result = fs("-q", "faceset", "import-faceswap", bomb, d / "dfl", "-o", d / "fsw")
    one_line_error(result, "bomb.fsa", "decompress")
    assert not (d / "fsw").exists()
    # a faceset with a missing shard: validate, train and merge name the file
    broken = d / "broken"
    subprocess.run(["cp", "-r", str(clip_faces), str(broken)], check=True)
    shard = sorted(broken.glob("*.safetensors"))[0]
    shard.unlink()
    one_line_error(fs("-q", "faceset", "info", broken, "--validate"), shard.name)
    args = ["train", "--src", broken, "--dst", clip_faces, "-o", d / "model", "--steps", "2", "--resolution", "32"]
    one_line_error(fs("-q", *args), shard.name)
    one_line_error(fs("-q", "merge", clip, "--model", tiny_model, "--faceset", broken, "-o", d / "m.mp4"), shard.name)
    assert not (d / "m.mp4").exists()
    # another model's checkpoint: an XSeg net given to merge, our autoencoder given to mask apply
    from fs_mask import XSegConfig, XSegNet, save_checkpoint

    xseg = save_checkpoint(d / "xseg.safetensors", XSegNet(XSegConfig(32, 4, 2, 16)))
    one_line_error(fs("-q", "merge", clip, "--model", xseg, "-o", d / "x.mp4"), "xseg.safetensors")
    assert not (d / "x.mp4").exists()
    copy = d / "copy"
    subprocess.run(["cp", "-r", str(clip_faces), str(copy)], check=True)
    one_line_error(fs("-q", "mask", "apply", copy, "--model", tiny_model), tiny_model.name)
    validate(copy)  # untouched
