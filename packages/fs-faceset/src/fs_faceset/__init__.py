"""fs-faceset: the face record and faceset format for the fs face-swap toolkit.

Only the error type exists yet; the capability is tracked in the project's issue #3.
"""

from fs_faceset.errors import FacesetError

__version__ = "0.1.0"

__all__ = ["FacesetError", "__version__"]
