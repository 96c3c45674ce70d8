"""fs-mask: landmark masks, polygon labels and the XSeg segmenter for the fs face-swap toolkit.

- landmark masks (hull, components, extended, eye/mouth regions): :func:`landmark_mask`;
- polygon labels (DFL include/exclude semantics), LabelMe JSON in and out: :class:`PolygonLabels`;
- the XSeg net (:class:`XSegNet`, registered in fs-models' registry as ``"xseg"``: ``fs_models.create_model``,
  saved with ``fs_models.save_model``), :func:`train_xseg`, :func:`apply_xseg` (in place, atomically);
- mixing masks per face with a fallback chain of ``fs_align.MaskSource`` values, and combining them:
  :func:`face_mask`, :func:`combine_masks`.
"""

from fs_align.landmark_masks import (
    MaskKind,
    eyes_mask,
    eyes_mouth_mask,
    landmark_mask,
    mouth_mask,
    raise_eyebrows,
)
from fs_mask.apply import apply_xseg, predict_masks
from fs_mask.augment import AugmentConfig, augment_sample
from fs_mask.checkpoint import CheckpointError, XSegCheckpoint, load_checkpoint, load_xseg, save_checkpoint
from fs_mask.errors import MaskConfigError, MaskError
from fs_mask.labelme import DEFAULT_LABEL_MAP, read_labelme, to_labelme, write_labelme
from fs_mask.metrics import iou
from fs_mask.mix import FACE_MASK_SOURCES, CombineMode, combine_masks, confident_or, face_mask, mask_confidence
from fs_mask.polygons import (
    Polygon,
    PolygonError,
    PolygonKind,
    PolygonLabels,
    face_with_labels,
    labels_from_face,
    rasterise_face_labels,
)
from fs_mask.preview import preview_grid, write_preview
from fs_mask.train import Bootstrap, XSegTrainConfig, XSegTrainResult, default_device, train_xseg
from fs_mask.xseg_net import XSegConfig, XSegNet

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_LABEL_MAP",
    "FACE_MASK_SOURCES",
    "AugmentConfig",
    "Bootstrap",
    "CheckpointError",
    "CombineMode",
    "MaskConfigError",
    "MaskError",
    "MaskKind",
    "Polygon",
    "PolygonError",
    "PolygonKind",
    "PolygonLabels",
    "XSegCheckpoint",
    "XSegConfig",
    "XSegNet",
    "XSegTrainConfig",
    "XSegTrainResult",
    "__version__",
    "apply_xseg",
    "augment_sample",
    "combine_masks",
    "confident_or",
    "default_device",
    "eyes_mask",
    "eyes_mouth_mask",
    "face_mask",
    "face_with_labels",
    "iou",
    "labels_from_face",
    "landmark_mask",
    "load_checkpoint",
    "load_xseg",
    "mask_confidence",
    "mouth_mask",
    "predict_masks",
    "preview_grid",
    "raise_eyebrows",
    "rasterise_face_labels",
    "read_labelme",
    "save_checkpoint",
    "to_labelme",
    "train_xseg",
    "write_labelme",
    "write_preview",
]
