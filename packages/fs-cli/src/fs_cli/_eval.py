"""``fs eval``'s measurements: identity (SFace), landmarks and pose (fs-align), reconstruction SSIM, jitter."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from fs_cli.errors import CliError

__all__ = ["evaluate", "ssim"]


def ssim(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> float:
    """Mean SSIM (Wang et al. 2004; Gaussian window sigma 1.5, K1 0.01, K2 0.03) over the channels of two images."""
    x = a.astype(np.float64)
    y = b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(cv2.GaussianBlur(z, (11, 11), 1.5), np.float64)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


def _unit(v: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def reconstruction_ssim(model: Any, src: Any, dst: Any, count: int = 16) -> dict[str, float]:
    """SSIM of the model's src->src and dst->dst reconstructions of (up to) ``count`` faces of each faceset."""
    import torch

    res = int(model.resolution)

    def faces(fs: Any) -> npt.NDArray[np.uint8]:
        idx = np.unique(np.linspace(0, len(fs) - 1, min(count, len(fs))).round().astype(int))
        imgs = fs.images(idx)
        return np.stack([cv2.resize(np.asarray(im), (res, res), interpolation=cv2.INTER_AREA) for im in imgs]).astype(
            np.uint8
        )

    a, b = faces(src), faces(dst)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]

    def tensor(x: npt.NDArray[np.uint8]) -> Any:
        return torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255.0

    device = next(model.parameters()).device
    with torch.inference_mode():
        out = model(tensor(a).to(device), tensor(b).to(device))

    def back(t: Any) -> npt.NDArray[np.uint8]:
        return np.asarray((t.clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8))

    ss, dd = back(out.src_src), back(out.dst_dst)
    return {
        "ssim_src_src": float(np.mean([ssim(x, y) for x, y in zip(ss, a)])),
        "ssim_dst_dst": float(np.mean([ssim(x, y) for x, y in zip(dd, b)])),
    }


def evaluate(
    swap: Path,
    dst: Path,
    src_faceset: Path,
    *,
    model: Any | None,
    dst_faceset: Path | None,
    max_frames: int,
    progress: Callable[[str, int | None], Any],
) -> dict[str, Any]:
    """Quality numbers of a swap video against its dst video and the src faceset."""
    import fs_align
    from fs_cli._analyse import Analyser, Settings, TrackMode
    from fs_cli._cmd_faceset import embeddings_of, open_faceset
    from fs_faceset import Faceset
    from fs_merge import FrameReader

    src_fs = open_faceset(src_faceset)
    if len(src_fs) == 0:
        raise CliError(f"--src {src_faceset}: faceset is empty")
    src_id = _unit(embeddings_of(src_fs).mean(axis=0))
    analyser = Analyser(Settings(track=TrackMode.LARGEST, embed=True))
    r_dst, r_swap = FrameReader(dst), FrameReader(swap)
    total = min(r_dst.num_frames, r_swap.num_frames)
    step = max(1, total // max_frames)
    cos_src, cos_dst, base_src, nmes, yaw, pitch, roll = [], [], [], [], [], [], []
    lm_dst: list[npt.NDArray[np.float32]] = []
    lm_swap: list[npt.NDArray[np.float32]] = []
    missed = 0
    with progress("evaluate", (total + step - 1) // step) as advance:
        for fd, fw in zip(r_dst, r_swap):
            if fd.index % step:
                continue
            advance(1)
            a = analyser.analyse(fd.index, dst.name, fd.image)
            if a.count == 0:
                continue
            b = analyser.analyse(fw.index, swap.name, fw.image)
            if b.count == 0:
                missed += 1
                continue
            assert a.embeddings is not None and b.embeddings is not None
            cos_src.append(float(b.embeddings[0] @ src_id))
            cos_dst.append(float(b.embeddings[0] @ a.embeddings[0]))
            base_src.append(float(a.embeddings[0] @ src_id))
            nmes.append(float(fs_align.nme(b.landmarks[0], a.landmarks[0])))
            size = (fd.image.shape[1], fd.image.shape[0])
            pa, pb = fs_align.estimate_pose(a.landmarks[0], size), fs_align.estimate_pose(b.landmarks[0], size)
            yaw.append(abs(pa.yaw - pb.yaw))
            pitch.append(abs(pa.pitch - pb.pitch))
            roll.append(abs(pa.roll - pb.roll))
            lm_dst.append(a.landmarks[0])
            lm_swap.append(b.landmarks[0])
    if not cos_src:
        raise CliError(f"{swap}: no face found in the swapped frames that match dst faces ({missed} missed)")
    data: dict[str, Any] = {
        "frames_compared": len(cos_src),
        "frames_without_face_in_swap": missed,
        "identity_cos_swap_vs_src": float(np.mean(cos_src)),
        "identity_cos_swap_vs_dst": float(np.mean(cos_dst)),
        "identity_cos_dst_vs_src": float(np.mean(base_src)),
        "landmark_nme_swap_vs_dst": float(np.mean(nmes)),
        "pose_abs_diff_deg": {"yaw": float(np.mean(yaw)), "pitch": float(np.mean(pitch)), "roll": float(np.mean(roll))},
        "jitter_swap": float(fs_align.jitter(np.stack(lm_swap))) if len(lm_swap) > 2 else None,
        "jitter_dst": float(fs_align.jitter(np.stack(lm_dst))) if len(lm_dst) > 2 else None,
    }
    if model is not None:
        dst_fs = Faceset.open(dst_faceset) if dst_faceset is not None else None
        if dst_fs is not None and len(dst_fs):
            data |= reconstruction_ssim(model, src_fs, dst_fs)
    return data
