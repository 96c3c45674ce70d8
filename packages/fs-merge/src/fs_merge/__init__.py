"""fs-merge: colour transfer, blending, compositing and video output for the fs face-swap toolkit.

Only the error type exists yet; the capability is tracked in the project's issue #6.
"""

from fs_merge.errors import MergeError

__version__ = "0.1.0"

__all__ = ["MergeError", "__version__"]
