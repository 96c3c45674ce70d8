"""Running a trained XSeg net over faces and writing the masks into a faceset.

fs-faceset has no in-place update of one column, so :func:`apply_xseg` rewrites the faceset: every face is
copied with ``mask`` replaced (ids, polygons and all other fields kept) into a new folder, which then takes
the old folder's place (``out=None``) or is left at ``out``. In-place replacement is two renames (old ->
``.<name>.xseg-old``, new -> name) followed by deleting the old copy; a crash between them leaves both
folders on disk, never a half-written faceset. Tombstoned (removed) faces are dropped, as by ``compact``.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import torch

from fs_align import check_image
from fs_mask.checkpoint import load_xseg
from fs_mask.errors import MaskError
from fs_mask.train import default_device
from fs_mask.xseg_net import XSegNet

__all__ = ["apply_xseg", "predict_masks"]


def _model(model: XSegNet | str | Path, device: torch.device) -> XSegNet:
    if isinstance(model, (str, Path)):
        return load_xseg(model, device=device)
    if not isinstance(model, XSegNet):
        raise MaskError(f"model: expected an XSegNet or a checkpoint path, got {type(model).__name__}")
    return model


def predict_masks(
    model: XSegNet | str | Path,
    images: npt.NDArray[np.uint8],
    *,
    batch_size: int = 8,
    device: str | torch.device | None = None,
) -> npt.NDArray[np.float32]:
    """Face probability masks for aligned faces.

    Args:
        model: a trained :class:`XSegNet` or the path of an XSeg checkpoint.
        images: ``N x S x S x 3`` BGR uint8 aligned faces (any S; resized to the net's resolution and back).
        batch_size: faces per forward pass.
        device: where to run (``None``: the model's device if it is a module, else CUDA if available).

    Returns:
        ``N x S x S`` float32 in [0, 1].

    Raises:
        MaskError / ShapeError: bad images, model or batch size.
    """
    if not isinstance(images, np.ndarray) or images.ndim != 4:
        raise MaskError(f"images: expected N x S x S x 3 BGR uint8, got {getattr(images, 'shape', type(images))}")
    if len(images):
        check_image(images[0], "images[0]", min_size=4)
    if images.dtype != np.uint8 or images.shape[3] != 3 or images.shape[1] != images.shape[2]:
        raise MaskError(f"images: expected N x S x S x 3 BGR uint8, got {images.shape} {images.dtype}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise MaskError(f"batch_size: expected a positive int, got {batch_size!r}")
    if device is None and isinstance(model, XSegNet):
        dev = next(model.parameters()).device
    else:
        dev = default_device(device)
    net = _model(model, dev).to(dev).eval()
    res = net.config.resolution
    n, size = len(images), images.shape[1]
    out = np.empty((n, size, size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            chunk = images[start : start + batch_size]
            if size != res:
                interp = cv2.INTER_AREA if size > res else cv2.INTER_LINEAR
                chunk = np.stack([cv2.resize(im, (res, res), interpolation=interp) for im in chunk])
            x = torch.from_numpy(np.ascontiguousarray(chunk)).to(dev).permute(0, 3, 1, 2).float().div_(255.0)
            prob = torch.sigmoid(net(x))
            if size != res:
                prob = torch.nn.functional.interpolate(prob, size=(size, size), mode="bilinear", align_corners=False)
            out[start : start + len(chunk)] = prob[:, 0].float().cpu().numpy()
    return out


def apply_xseg(
    model: XSegNet | str | Path,
    faceset: Any,
    *,
    out: str | Path | None = None,
    batch_size: int = 8,
    device: str | torch.device | None = None,
) -> Any:
    """Predict a mask for every face of a faceset and store it as ``Face.mask`` (uint8, 0-255).

    Args:
        model: a trained :class:`XSegNet` or an XSeg checkpoint path.
        faceset: an :class:`fs_faceset.Faceset` or its folder.
        out: write the masked faceset here instead of replacing ``faceset`` in place (must not exist yet).
        batch_size, device: as for :func:`predict_masks` (GPU when present).

    Returns:
        The re-opened :class:`fs_faceset.Faceset` with the masks.

    Raises:
        MaskError: ``out`` already exists, or bad model/arguments.
    """
    from fs_faceset import Faceset, FacesetWriter

    fs = faceset if isinstance(faceset, Faceset) else Faceset.open(faceset)
    if device is None and isinstance(model, XSegNet):
        dev = next(model.parameters()).device
    else:
        dev = default_device(device)
    net = _model(model, dev)
    src = fs.path
    final = Path(out) if out is not None else src
    if out is not None and final.exists():
        raise MaskError(f"out: {final} already exists; pick a new folder (or out=None to update in place)")
    staging = final.parent / f".{final.name}.xseg-new"
    shutil.rmtree(staging, ignore_errors=True)
    with FacesetWriter(staging, image_codec=fs.image_codec) as writer:
        for start in range(0, len(fs), 256):
            idx = list(range(start, min(start + 256, len(fs))))
            probs = predict_masks(net, fs.images(idx), batch_size=batch_size, device=dev)
            for j, i in enumerate(idx):
                mask = np.round(probs[j] * 255.0).astype(np.uint8)
                writer.add(dataclasses.replace(fs[i], mask=mask))
    if not (staging / "index.json").exists():
        shutil.rmtree(staging, ignore_errors=True)
        raise MaskError(f"{src}: the faceset has no faces to mask")
    if out is not None:
        os.replace(staging, final)
        return Faceset.open(final)
    old = src.parent / f".{src.name}.xseg-old"
    shutil.rmtree(old, ignore_errors=True)
    os.replace(src, old)
    os.replace(staging, src)
    shutil.rmtree(old, ignore_errors=True)
    return Faceset.open(src)
