"""Help texts, one-line errors, --json, TOML config files, versions."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from typer.main import get_command

import fs_align
import fs_cli
from fs_cli.app import app


def test_version_and_error() -> None:
    assert fs_cli.__version__ == importlib.metadata.version("fs-cli")
    assert issubclass(fs_cli.CliError, fs_align.FsError)


def _commands(cmd: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    subs = getattr(cmd, "commands", None)
    if not subs:
        return [prefix]
    out = []
    for name, sub in subs.items():
        out += _commands(sub, (*prefix, name))
    return out


COMMANDS = _commands(get_command(app))


def test_every_command_is_there() -> None:
    names = {" ".join(c) for c in COMMANDS}
    for want in [
        "extract", "train", "merge", "eval", "demo", "weights list", "weights fetch", "video frames", "video join",
        "faceset info", "faceset view", "faceset thumbs", "faceset sync", "faceset sort", "faceset import-dfl",
        "faceset import-faceswap", "faceset export-dfl", "faceset merge", "mask hull", "mask train", "mask apply",
        "mask import-labels", "mask export-labels",
    ]:  # fmt: skip
        assert want in names


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_help_has_examples(fs: Any, command: tuple[str, ...]) -> None:
    result = fs(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Examples" in result.output
    assert f"fs {' '.join(command)}" in result.output


def _one_line_error(result: Any) -> str:
    assert result.exit_code != 0
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) == 1, result.output
    assert "Traceback" not in result.output
    return errors[0]


@pytest.fixture(scope="module")
def blank_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("blank") / "blank.png"
    cv2.imwrite(str(path), np.full((240, 320, 3), 128, np.uint8))
    return path


def test_bad_input_gives_one_line_errors(
    fs: Any, tmp_path: Path, blank_png: Path, clip: Path, clip_faces: Path
) -> None:
    cases = [
        (("extract", tmp_path / "missing.mp4", "-o", tmp_path / "o1"), "no such file"),
        (("extract", blank_png, "-o", tmp_path / "o2"), "no faces found"),
        (("extract", clip, "-o", tmp_path / "o3", "--size", "abc"), "--size"),
        (("extract", clip, "-o", tmp_path / "o4", "--detector", "haar"), "unknown detector"),
        (("extract", clip, "-o", tmp_path / "o5", "--shard", "3/2"), "--shard"),
        (("faceset", "info", tmp_path), "not a faceset"),
        (("faceset", "info", tmp_path / "nope"), "no such faceset"),
        (("faceset", "sort", clip_faces, "--by", "vibes"), "--by"),
        (("train", "--src", tmp_path, "--dst", clip_faces, "-o", tmp_path / "m"), "not a faceset"),
        (("train", "--src", clip_faces, "--dst", clip_faces, "-o", tmp_path / "m", "--model", "nope"), "unknown model"),
        (("merge", clip, "--model", tmp_path / "none.safetensors", "-o", tmp_path / "x.mp4"), "no such file"),
        (("merge", clip, "--model", clip, "-o", tmp_path / "x.mp4"), "not an fs model checkpoint"),
        (("merge", tmp_path / "nope.mp4", "--model", clip, "-o", tmp_path / "x.mp4"), "no such video"),
        (("eval", tmp_path / "nope.mp4", "--dst", clip, "--src", clip_faces), "no such video"),
        (("video", "frames", tmp_path / "nope.mp4", "-o", tmp_path / "fr"), "does not exist"),
        (("video", "join", tmp_path, "-o", tmp_path / "j.mp4"), "holds no images"),
        (("weights", "fetch", "no-such-asset"), "unknown asset"),
        (("mask", "apply", clip_faces, "--model", tmp_path / "none.safetensors"), "no such XSeg checkpoint"),
        (("nosuchcommand",), "No such command"),
    ]
    for args, needle in cases:
        result = fs(*args)
        line = _one_line_error(result)
        assert needle.lower() in line.lower(), (args, result.output)


def test_debug_prints_traceback(fs: Any, tmp_path: Path) -> None:
    result = fs("--debug", "extract", tmp_path / "missing.mp4", "-o", tmp_path / "o")
    assert result.exit_code == 1
    assert "Traceback" in result.output
    assert "error: " in result.output


def test_json_output_and_toml_config(fs: Any, clip: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "extract.toml"
    cfg.write_text('size = 48\nevery = 3\nface-type = "full"\ntrack = "largest"\n')
    out = tmp_path / "faces"
    result = fs("extract", clip, "-o", out, "--config", cfg, "--every", "2", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["frames"] == 12  # --every 2 on the command line beats every = 3 in the file
    assert data["faces"] == 12
    info = json.loads(fs("faceset", "info", out, "--json").stdout)
    assert info["size"] == 48 and info["face_types"] == {"full": 12}
    bad = tmp_path / "bad.toml"
    bad.write_text("sizee = 3\n")
    line = _one_line_error(fs("extract", clip, "-o", tmp_path / "f2", "--config", bad))
    assert "unknown setting" in line and "sizee" in line


def test_weights_list_json(fs: Any) -> None:
    result = fs("weights", "list", "--json")
    assert result.exit_code == 0
    names = {a["name"]: a for a in json.loads(result.stdout)["assets"]}
    assert {"yunet", "dlib68", "sface"} <= set(names)
    assert "non-commercial" in names["dlib68"]["licence"].lower()
