"""fs-mask: landmark masks and the XSeg segmenter for the fs face-swap toolkit.

Only the error type exists yet; the capability is tracked in the project's issue #9.
"""

from fs_mask.errors import MaskError

__version__ = "0.1.0"

__all__ = ["MaskError", "__version__"]
