"""fs-faceset: the face record and the safetensors faceset format of the fs face-swap toolkit.

A :class:`Face` is one aligned face with its provenance; a faceset is a folder of safetensors shards plus
``index.json`` (specified in FORMAT.md). :class:`FacesetWriter` writes shards atomically; :class:`Faceset`
reads them memory-mapped. Sort keys, the thumbnail curation workflow and DeepFaceLab / faceswap interop live
beside them.
"""

from fs_faceset import sort
from fs_faceset._ops import ValidationReport, compact, merge, remove, restore, validate
from fs_faceset._pack import FORMAT_VERSION, ImageCodec
from fs_faceset._report import ImportReport
from fs_faceset._sources import SourceInfo, frame_ranges
from fs_faceset.curate import export_thumbnails, sync_deletions
from fs_faceset.dfl import export_dfl, import_dfl, read_dfl_jpg
from fs_faceset.errors import FacesetConfigError, FacesetError, FacesetFormatError, FacesetIntegrityError
from fs_faceset.face import Face, PolygonKind
from fs_faceset.faceset import Faceset, FacesetWriter
from fs_faceset.faceswap import import_faceswap, read_alignments, read_png_header

__version__ = "0.1.0"

__all__ = [
    "FORMAT_VERSION",
    "Face",
    "Faceset",
    "FacesetConfigError",
    "FacesetError",
    "FacesetFormatError",
    "FacesetIntegrityError",
    "FacesetWriter",
    "ImageCodec",
    "ImportReport",
    "PolygonKind",
    "SourceInfo",
    "ValidationReport",
    "__version__",
    "compact",
    "export_dfl",
    "export_thumbnails",
    "frame_ranges",
    "import_dfl",
    "import_faceswap",
    "merge",
    "read_alignments",
    "read_dfl_jpg",
    "read_png_header",
    "remove",
    "restore",
    "sort",
    "sync_deletions",
    "validate",
]
