"""fs_cli.pipeline: the typed Python API that composes the fs libraries (what the ``fs`` commands call)."""

from fs_cli.pipeline.extract import ExtractSummary as ExtractSummary
from fs_cli.pipeline.extract import SourceSummary as SourceSummary
from fs_cli.pipeline.extract import extract_face_at as extract_face_at
from fs_cli.pipeline.extract import extract_frames as extract_frames
from fs_cli.pipeline.extract import extract_to_faceset as extract_to_faceset
