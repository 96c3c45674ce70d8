"""Training data: two facesets, validated up front, sampled deterministically and augmented into batches.

Sampling is a pure function of ``(seed, side, position)``: micro-batch ``c`` of rank ``r`` (of ``world``)
holds the sample positions ``(c * world + r) * B + j``. A position picks a face from a per-epoch permutation
(every face once per epoch, ranks disjoint) or, with uniform yaw, a yaw bin then a face in it; the
augmentation of a position draws from its own generator. So batches do not depend on worker timing, resume
needs only the step counter, and ``4 x batch 2`` covers exactly the faces of ``1 x batch 8``.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from fs_align import MaskSource
from fs_faceset import Faceset, FacesetError
from fs_faceset.sort import poses
from fs_train._augment import SideSpec, augment_sample
from fs_train.config import AugmentConfig, LossConfig
from fs_train.errors import DataError

__all__ = ["Batch", "BatchArrays", "FaceSource", "PairSampler", "open_pair"]

SIDES = ("src", "dst")


class FaceSource:
    """One opened faceset with what sampling needs: images (memory-mapped), landmarks, masks, yaw bins.

    Args:
        path: the faceset folder.
        mask_source: which masks to use (stored ones are read once here).
        need_masks: whether masks are used at all (then ``STORED`` requires one on every face).
        name: ``"src"`` or ``"dst"`` (for messages).

    Raises:
        DataError: the faceset cannot be opened, is empty, or lacks required masks.
    """

    def __init__(self, path: str | Path, *, mask_source: tuple[MaskSource, ...], need_masks: bool, name: str) -> None:
        self.path = Path(path)
        self.name = name
        try:
            self.faceset = Faceset.open(self.path)
        except (FacesetError, OSError) as exc:
            raise DataError(f"{name} faceset {self.path}: cannot be opened: {exc}") from exc
        n = len(self.faceset)
        if n == 0:
            raise DataError(f"{name} faceset {self.path}: holds no faces (nothing to train on)")
        self.size = self.faceset.size
        types = sorted(set(self.faceset.face_types))
        if len(types) != 1:
            raise DataError(f"{name} faceset {self.path}: mixes face types {types}; re-extract with one face type")
        self.face_type = types[0]
        self.landmarks = np.ascontiguousarray(self.faceset.landmarks(), dtype=np.float32)
        self.mask_index = np.full(n, -1, dtype=np.int64)
        self.masks = np.zeros((0, self.size, self.size), dtype=np.uint8)
        if need_masks and MaskSource.STORED in mask_source:
            self._read_masks(hull_fallback=MaskSource.HULL in mask_source)

    def __len__(self) -> int:
        return len(self.faceset)

    def _read_masks(self, hull_fallback: bool) -> None:
        stored: list[npt.NDArray[np.uint8]] = []
        for i, mask in enumerate(self.faceset.masks()):
            if mask is not None:
                self.mask_index[i] = len(stored)
                stored.append(np.asarray(np.clip(mask * 255.0 + 0.5, 0, 255), dtype=np.uint8))
        missing = int((self.mask_index < 0).sum())
        if not hull_fallback and missing:
            raise DataError(
                f"{self.name} faceset {self.path}: {missing} of {len(self.faceset)} faces have no stored mask, "
                "but the loss asks for stored masks only (mask_source='stored'); add masks (fs mask apply) or "
                "use mask_source='stored,hull'"
            )
        if stored:
            self.masks = np.stack(stored)

    @functools.cached_property
    def poses(self) -> npt.NDArray[np.float64]:
        """``(n, 3)`` pitch, yaw, roll (degrees) of each face: the stored pose, else estimated from the face-space
        landmarks (:func:`fs_faceset.sort.poses`); a degenerate landmark set counts as frontal."""
        out: npt.NDArray[np.float64] = np.nan_to_num(poses(self.faceset), nan=0.0)
        return out

    @property
    def yaws(self) -> npt.NDArray[np.float64]:
        """Yaw (degrees) of each face (see :attr:`poses`)."""
        out: npt.NDArray[np.float64] = self.poses[:, 1]
        return out

    def yaw_bins(self, bins: int) -> list[npt.NDArray[np.int64]]:
        """Face indices per non-empty yaw bin (``bins`` equal bins between the smallest and largest yaw)."""
        yaw = self.yaws
        lo, hi = float(yaw.min()), float(yaw.max())
        if hi - lo < 1e-6:
            return [np.arange(len(yaw), dtype=np.int64)]
        which = np.minimum(((yaw - lo) / (hi - lo) * bins).astype(np.int64), bins - 1)
        return [np.flatnonzero(which == b) for b in range(bins) if np.any(which == b)]

    def stored_mask(self, index: int) -> npt.NDArray[np.uint8] | None:
        """The stored ``S x S`` uint8 mask of face ``index``, or ``None``."""
        k = int(self.mask_index[index])
        return None if k < 0 else self.masks[k]  # type: ignore[no-any-return]


def open_pair(
    src: str | Path, dst: str | Path, loss: LossConfig, *, need_em: bool | None = None
) -> tuple[FaceSource, FaceSource]:
    """Open and cross-check the src and dst facesets (same face size and face type).

    Raises:
        DataError: either faceset is unusable, or the two disagree (names both and the difference).
    """
    need_masks = loss.masked or loss.mask_weight > 0 or loss.eyes_mouth_weight > 0 or loss.bg_style_weight > 0
    a = FaceSource(src, mask_source=loss.mask_source, need_masks=need_masks, name="src")
    b = FaceSource(dst, mask_source=loss.mask_source, need_masks=need_masks, name="dst")
    if a.size != b.size:
        raise DataError(f"src faceset {a.path} holds {a.size}px faces but dst faceset {b.path} holds {b.size}px faces")
    if a.face_type != b.face_type:
        raise DataError(
            f"src faceset {a.path} holds {a.face_type} faces but dst faceset {b.path} holds {b.face_type} faces"
        )
    return a, b


@dataclass(frozen=True)
class BatchArrays:
    """One micro-batch as uint8 NHWC arrays (``input``/``target`` per side; masks ``N x R x R`` or ``None``)."""

    arrays: dict[str, npt.NDArray[np.uint8]]

    @staticmethod
    def layout(batch: int, r: int, masks: bool, em: bool) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the arrays of one micro-batch."""
        out: dict[str, tuple[int, ...]] = {}
        for side in SIDES:
            out[f"{side}_input"] = (batch, r, r, 3)
            out[f"{side}_target"] = (batch, r, r, 3)
            if masks:
                out[f"{side}_mask"] = (batch, r, r)
            if em:
                out[f"{side}_em"] = (batch, r, r)
        return out


@dataclass(frozen=True)
class Batch:
    """One micro-batch of tensors, N x C x R x R float32 in [0, 1], BGR (masks N x 1 x R x R; ``None`` if unused)."""

    warped_src: torch.Tensor
    target_src: torch.Tensor
    mask_src: torch.Tensor | None
    em_src: torch.Tensor | None
    warped_dst: torch.Tensor
    target_dst: torch.Tensor
    mask_dst: torch.Tensor | None
    em_dst: torch.Tensor | None

    @staticmethod
    def from_arrays(
        arrays: dict[str, npt.NDArray[np.uint8]], device: torch.device, channels_last: bool = False
    ) -> Batch:
        """Convert uint8 arrays to float tensors on ``device`` (the uint8 data travels, then is scaled there).

        Images come out N x 3 x H x W, in NHWC memory order when ``channels_last`` (no copy: that is the order
        the arrays already have).
        """
        nb = device.type == "cuda"
        fmt = torch.channels_last if channels_last else torch.contiguous_format

        def img(name: str) -> torch.Tensor:
            t = torch.from_numpy(arrays[name]).to(device, non_blocking=nb)
            return t.permute(0, 3, 1, 2).float().div_(255.0).contiguous(memory_format=fmt)

        def msk(name: str) -> torch.Tensor | None:
            if name not in arrays:
                return None
            t = torch.from_numpy(arrays[name]).to(device, non_blocking=nb)
            return t.unsqueeze(1).float().div_(255.0)

        return Batch(
            img("src_input"), img("src_target"), msk("src_mask"), msk("src_em"),
            img("dst_input"), img("dst_target"), msk("dst_mask"), msk("dst_em"),
        )  # fmt: skip

    def split(self, parts: int) -> list[Batch]:
        """Split into ``parts`` equal micro-batches along N."""
        fields = [self.warped_src, self.target_src, self.mask_src, self.em_src]
        fields += [self.warped_dst, self.target_dst, self.mask_dst, self.em_dst]
        chunks = [None if t is None else t.chunk(parts) for t in fields]
        return [Batch(*[None if c is None else c[i] for c in chunks]) for i in range(parts)]  # type: ignore[arg-type]


class PairSampler:
    """Deterministic sampling and augmentation of micro-batches over a (src, dst) pair (see the module docs).

    Args:
        sources: the opened (src, dst) facesets.
        augment: the augmentation config.
        resolution: the model's input side ``R``.
        batch_size: faces per side per micro-batch.
        seed: base seed.
        rank / world: this process's rank and the number of ranks (DDP).
        need_masks / need_em: produce face masks / eyes-and-mouth masks.
    """

    def __init__(
        self,
        sources: tuple[FaceSource, ...],
        augment: AugmentConfig,
        resolution: int,
        batch_size: int,
        seed: int,
        *,
        rank: int = 0,
        world: int = 1,
        need_masks: bool = True,
        need_em: bool = False,
    ) -> None:
        self.sources = sources
        self.augment = augment
        self.resolution = resolution
        self.batch_size = batch_size
        self.seed = seed
        self.rank, self.world = rank, world
        self.need_masks, self.need_em = need_masks or need_em, need_em
        self.specs = tuple(
            SideSpec.build(augment, resolution, is_src=i == 0, need_mask=self.need_masks, need_em=need_em)
            for i in range(2)
        )
        # Faceswap++'s schedule: random warp until the face is formed, then plain samples to sharpen it
        self.warp_until = augment.random_warp_until if augment.random_warp else 0
        self.late_specs = tuple(dataclasses.replace(spec, warp=False) for spec in self.specs)
        self._bins = [s.yaw_bins(augment.yaw_bins) for s in sources] if augment.uniform_yaw else None
        self._perm_cache: dict[tuple[int, int], npt.NDArray[np.int64]] = {}
        self._turn_to_dst = augment.src_turn == "dst" and (augment.src_pitch > 0 or augment.src_yaw > 0)

    def layout(self) -> dict[str, tuple[int, ...]]:
        """Names and shapes of one micro-batch's arrays."""
        return BatchArrays.layout(self.batch_size, self.resolution, self.need_masks, self.need_em)

    def positions(self, counter: int) -> npt.NDArray[np.int64]:
        """The global sample positions of micro-batch ``counter`` on this rank."""
        start = (counter * self.world + self.rank) * self.batch_size
        return np.arange(start, start + self.batch_size, dtype=np.int64)

    def _perm(self, side: int, epoch: int) -> npt.NDArray[np.int64]:
        key = (side, epoch)
        if key not in self._perm_cache:
            if len(self._perm_cache) > 8:
                self._perm_cache.clear()
            rng = np.random.default_rng([self.seed, side, 0x5EED, epoch])
            self._perm_cache[key] = rng.permutation(len(self.sources[side]))
        return self._perm_cache[key]

    def face_index(self, side: int, position: int) -> int:
        """Which face of side ``side`` (0 src, 1 dst) sample ``position`` shows."""
        if self._bins is not None:
            rng = np.random.default_rng([self.seed, side, 0xB1, position])
            bins = self._bins[side]
            members = bins[int(rng.integers(len(bins)))]
            return int(members[int(rng.integers(len(members)))])
        n = len(self.sources[side])
        return int(self._perm(side, position // n)[position % n])

    def fill(self, counter: int, out: dict[str, npt.NDArray[np.uint8]]) -> None:
        """Generate micro-batch ``counter`` into the arrays ``out`` (see :meth:`layout`)."""
        late = self.warp_until > 0 and counter >= self.warp_until
        for side, (name, src, spec) in enumerate(zip(SIDES, self.sources, self.late_specs if late else self.specs)):
            for j, pos in enumerate(self.positions(counter)):
                idx = self.face_index(side, int(pos))
                rng = np.random.default_rng([self.seed, side, 0xA6, int(pos)])
                toward = self._toward_dst(idx, rng) if side == 0 and self._turn_to_dst else None
                image = src.faceset.images([idx])[0]
                if side == 0 and self.augment.ct_mode != "none":
                    image = self._color_transfer(image, rng)
                augment_sample(
                    image, src.landmarks[idx], src.stored_mask(idx), spec, rng,
                    out[f"{name}_input"][j], out[f"{name}_target"][j],
                    out[f"{name}_mask"][j] if self.need_masks else None,
                    out[f"{name}_em"][j] if self.need_em else None,
                    toward=toward,
                )  # fmt: skip

    def _toward_dst(self, idx: int, rng: np.random.Generator) -> tuple[float, float]:
        """``src_turn="dst"``: the (pitch, yaw) turn from src face ``idx`` to a dst face drawn with ``rng``."""
        src, dst = self.sources
        other = dst.poses[int(rng.integers(len(dst)))]
        own = src.poses[idx]
        return float(other[0] - own[0]), float(other[1] - own[1])

    def _color_transfer(self, image: npt.NDArray[np.uint8], rng: np.random.Generator) -> npt.NDArray[np.uint8]:
        """DFL's ct_mode: recolour a src face toward a dst face drawn with the sample's own generator."""
        from fs_merge import color_transfer  # fs-merge owns the colour transfers (numpy, torch-free)

        dst = self.sources[1]
        reference = dst.faceset.images([int(rng.integers(len(dst)))])[0]
        seed = int(rng.integers(2**31))
        out: npt.NDArray[np.uint8] = color_transfer(image, reference, self.augment.ct_mode, seed=seed)
        return out

    def make(self, counter: int) -> dict[str, npt.NDArray[np.uint8]]:
        """Generate micro-batch ``counter`` into new arrays."""
        out = {k: np.empty(shape, dtype=np.uint8) for k, shape in self.layout().items()}
        self.fill(counter, out)
        return out

    def describe(self) -> dict[str, Any]:
        """Facts for the metrics log (faceset sizes, yaw bins)."""
        return {
            "src_faces": len(self.sources[0]),
            "dst_faces": len(self.sources[1]),
            "yaw_bins": None if self._bins is None else [len(b) for b in self._bins],
        }
