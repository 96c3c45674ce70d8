"""How good a swap is, in numbers: identity (SFace), expression and pose kept, detail kept, jitter; likeness.

``evaluate(swap_video, dst_video, src_faceset)`` compares each (dst frame, swapped frame) pair: the largest face
of each is found again (YuNet + 68 landmarks + SFace), and

* identity: cosine of the swapped face's SFace embedding to the src identity (the mean embedding of the src
  faceset) and to the dst face of the same frame, and in how many frames the swap is nearer src than dst;
* expression and pose: landmark NME of the swapped face against the dst face (also per part of the face: jaw,
  brows, nose, eyes, mouth; a faithful swap carries src's jaw line and eye height, an expression error shows at
  the mouth and eyes), head-pose difference per axis
  (mean absolute; also its signed mean, the offset, and the difference with that offset removed: the pose fit
  uses one mean 3-D face, so two people in the same pose read a few degrees apart, mostly in pitch, and a
  faithful swap carries src's face shape: a constant offset is that, or src faces that never reach dst's pose
  (the model falls short of poses it has not seen in src), a varying one is a pose error);
* detail: the variance of the Laplacian over the inner face (brows to chin: the hull of landmarks 17-67 of the
  dst face) in the swapped frame divided by the same in the dst frame (1.0: as sharp as dst; a blur is < 1);
* jitter of the swapped and dst landmarks.

:func:`likeness` turns those numbers into a verdict against :class:`LikenessCriteria` (the project's definition
of "the swap looks like src, as sharp as dst, with dst's expression and pose").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

import fs_align
import fs_detect
from fs_cli.errors import CliError
from fs_cli.pipeline._progress import Progress, null_progress

__all__ = [
    "LikenessCriteria",
    "LikenessVerdict",
    "detail_ratio",
    "evaluate",
    "evaluate_frames",
    "faceset_embeddings",
    "identity_analyser",
    "likeness",
    "likeness_notes",
    "reconstruction_ssim",
    "src_identity",
    "ssim",
]

U8 = npt.NDArray[np.uint8]
INNER_FACE = np.arange(17, 68)
"""Brows, nose, eyes and mouth of the iBUG-68 layout: the hull of these points is the "inner face"."""
_G = fs_align.IBUG68_GROUPS
NME_PARTS: dict[str, tuple[int, ...]] = {
    "jaw": _G["jaw"],
    "brows": _G["right_brow"] + _G["left_brow"],
    "nose": _G["nose_bridge"] + _G["nose_lower"],
    "eyes": _G["right_eye"] + _G["left_eye"],
    "mouth": _G["mouth_outer"] + _G["mouth_inner"],
}
"""The parts of ``landmark_nme_by_part``; their NMEs weighted by point count average to the whole NME."""


@dataclasses.dataclass(frozen=True)
class LikenessCriteria:
    """When a swap counts as a likeness (defaults: fs's definition; franck vs franck scores ~0.90 in SFace).

    Attributes:
        min_cos_src: mean SFace cosine of the swapped faces to the src identity.
        min_src_wins: fraction of frames in which the swap is nearer src than the dst face of that frame.
        min_detail: detail kept, swap vs dst (variance of the Laplacian over the inner face).
        max_nme: landmark NME of the swap vs dst (expression kept).
        max_pose_deg: head-pose difference swap vs dst on each axis, degrees.
    """

    min_cos_src: float = 0.55
    min_src_wins: float = 0.95
    min_detail: float = 0.8
    max_nme: float = 0.05
    max_pose_deg: float = 5.0


@dataclasses.dataclass(frozen=True)
class LikenessVerdict:
    """:func:`likeness`'s answer: ``reached`` and each check as ``(name, value, limit, passed)``."""

    reached: bool
    checks: tuple[tuple[str, float, str, bool], ...]

    def failed(self) -> list[str]:
        """The checks that did not pass, as short phrases (``"swap->src cosine 0.41 (needs >= 0.55)"``)."""
        return [f"{n} {v:.3g} (needs {lim})" for n, v, lim, ok in self.checks if not ok]


def likeness(scores: dict[str, Any], criteria: LikenessCriteria | None = None) -> LikenessVerdict:
    """Whether the numbers of :func:`evaluate` meet ``criteria`` (all checks must pass)."""
    c = criteria or LikenessCriteria()
    pose = scores["pose_abs_diff_deg"]
    checks = [
        ("swap->src cosine", scores["identity_cos_swap_vs_src"], f">= {c.min_cos_src}", c.min_cos_src),
        ("frames nearer src than dst", scores["src_wins"], f">= {c.min_src_wins}", c.min_src_wins),
        ("detail kept", scores["detail_ratio_swap_vs_dst"], f">= {c.min_detail}", c.min_detail),
    ]
    out = [(n, float(v), lim, bool(v >= t)) for n, v, lim, t in checks]
    out.append(("landmark NME vs dst", float(scores["landmark_nme_swap_vs_dst"]), f"<= {c.max_nme}",
                bool(scores["landmark_nme_swap_vs_dst"] <= c.max_nme)))  # fmt: skip
    for axis in ("yaw", "pitch", "roll"):
        v = float(pose[axis])
        out.append((f"{axis} difference", v, f"<= {c.max_pose_deg} deg", bool(v <= c.max_pose_deg)))
    return LikenessVerdict(all(ok for *_, ok in out), tuple(out))


def likeness_notes(scores: dict[str, Any], verdict: LikenessVerdict) -> list[str]:
    """Plain notes on the failed expression and pose checks of a verdict: how much of a pose difference is a
    constant offset, and which parts of the face a landmark NME comes from (between two people both carry src's
    face shape; src faces short of dst's poses add to the offset: see fs-train's README, "Detail and pose")."""
    failed = {name for name, _, _, ok in verdict.checks if not ok}
    notes = []
    offset, tracking = scores.get("pose_offset_deg", {}), scores.get("pose_tracking_diff_deg", {})
    for axis in ("yaw", "pitch", "roll"):
        if f"{axis} difference" in failed and axis in offset and axis in tracking:
            notes.append(
                f"{axis}: {offset[axis]:+.1f} deg on average, {tracking[axis]:.1f} deg once that constant offset is "
                "removed (a constant offset comes from src's face shape, or from src faces that never reach dst's pose)"
            )
    parts = scores.get("landmark_nme_by_part")
    if "landmark NME vs dst" in failed and parts:
        shown = ", ".join(f"{k} {v:.3f}" for k, v in parts.items())
        why = "a lost expression shows at the mouth, src's face shape at the jaw and eye height"
        notes.append(f"landmark NME by part: {shown} ({why})")
    return notes


def ssim(a: U8, b: U8) -> float:
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


def detail_ratio(swap: U8, dst: U8, landmarks: npt.NDArray[np.float32]) -> float:
    """Variance of the Laplacian over the inner face (hull of ``landmarks[17:68]``), swap frame / dst frame.

    Both frames BGR uint8 of the same size; ``landmarks`` (68, 2) are the dst face's, in frame pixels.
    """
    mask = np.zeros(dst.shape[:2], np.uint8)
    hull = cv2.convexHull(np.round(landmarks[INNER_FACE]).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    inside = mask.astype(bool)
    if inside.sum() < 16:
        return float("nan")

    def var(img: U8) -> float:
        grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
        return float(cv2.Laplacian(grey, cv2.CV_32F, ksize=3)[inside].var())

    return var(swap) / max(var(dst), 1e-6)


def _centred_abs(values: list[float]) -> float:
    """Mean absolute deviation from the mean: the part of a signed difference that is not a constant offset."""
    v = np.asarray(values, np.float64)
    return float(np.abs(v - v.mean()).mean())


def _unit(v: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def faceset_embeddings(fs: Any, progress: Progress | None = None) -> npt.NDArray[np.float32]:
    """The faces' SFace identity embeddings (N x 128): stored ones, else computed from each aligned face."""
    if len(fs) == 0:
        return np.zeros((0, 128), np.float32)
    if all(f.embedding is not None for f in fs):
        return np.stack([np.asarray(f.embedding, np.float32) for f in fs])
    embedder = fs_detect.load_embedder("sface")
    rows = []
    with (progress or null_progress)("embed", len(fs)) as advance:
        for face in fs:
            pts5 = fs_align.five_point_from_68(face.landmarks)
            rows.append(embedder.embed(fs_detect.align_five_point(np.asarray(face.image), pts5)[None])[0])
            advance(1)
    return np.stack(rows).astype(np.float32)


def src_identity(src_faceset: Path | Any) -> npt.NDArray[np.float32]:
    """The src identity: the unit mean SFace embedding of a faceset (a path or an open ``fs_faceset.Faceset``)."""
    from fs_faceset import Faceset, FacesetError

    try:
        fs = Faceset.open(src_faceset) if isinstance(src_faceset, (str, Path)) else src_faceset
    except (FacesetError, OSError) as exc:
        raise CliError(f"--src {src_faceset}: cannot open the faceset: {exc}") from exc
    if len(fs) == 0:
        raise CliError(f"--src {src_faceset}: faceset is empty")
    return _unit(faceset_embeddings(fs).mean(axis=0))


def identity_analyser() -> fs_detect.FaceAnalyser:
    """The face finder of the evaluation: largest face, 68 landmarks and its SFace embedding."""
    return fs_detect.FaceAnalyser(fs_detect.ExtractSettings(track=fs_detect.TrackMode.LARGEST, embed=True))


def evaluate_frames(
    pairs: Iterable[tuple[U8, U8]], identity: npt.NDArray[np.float32], analyser: fs_detect.FaceAnalyser | None = None
) -> dict[str, Any]:
    """The numbers of :func:`evaluate` for (dst frame, swapped frame) pairs of BGR uint8 frames."""
    analyser = analyser or identity_analyser()
    keys = ("src", "dst", "base", "nme", "yaw", "pitch", "roll", "detail", *NME_PARTS)
    rows: dict[str, list[float]] = {k: [] for k in keys}
    lm_dst: list[npt.NDArray[np.float32]] = []
    lm_swap: list[npt.NDArray[np.float32]] = []
    missed = 0
    for i, (d, w) in enumerate(pairs):
        a = analyser.analyse(d, i)
        if not len(a.landmarks):
            continue
        b = analyser.analyse(w, i)
        if not len(b.landmarks):
            missed += 1
            continue
        assert a.embeddings is not None and b.embeddings is not None
        rows["src"].append(float(b.embeddings[0] @ identity))
        rows["dst"].append(float(b.embeddings[0] @ a.embeddings[0]))
        rows["base"].append(float(a.embeddings[0] @ identity))
        rows["nme"].append(float(fs_align.nme(b.landmarks[0], a.landmarks[0])))
        iod = float(fs_align.inter_ocular(a.landmarks[0]))
        dist = np.linalg.norm(b.landmarks[0].astype(np.float64) - a.landmarks[0], axis=-1) / iod
        for part, idx in NME_PARTS.items():
            rows[part].append(float(dist[list(idx)].mean()))
        size = (d.shape[1], d.shape[0])
        pa, pb = fs_align.estimate_pose(a.landmarks[0], size), fs_align.estimate_pose(b.landmarks[0], size)
        for axis in ("yaw", "pitch", "roll"):
            rows[axis].append(getattr(pb, axis) - getattr(pa, axis))
        rows["detail"].append(detail_ratio(w, d, a.landmarks[0]))
        lm_dst.append(a.landmarks[0])
        lm_swap.append(b.landmarks[0])
    if not rows["src"]:
        raise CliError(f"no face found in the swapped frames that match dst faces ({missed} missed)")
    src, dst = np.asarray(rows["src"]), np.asarray(rows["dst"])
    return {
        "frames_compared": len(src),
        "frames_without_face_in_swap": missed,
        "identity_cos_swap_vs_src": float(src.mean()),
        "identity_cos_swap_vs_dst": float(dst.mean()),
        "identity_cos_dst_vs_src": float(np.mean(rows["base"])),
        "src_wins": float((src > dst).mean()),
        "landmark_nme_swap_vs_dst": float(np.mean(rows["nme"])),
        "landmark_nme_by_part": {k: float(np.mean(rows[k])) for k in NME_PARTS},
        "pose_abs_diff_deg": {k: float(np.mean(np.abs(rows[k]))) for k in ("yaw", "pitch", "roll")},
        "pose_offset_deg": {k: float(np.mean(rows[k])) for k in ("yaw", "pitch", "roll")},
        "pose_tracking_diff_deg": {k: _centred_abs(rows[k]) for k in ("yaw", "pitch", "roll")},
        "detail_ratio_swap_vs_dst": float(np.nanmean(rows["detail"])),
        "jitter_swap": float(fs_align.jitter(np.stack(lm_swap))) if len(lm_swap) > 2 else None,
        "jitter_dst": float(fs_align.jitter(np.stack(lm_dst))) if len(lm_dst) > 2 else None,
    }


def evaluate(
    swap: Path,
    dst: Path,
    src_faceset: Path,
    *,
    model: Any | None = None,
    dst_faceset: Path | None = None,
    max_frames: int = 100,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Quality numbers of a swap video against its dst video and the src faceset (see the module docs).

    ``model`` (an fs-models autoencoder) with ``dst_faceset`` adds reconstruction SSIM of both identities.
    At most ``max_frames`` frame pairs, spread evenly over the video, are compared.
    """
    from fs_faceset import Faceset
    from fs_merge import FrameReader

    identity = src_identity(src_faceset)
    r_dst, r_swap = FrameReader(dst), FrameReader(swap)
    total = min(r_dst.num_frames, r_swap.num_frames)
    step = max(1, total // max_frames)

    def pairs() -> Iterable[tuple[U8, U8]]:
        with (progress or null_progress)("evaluate", (total + step - 1) // step) as advance:
            for fd, fw in zip(r_dst, r_swap):
                if fd.index % step == 0:
                    advance(1)
                    yield fd.image, fw.image

    data = evaluate_frames(pairs(), identity)
    if model is not None and dst_faceset is not None:
        dst_fs = Faceset.open(dst_faceset)
        if len(dst_fs):
            data |= reconstruction_ssim(model, Faceset.open(src_faceset), dst_fs)
    return data


def reconstruction_ssim(model: Any, src: Any, dst: Any, count: int = 16) -> dict[str, float]:
    """SSIM of the model's src->src and dst->dst reconstructions of (up to) ``count`` faces of each faceset.

    A label-conditioned CGAN rebuilds src as label 0 and dst as label 1; one on external embeddings gives ``{}``.
    """
    import torch

    res = int(model.resolution)

    def faces(fs: Any) -> U8:
        idx = np.unique(np.linspace(0, len(fs) - 1, min(count, len(fs))).round().astype(int))
        imgs = fs.images(idx)
        return np.stack([cv2.resize(np.asarray(im), (res, res), interpolation=cv2.INTER_AREA) for im in imgs]).astype(
            np.uint8
        )

    a, b = faces(src), faces(dst)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]

    def tensor(x: U8) -> Any:
        return torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255.0

    import fs_models

    device = next(model.parameters()).device
    with torch.inference_mode():
        ta, tb = tensor(a).to(device), tensor(b).to(device)
        if isinstance(model, fs_models.CGANGenerator):  # each faceset rebuilt as its own identity (labels 0, 1)
            if model.config.external_embedding_dims > 0:
                return {}  # its identity vectors live in the model file's table, not in the model
            zeros = torch.zeros(n, dtype=torch.long, device=device)
            src_src, dst_dst = model(ta, zeros)[0], model(tb, zeros + 1)[0]
        else:
            out = model(ta, tb)
            src_src, dst_dst = out.src_src, out.dst_dst

    def back(t: Any) -> U8:
        return np.asarray((t.clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8))

    ss, dd = back(src_src), back(dst_dst)
    return {
        "ssim_src_src": float(np.mean([ssim(x, y) for x, y in zip(ss, a)])),
        "ssim_dst_dst": float(np.mean([ssim(x, y) for x, y in zip(dd, b)])),
    }
