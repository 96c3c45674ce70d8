"""The README's third-party example runs as written, on real data (lenna's face into breakingbad's frame)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np

from fs_merge import LABEL_TEXT, FrameReader, MergeConfig, probe_video, read_image_label

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_examples_run(tmp_path, monkeypatch, lenna, breakingbad, clip_with_audio, cap12) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) == 3
    cv2.imwrite(str(tmp_path / "frame.png"), breakingbad.frame)
    cv2.imwrite(str(tmp_path / "generated_face.png"), lenna.face)
    cv2.imwrite(str(tmp_path / "face_mask.png"), breakingbad.mask)
    (tmp_path / "image_to_face.json").write_text(json.dumps(breakingbad.matrix.tolist()))
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    merged = cv2.imread("merged.png")
    assert merged is not None and merged.shape == breakingbad.frame.shape
    assert read_image_label("merged.png") == LABEL_TEXT
    assert MergeConfig.load("merge.toml") == namespace["config"]
    # The video snippet: a 3 s clip; the face is pasted with a matrix that fits the 400x300 frames.
    shutil.copy(clip_with_audio, "input.mp4")
    namespace["matrix"] = np.array([[1.6, 0.0, -150.0], [0.0, 1.6, -60.0]], np.float32)
    namespace["mask"] = lenna.mask
    namespace["print"] = lambda *args: None
    exec(compile(blocks[1], str(README), "exec"), namespace)
    info = probe_video("output.mp4", count_frames=True)
    assert info.num_frames == 75 and info.has_audio and info.metadata["synthetic_media"] == "true"
    # The FaceModel snippet: the same clip, with the tracked landmarks of its first 8 frames.
    namespace = {"print": lambda *args: None, "landmarks_per_frame": dict(enumerate(cap12.landmarks))}
    exec(compile(blocks[2], str(README), "exec"), namespace)
    result = namespace["result"]
    assert result.frames_written == 75 and result.frames_failed == 0  # type: ignore[attr-defined]
    out = [f.image for f in FrameReader("swapped.mp4")]
    src = [f.image for f in FrameReader("input.mp4")]
    (x0, y0), (x1, y1) = cap12.landmarks[0].min(0).astype(int), cap12.landmarks[0].max(0).astype(int)
    changed = [float(cv2.absdiff(a, b)[y0:y1, x0:x1].mean()) for a, b in zip(out, src)]
    assert min(changed[:8]) > 2 * max(changed[8:]), changed  # the 8 frames with faces were swapped
