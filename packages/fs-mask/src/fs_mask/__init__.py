"""fs-mask: landmark masks, polygon labels and the XSeg segmenter for the fs face-swap toolkit."""

from fs_mask.errors import MaskError
from fs_mask.landmark_masks import (
    MaskKind,
    eyes_mask,
    eyes_mouth_mask,
    landmark_mask,
    mouth_mask,
    raise_eyebrows,
)

__version__ = "0.1.0"

__all__ = [
    "MaskError",
    "MaskKind",
    "__version__",
    "eyes_mask",
    "eyes_mouth_mask",
    "landmark_mask",
    "mouth_mask",
    "raise_eyebrows",
]
