"""Typed records shared by every fs package: landmark schemes, face types, alignments and poses."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from fs_align.errors import ConfigError, ShapeError

__all__ = ["Alignment", "FaceType", "LandmarkScheme", "MaskSource", "Pose", "parse_enum"]

E = TypeVar("E", bound=enum.Enum)


def parse_enum(cls: type[E], value: object, what: str, error: type[Exception] = ConfigError) -> E:
    """Parse an enum member from itself, its value or its name, ignoring case and ``-``/``_`` differences.

    The one parser behind every fs option enum (``FaceType.parse``, ``ColorTransfer.parse``, config fields).

    Args:
        cls: the enum.
        value: a member, or a string matching a member's value or name (``"mkl-m"``, ``"MKL_M"``, ``"mkl_m"``).
        what: the start of the error message, e.g. ``"unknown face type"`` or ``"precision: unknown value"``.
        error: the exception type to raise (each package raises its own; default :class:`ConfigError`, which is
            also a ``ValueError``).

    Raises:
        error: ``"{what} {value!r}; known: ..."`` listing the members' values.
    """
    if isinstance(value, cls):
        return value
    key = str(value).strip().lower().replace("-", "_")
    for member in cls:
        if key in (str(member.value).lower().replace("-", "_"), member.name.lower()):
            return member
    known = ", ".join(str(m.value) for m in cls)
    raise error(f"{what} {value!r}; known: {known}")


class LandmarkScheme(enum.Enum):
    """Which landmark layout an array holds, so 5-point detector output is never taken for 68 points."""

    IBUG68 = "ibug68"
    """The iBUG 300-W 68-point layout (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67)."""
    FIVE_POINT = "five_point"
    """Right eye, left eye, nose tip, right mouth corner, left mouth corner (as YuNet/MTCNN/SFace order them:
    the subject's right eye is on the image's left)."""

    @property
    def num_points(self) -> int:
        """Number of (x, y) points in this scheme."""
        return 68 if self is LandmarkScheme.IBUG68 else 5


class MaskSource(enum.Enum):
    """Where a face mask comes from: the one "which mask" enum of fs (training, XSeg, merging).

    Training uses a fallback chain of sources (the first one a face has wins); merging multiplies a
    combination (DFL's ``learned-prd*hull``). Values are DFL's names where DFL has one.
    """

    POLYGONS = "polygons"
    """The face's include/exclude polygon labels (rasterised)."""
    STORED = "stored"
    """The mask stored in the face record (``Face.mask``), e.g. written by ``fs mask apply`` (XSeg)."""
    XSEG = "xseg"
    """An XSeg segmenter's prediction made now."""
    HULL = "hull"
    """The convex hull of the 68 landmarks."""
    COMPONENTS = "components"
    """faceswap's eight landmark parts."""
    EXTENDED = "extended"
    """The hull with the brows raised (DFL ``eyebrows_expand_mod``)."""
    LEARNED_PRD = "learned-prd"
    """The mask the swap model predicts with the swapped face (DFL ``out_celeb_face_mask``)."""
    LEARNED_DST = "learned-dst"
    """The mask the swap model predicts for the input dst face (DFL ``out_face_mask``)."""


class FaceType(enum.Enum):
    """How much of the head an aligned crop covers (DeepFaceLab's face types, tightest first)."""

    HALF = "half"
    """Eyebrows to mouth, cheek to cheek (DFL ``h``)."""
    MID_FULL = "mid_full"
    """Slightly wider than HALF (DFL ``mf``)."""
    FULL = "full"
    """The whole face from brows to chin (DFL ``f``)."""
    WHOLE_FACE = "whole_face"
    """FULL plus forehead and ears (DFL ``wf``), the usual choice for training."""
    HEAD = "head"
    """The whole head with hair (DFL ``head``)."""

    @classmethod
    def parse(cls, value: str | FaceType) -> FaceType:
        """Parse a face type from its value (``"whole_face"``), name (``"WHOLE_FACE"``) or DFL short name (``"wf"``)."""
        short = {"h": "half", "mf": "mid_full", "f": "full", "wf": "whole_face"}
        if isinstance(value, str):
            value = short.get(value.strip().lower(), value)
        return parse_enum(cls, value, "unknown face type")


@dataclass(frozen=True)
class Pose:
    """Head pose in degrees.

    Conventions (camera looking at the subject, image x to the right, y down):
    ``yaw`` > 0 when the subject turns toward the image's right (their left), ``pitch`` > 0 when the subject
    looks up, ``roll`` > 0 when the head tilts clockwise in the image.
    """

    pitch: float
    yaw: float
    roll: float


@dataclass(frozen=True)
class Alignment:
    """A frame-to-face affine: ``image_to_face`` (2x3 float32) maps frame pixels to aligned-face pixels."""

    image_to_face: npt.NDArray[np.float32]
    face_type: FaceType
    size: int

    def __post_init__(self) -> None:
        mat = np.asarray(self.image_to_face, dtype=np.float32)
        if mat.shape != (2, 3) or not np.all(np.isfinite(mat)):
            raise ShapeError(f"image_to_face: expected a finite 2x3 matrix, got shape {mat.shape}")
        if not isinstance(self.size, int) or self.size < 1:
            raise ShapeError(f"size: expected a positive int, got {self.size!r}")
        object.__setattr__(self, "image_to_face", mat)
        object.__setattr__(self, "face_type", FaceType.parse(self.face_type))

    @property
    def face_to_image(self) -> npt.NDArray[np.float32]:
        """The inverse affine (aligned-face pixels to frame pixels), 2x3 float32."""
        import cv2

        return cv2.invertAffineTransform(self.image_to_face).astype(np.float32)
