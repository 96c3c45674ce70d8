"""fs-detect: face detection, identity embeddings and tracking for the fs face-swap toolkit.

Only the error type exists yet; the capability is tracked in the project's issue #5.
"""

from fs_detect.errors import DetectError

__version__ = "0.1.0"

__all__ = ["DetectError", "__version__"]
