"""Typed public compositions of the fs packages (what the `fs` commands call); see each module."""

from fs_cli.pipeline.swap import SwapSummary as SwapSummary
from fs_cli.pipeline.swap import faces_from_faceset as faces_from_faceset
from fs_cli.pipeline.swap import find_faces as find_faces
from fs_cli.pipeline.swap import load_face_model as load_face_model
from fs_cli.pipeline.swap import open_dst as open_dst
from fs_cli.pipeline.swap import swap_video_from_faceset as swap_video_from_faceset
from fs_cli.pipeline.swap import xseg_segmenter as xseg_segmenter
