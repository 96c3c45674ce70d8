"""fs-align: face geometry for the fs face-swap toolkit (numpy + OpenCV, no torch).

Landmark schemes and face types, Umeyama alignment to canonical crops, warp/unwarp, head pose, the 68-point
landmark model, temporal smoothing, and the asset cache that fetches weights out of registry packages.
"""

from fs_align._image import as_bgr_uint8, check_image, check_points
from fs_align.errors import AssetError, FsError, ShapeError
from fs_align.io import read_ljson, read_pts
from fs_align.types import Alignment, FaceType, LandmarkScheme, Pose

__version__ = "0.1.0"

__all__ = [
    "Alignment",
    "AssetError",
    "FaceType",
    "FsError",
    "LandmarkScheme",
    "Pose",
    "ShapeError",
    "__version__",
    "as_bgr_uint8",
    "check_image",
    "check_points",
    "read_ljson",
    "read_pts",
]
