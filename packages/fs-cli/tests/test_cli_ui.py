"""``fs ui``: prints a 127.0.0.1 URL with the token on a free port, serves the faceset given, refuses the rest."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


def test_fs_ui_serves_with_a_token(clip_faces: Path, fs: Any) -> None:
    code = "import sys; from fs_cli.app import main; sys.argv = ['fs', *sys.argv[1:]]; main()"
    cmd = [sys.executable, "-c", code, "ui", str(clip_faces), "--no-browser"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("fs ui: http://127.0.0.1:"), line
        url = line.split(" ", 2)[2]
        base, token = url.split("/?token=")
        assert len(token) >= 32 and int(base.rsplit(":", 1)[1]) > 0
        req = urllib.request.Request(base + "/api/info", headers={"X-FS-Token": token})
        with urllib.request.urlopen(req, timeout=30) as res:
            info = json.loads(res.read())
        assert info["facesets"][0]["name"] == clip_faces.name and info["facesets"][0]["count"] > 0
        try:
            urllib.request.urlopen(base + "/api/info", timeout=30)
            raise AssertionError("served without the token")
        except urllib.error.HTTPError as exc:
            assert exc.code == 403
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    result = fs("ui", clip_faces.parent / "missing", "--no-browser")
    assert result.exit_code != 0 and "no such file or folder" in result.output
