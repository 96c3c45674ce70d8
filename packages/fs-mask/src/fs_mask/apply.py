"""Running a trained XSeg net over faces and writing the masks into a faceset.

In place (``out=None``), :func:`apply_xseg` stores the masks with ``Faceset.set_masks``, the faceset's atomic
column update: only the shards are rewritten (under new names, then the index), so every other file in the
folder stays, and a crash leaves a valid faceset. Faces are committed in chunks of :data:`CHUNK` faces; an
interrupted run leaves the first chunks masked and the rest as they were. With ``out``, a new faceset (faces
with their masks, and the sources) is written beside and renamed into place.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
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

__all__ = ["CHUNK", "apply_xseg", "predict_masks"]

CHUNK = 1024
"""Faces whose masks :func:`apply_xseg` predicts and commits at a time (bounds memory: CHUNK x S x S bytes)."""


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
    """Predict a mask for every face of a faceset and store it as the face's mask (uint8, 0-255).

    Args:
        model: a trained :class:`XSegNet` or an XSeg checkpoint path.
        faceset: an :class:`fs_faceset.Faceset` (or a view: only its faces are masked) or its folder.
        out: write the masked faceset here instead of updating ``faceset`` in place (must not exist yet).
        batch_size, device: as for :func:`predict_masks` (GPU when present).

    Returns:
        The re-opened :class:`fs_faceset.Faceset` with the masks (the same view when updated in place).

    Raises:
        MaskError: ``out`` already exists, the faceset has no faces, or bad model/arguments.
    """
    from fs_faceset import Faceset

    fs = faceset if isinstance(faceset, Faceset) else Faceset.open(faceset)
    if device is None and isinstance(model, XSegNet):
        dev = next(model.parameters()).device
    else:
        dev = default_device(device)
    net = _model(model, dev)
    if not len(fs):
        raise MaskError(f"{fs.path}: the faceset has no faces to mask")
    if out is None:
        for start, masks in _predicted(net, fs, batch_size, dev):
            fs = fs.set_masks(range(start, start + len(masks)), masks)
        return fs
    return _write_copy(net, fs, Path(out), batch_size, dev)


def _predicted(net: XSegNet, fs: Any, batch_size: int, dev: torch.device) -> Iterator[tuple[int, list[Any]]]:
    """``(first position, uint8 masks)`` for each chunk of :data:`CHUNK` faces of ``fs``."""
    for start in range(0, len(fs), CHUNK):
        probs = predict_masks(
            net, fs.images(range(start, min(start + CHUNK, len(fs)))), batch_size=batch_size, device=dev
        )
        yield start, [np.round(p * 255.0).astype(np.uint8) for p in probs]


def _write_copy(net: XSegNet, fs: Any, final: Path, batch_size: int, dev: torch.device) -> Any:
    from fs_faceset import Faceset, FacesetWriter

    if final.exists():
        raise MaskError(f"out: {final} already exists; pick a new folder (or out=None to update in place)")
    staging = final.parent / f".{final.name}.xseg-new"
    shutil.rmtree(staging, ignore_errors=True)
    with FacesetWriter(staging, image_codec=fs.image_codec, size=fs.size) as writer:
        for info in fs.sources().values():
            writer.add_source(info)
        for start, masks in _predicted(net, fs, batch_size, dev):
            for j, mask in enumerate(masks):
                writer.add(dataclasses.replace(fs[start + j], mask=mask))
    os.replace(staging, final)
    return Faceset.open(final)
