"""fs-merge: colour transfer, Poisson blending, compositing and labelled video output for fs.

Paste a generated aligned face back into its frame with :func:`merge_face` (configured by a frozen
:class:`MergeConfig`), or use the parts: :func:`color_transfer`, :func:`poisson_blend`, the mask operations,
:class:`FrameReader` / :class:`VideoWriter` (H.264 through imageio-ffmpeg's ffmpeg, audio copied, every output
labelled as synthetic media) and :func:`merge_video`.

Swap whole videos with any model that satisfies the :class:`FaceModel` protocol (aligned BGR uint8 faces in,
faces and masks out): :func:`swap_frames` / :func:`swap_video` take the faces of each frame as
:class:`FaceToSwap` records; :class:`OnnxFaceModel` runs DeepFaceLive ``.dfm`` files (``fs-merge[onnx]``).
Depends on numpy, OpenCV, scipy, imageio-ffmpeg and fs-align only (onnxruntime for the extra).
"""

from fs_merge._color import ColorTransfer, color_transfer, hist_match
from fs_merge._config import MERGE_MASK_SOURCES, MergeConfig, MergeMode, SharpenMode, format_mask, parse_mask
from fs_merge._ffmpeg import VideoInfo, ffmpeg_exe, probe_video
from fs_merge._label import LABEL_TEXT, draw_label, read_image_label, write_image
from fs_merge._mask import Feather, clip_mask, erode_mask, feather_mask
from fs_merge._merge import merge_face, motion_from_landmarks
from fs_merge._model import FaceModel, FaceToSwap, Segmenter, SwapOutputs, SwapResult, check_swap_outputs
from fs_merge._onnx import DFM_INPUT, DFM_MORPH, DFM_OUTPUTS, OnnxFaceModel
from fs_merge._pipeline import MergeVideoResult, merge_video
from fs_merge._poisson import poisson_blend
from fs_merge._swap import face_motion, merge_mask, swap_frames, swap_video
from fs_merge._video import Frame, FrameReader, VideoWriter
from fs_merge.errors import MergeError

__version__ = "0.1.0"

__all__ = [
    "DFM_INPUT",
    "DFM_MORPH",
    "DFM_OUTPUTS",
    "LABEL_TEXT",
    "MERGE_MASK_SOURCES",
    "ColorTransfer",
    "FaceModel",
    "FaceToSwap",
    "Feather",
    "Frame",
    "FrameReader",
    "MergeConfig",
    "MergeError",
    "MergeMode",
    "MergeVideoResult",
    "OnnxFaceModel",
    "Segmenter",
    "SharpenMode",
    "SwapOutputs",
    "SwapResult",
    "VideoInfo",
    "VideoWriter",
    "__version__",
    "check_swap_outputs",
    "clip_mask",
    "color_transfer",
    "draw_label",
    "erode_mask",
    "face_motion",
    "feather_mask",
    "ffmpeg_exe",
    "format_mask",
    "hist_match",
    "merge_face",
    "merge_mask",
    "merge_video",
    "motion_from_landmarks",
    "parse_mask",
    "poisson_blend",
    "probe_video",
    "read_image_label",
    "swap_frames",
    "swap_video",
    "write_image",
]
