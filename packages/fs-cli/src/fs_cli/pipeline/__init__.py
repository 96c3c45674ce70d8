"""fs_cli.pipeline: the typed Python API that composes the fs libraries (what the ``fs`` commands call)."""

from fs_cli.pipeline.evaluate import LikenessCriteria as LikenessCriteria
from fs_cli.pipeline.evaluate import LikenessVerdict as LikenessVerdict
from fs_cli.pipeline.evaluate import evaluate as evaluate
from fs_cli.pipeline.evaluate import evaluate_frames as evaluate_frames
from fs_cli.pipeline.evaluate import faceset_embeddings as faceset_embeddings
from fs_cli.pipeline.evaluate import likeness as likeness
from fs_cli.pipeline.evaluate import src_identity as src_identity
from fs_cli.pipeline.extract import ExtractSummary as ExtractSummary
from fs_cli.pipeline.extract import SourceSummary as SourceSummary
from fs_cli.pipeline.extract import extract_face_at as extract_face_at
from fs_cli.pipeline.extract import extract_frames as extract_frames
from fs_cli.pipeline.extract import extract_to_faceset as extract_to_faceset
from fs_cli.pipeline.likeness_curve import DEMO_MERGE as DEMO_MERGE
from fs_cli.pipeline.likeness_curve import likeness_curve as likeness_curve
from fs_cli.pipeline.likeness_curve import plot_curves as plot_curves
from fs_cli.pipeline.swap import SwapSummary as SwapSummary
from fs_cli.pipeline.swap import faces_from_faceset as faces_from_faceset
from fs_cli.pipeline.swap import find_faces as find_faces
from fs_cli.pipeline.swap import load_face_model as load_face_model
from fs_cli.pipeline.swap import load_swap_model as load_swap_model
from fs_cli.pipeline.swap import open_dst as open_dst
from fs_cli.pipeline.swap import swap_video_from_faceset as swap_video_from_faceset
from fs_cli.pipeline.swap import xseg_segmenter as xseg_segmenter
from fs_cli.pipeline.video import JoinSummary as JoinSummary
from fs_cli.pipeline.video import frames_to_video as frames_to_video
from fs_cli.pipeline.video import video_to_frames as video_to_frames
