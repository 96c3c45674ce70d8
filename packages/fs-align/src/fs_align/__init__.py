"""fs-align: face geometry for the fs face-swap toolkit (numpy + OpenCV, no torch).

Landmark schemes and face types, Umeyama alignment to canonical crops, warp/unwarp, head pose, the 68-point
landmark model, temporal smoothing, landmark masks (hull, components, extended, eye/mouth regions), and the asset
cache that fetches weights out of registry packages.
"""

from fs_align._align import (
    ALIGN_INDICES_68,
    FACE_TYPE_PADDING,
    FACE_TYPE_SHIFT,
    align_face,
    alignment_matrix,
    canonical_landmarks,
)
from fs_align._fileio import atomic_write, sha256_file
from fs_align._image import as_bgr_uint8, check_image, check_points
from fs_align._pose import MEAN_FACE_3D, POSE_INDICES_68, estimate_pose
from fs_align._umeyama import umeyama
from fs_align._warp import (
    Border,
    Interpolation,
    check_affine,
    transform_points,
    unwarp_face,
    unwarp_face_with_mask,
    warp_face,
)
from fs_align.errors import AssetError, ConfigError, FsError, ShapeError
from fs_align.io import read_ljson, read_pts
from fs_align.landmark_masks import (
    MaskKind,
    eyes_mask,
    eyes_mouth_mask,
    landmark_mask,
    mouth_mask,
    raise_eyebrows,
)
from fs_align.landmarker import (
    LANDMARKERS,
    MIN_BOX_SIZE,
    REFINE_MISMATCH,
    REFINE_PASSES,
    CnnLandmarker,
    ErtLandmarker,
    Landmarker,
    box_from_landmarks,
    load_cnn68,
    load_landmarker,
    load_shape_predictor,
)
from fs_align.landmarks68 import IBUG68_GROUPS, IBUG68_MIRROR, MEAN_FACE_2D, five_point_from_68
from fs_align.quality import inter_ocular, jitter, nme
from fs_align.smoothing import LandmarkSmoother, OneEuroConfig, OneEuroFilter
from fs_align.types import Alignment, FaceType, LandmarkScheme, MaskSource, Pose, parse_enum

__version__ = "0.1.0"

__all__ = [
    "ALIGN_INDICES_68",
    "FACE_TYPE_PADDING",
    "FACE_TYPE_SHIFT",
    "IBUG68_GROUPS",
    "IBUG68_MIRROR",
    "LANDMARKERS",
    "MEAN_FACE_2D",
    "MEAN_FACE_3D",
    "MIN_BOX_SIZE",
    "POSE_INDICES_68",
    "REFINE_MISMATCH",
    "REFINE_PASSES",
    "Alignment",
    "AssetError",
    "Border",
    "CnnLandmarker",
    "ConfigError",
    "ErtLandmarker",
    "FaceType",
    "FsError",
    "Interpolation",
    "LandmarkScheme",
    "LandmarkSmoother",
    "Landmarker",
    "MaskKind",
    "MaskSource",
    "OneEuroConfig",
    "OneEuroFilter",
    "Pose",
    "ShapeError",
    "__version__",
    "align_face",
    "alignment_matrix",
    "as_bgr_uint8",
    "atomic_write",
    "box_from_landmarks",
    "canonical_landmarks",
    "check_affine",
    "check_image",
    "check_points",
    "estimate_pose",
    "eyes_mask",
    "eyes_mouth_mask",
    "five_point_from_68",
    "inter_ocular",
    "jitter",
    "landmark_mask",
    "load_cnn68",
    "load_landmarker",
    "load_shape_predictor",
    "mouth_mask",
    "nme",
    "parse_enum",
    "raise_eyebrows",
    "read_ljson",
    "read_pts",
    "sha256_file",
    "transform_points",
    "umeyama",
    "unwarp_face",
    "unwarp_face_with_mask",
    "warp_face",
]
