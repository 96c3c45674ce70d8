"""The root README's "Python API" code block runs as written (with a short dst clip, few frames, few steps)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fs_align.testing import asset_or_skip
from fs_faceset import Faceset

README = Path(__file__).resolve().parents[3] / "README.md"

# the lines the test changes, so that the block runs in seconds; each must be in the README as written
SUBSTITUTIONS = {
    'dst_video = assets.ensure_asset("video-cap12")': "dst_video = SHORT_CLIP",
    "frames, steps = 120, 3000": "frames, steps = 6, 2",
}


def python_api_block() -> str:
    """The first ```python block under the README's "## Python API" heading."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, f"{README}: no python block under '## Python API'"
    return match.group(1)


def test_the_block_uses_public_imports_only() -> None:
    code = python_api_block()
    imports = re.findall(r"^(?:from|import) (\S+)", code, re.M)
    assert imports and not [m for m in imports if any(part.startswith("_") for part in m.split("."))]


def test_readme_python_api_runs(clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        from fs_cli.pipeline import swap_video_from_faceset  # noqa: F401
        from fs_models import TorchFaceModel  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"the swap API the README uses is not in this tree yet ({exc})")
    for name in ("video-franck", "yunet", "dlib68"):
        asset_or_skip(name)
    code = python_api_block()
    for old, new in SUBSTITUTIONS.items():
        assert old in code, f"README's Python API block no longer has {old!r}; update this test"
        code = code.replace(old, new)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {"__name__": "readme", "SHORT_CLIP": clip})
    work = tmp_path / "fs-work"
    assert len(Faceset.open(work / "src_faces")) == 6 and len(Faceset.open(work / "dst_faces")) == 6
    assert (work / "model" / "model.safetensors").is_file()
    from fs_merge import probe_video

    assert probe_video(work / "swap.mp4", count_frames=True).num_frames == 24  # every dst frame, swapped or not
