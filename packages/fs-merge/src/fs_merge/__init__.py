"""fs-merge: colour transfer, Poisson blending, compositing and labelled video output for fs.

Paste a generated aligned face back into its frame with :func:`merge_face` (configured by a frozen
:class:`MergeConfig`), or use the parts: :func:`color_transfer`, :func:`poisson_blend`, the mask operations,
:class:`FrameReader` / :class:`VideoWriter` (H.264 through imageio-ffmpeg's ffmpeg, audio copied, every output
labelled as synthetic media) and :func:`merge_video`. Depends on numpy, OpenCV, scipy, imageio-ffmpeg and
fs-align only.
"""

from fs_merge._color import ColorTransfer, color_transfer, hist_match
from fs_merge._config import MergeConfig, MergeMode, SharpenMode
from fs_merge._ffmpeg import VideoInfo, ffmpeg_exe, probe_video
from fs_merge._label import LABEL_TEXT, draw_label, read_image_label, write_image
from fs_merge._mask import Feather, clip_mask, erode_mask, feather_mask
from fs_merge._merge import merge_face, motion_from_landmarks
from fs_merge._pipeline import MergeVideoResult, merge_video
from fs_merge._poisson import poisson_blend
from fs_merge._video import Frame, FrameReader, VideoWriter
from fs_merge.errors import MergeError

__version__ = "0.1.0"

__all__ = [
    "LABEL_TEXT",
    "ColorTransfer",
    "Feather",
    "Frame",
    "FrameReader",
    "MergeConfig",
    "MergeError",
    "MergeMode",
    "MergeVideoResult",
    "SharpenMode",
    "VideoInfo",
    "VideoWriter",
    "__version__",
    "clip_mask",
    "color_transfer",
    "draw_label",
    "erode_mask",
    "feather_mask",
    "ffmpeg_exe",
    "hist_match",
    "merge_face",
    "merge_video",
    "motion_from_landmarks",
    "poisson_blend",
    "probe_video",
    "read_image_label",
    "write_image",
]
