"""The identity-conditioned CGAN through the CLI: `fs train --model cgan` on two real facesets, resume, `fs merge`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

import fs_models
from fs_align.testing import artifact_dir, asset_or_skip
from fs_cli.pipeline import load_face_model, load_swap_model
from fs_cli.pipeline.evaluate import reconstruction_ssim
from fs_faceset import Faceset
from fs_merge import FrameReader, probe_video
from fs_train import load_checkpoint

TINY = ["--resolution", "32", "--batch", "4", "--lr", "5e-4", "--seed", "1"]
for _kv in ("e_dims=8", "ae_dims=32", "d_dims=8", "id_dims=8"):
    TINY += ["--model-option", _kv]


@pytest.fixture(scope="module")
def franck_faces(fs: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second identity: the faces of 20 frames of the franck clip (64 px)."""
    from fs_merge import ffmpeg_exe

    folder = tmp_path_factory.mktemp("franck")
    clip = folder / "franck20.mp4"
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(asset_or_skip("video-franck"))]
    subprocess.run([*cmd, "-frames:v", "20", "-c:v", "libx264", "-preset", "ultrafast", str(clip)], check=True)
    out = folder / "franck_faces"
    result = fs("-q", "extract", clip, "-o", out, "--size", "64", "--track", "largest")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def fs() -> Any:  # module scope (the conftest's is per test)
    from typer.testing import CliRunner

    from fs_cli.app import app

    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def test_cgan_train_resume_merge(fs: Any, clip: Path, clip_faces: Path, franck_faces: Path, tmp_path: Path) -> None:
    model = tmp_path / "cgan"
    base = ["train", "--model", "cgan", "--src", franck_faces, "--dst", clip_faces, "-o", model, *TINY]
    result = fs("-q", *base, "--steps", "40", "--preview-every", "40", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["step"] == 40
    history = load_checkpoint(model / "checkpoint.safetensors").tensors["history"][:, 1].tolist()
    first, last = sum(history[:10]) / 10, sum(history[-10:]) / 10
    assert last < 0.9 * first, f"loss did not fall: {first:.3f} -> {last:.3f}"
    cfg = json.loads((model / "config.json").read_text())
    assert cfg["loss"]["gan_power"] == 0.1  # the CGAN's adversarial term is on by default
    # resume: continues from step 40 to the new target
    result = fs("-q", *base, "--steps", "44", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["step"] == 44
    starts = [json.loads(r) for r in (model / "metrics.jsonl").read_text().splitlines() if '"start"' in r]
    assert starts[-1]["step"] == 40 and starts[-1]["resumed"].endswith("checkpoint.safetensors")
    # merge: the src identity (franck) into the clip; a labelled video with the clip's frames and audio
    swap = tmp_path / "swap.mp4"
    result = fs("-q", "merge", clip, "--model", model, "--faceset", clip_faces, "-o", swap)
    assert result.exit_code == 0, result.output
    got = probe_video(swap, count_frames=True)
    assert got.num_frames == 24 and got.metadata.get("synthetic_media") == "true" and got.audio_codec is not None
    changed = [float(cv2.absdiff(a.image, b.image).mean()) for a, b in zip(FrameReader(clip), FrameReader(swap))]
    assert min(changed) > 0.5
    # --identity picks another identity: by name (the dst's own) or by the faceset it was trained on
    own = tmp_path / "own.mp4"
    result = fs("-q", "merge", clip, "--model", model, "--faceset", clip_faces, "-o", own, "--identity", clip_faces)
    assert result.exit_code == 0, result.output
    diff = [float(cv2.absdiff(a.image, b.image).mean()) for a, b in zip(FrameReader(swap), FrameReader(own))]
    assert max(diff) > 0.1  # another identity renders another face
    result = fs("merge", clip, "--model", model, "-o", tmp_path / "x.mp4", "--identity", "nobody")
    assert result.exit_code != 0 and f"0=franck_faces, 1={clip_faces.name}" in result.output
    # fs eval's reconstruction SSIM rebuilds each faceset as its own identity
    ssim = reconstruction_ssim(fs_models.load_model(model / "model.safetensors"), Faceset.open(franck_faces),
                               Faceset.open(clip_faces))  # fmt: skip
    assert set(ssim) == {"ssim_src_src", "ssim_dst_dst"} and all(-1 < v <= 1 for v in ssim.values())
    # the swap model fs merge uses is a plain one-input model: TorchFaceModel and the .dfm export take it
    fixed = load_swap_model(model)
    assert isinstance(fixed, fs_models.FixedIdentityCGAN)
    faces = np.stack([cv2.resize(a.image[50:250, 100:300], (32, 32)) for a in list(FrameReader(clip))[:3]])
    torch_out = load_face_model(model).swap(faces)
    dfm = fs_models.export_onnx(fixed, tmp_path / "cgan.dfm")
    onnx_out = load_face_model(dfm).swap(faces)
    assert np.abs(torch_out.faces.astype(int) - onnx_out.faces.astype(int)).max() <= 1
    np.testing.assert_allclose(torch_out.dst_mask, onnx_out.dst_mask, atol=1e-3)
    preview = cv2.imread(str(model / "previews" / "preview_latest.png"))
    assert preview is not None
    cv2.imwrite(str(artifact_dir("fs-cli") / "cgan_train_preview.png"), preview)


def test_cgan_flags_only_for_a_cgan(fs: Any, clip_faces: Path, tmp_path: Path) -> None:
    result = fs("train", "--src", clip_faces, "--dst", clip_faces, "--faceset", clip_faces, "-o", tmp_path / "m")
    assert result.exit_code != 0 and "only for a CGAN" in result.output


def test_cgan_on_sface_embeddings_renders_an_unseen_faceset(
    fs: Any, clip_faces: Path, franck_faces: Path, tmp_path: Path
) -> None:
    """--identity-embedding: the generator takes each faceset's mean SFace embedding, so merging can render a
    faceset it never trained on (its own mean embedding)."""
    import torch

    from fs_cli.pipeline import src_identity
    from fs_faceset import FacesetWriter
    from fs_train import model_identities

    model = tmp_path / "cgan_sface"
    args = ["train", "--model", "cgan", "--src", franck_faces, "--dst", clip_faces, "-o", model, *TINY]
    result = fs("-q", *args, "--steps", "2", "--identity-embedding", "--preview-every", "0", "--json")
    assert result.exit_code == 0, result.output
    table = model_identities(model / "model.safetensors")
    assert [t.vector.shape for t in table if t.vector is not None] == [(128,), (128,)]
    np.testing.assert_allclose(table[0].vector.numpy(), src_identity(franck_faces), atol=1e-6)
    unseen = tmp_path / "unseen"
    with FacesetWriter(unseen) as writer:
        writer.add_all(list(Faceset.open(franck_faces))[:5])
    fixed = load_swap_model(model, identity=str(unseen))
    assert isinstance(fixed, fs_models.FixedIdentityCGAN)
    with torch.no_grad():
        want = fixed.generator.embed_identity(torch.from_numpy(src_identity(unseen))[None])[0]
    torch.testing.assert_close(fixed.target[0], want)
    faces = np.stack([np.asarray(f.image) for f in list(Faceset.open(clip_faces))[:2]])
    faces = np.stack([cv2.resize(f, (32, 32)) for f in faces])
    out = load_face_model(model, identity="franck_faces").swap(faces)
    assert out.faces.shape == (2, 32, 32, 3)
