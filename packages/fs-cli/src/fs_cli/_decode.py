"""Frames of an extraction source, for ``fs_detect.extract_parallel`` (:func:`decode_source`).

A module of its own, outside ``fs_cli.pipeline``, so that a worker process unpickling the decoder imports only
this, fs-merge's reader and OpenCV: never the pipeline package (training, merging: torch).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import cv2
import numpy as np
import numpy.typing as npt

from fs_align import as_bgr_uint8
from fs_cli.errors import CliError
from fs_merge import FrameReader

__all__ = ["STILLS", "decode_source", "read_image"]

U8 = npt.NDArray[np.uint8]

STILLS = "stills"
"""``SourceKind.STILLS.value``: unrelated images, an index is a position in ``files``."""


def read_image(path: str) -> U8 | None:
    """A still as BGR uint8 (any depth and colour; ``None``: not a readable image)."""
    data = np.fromfile(path, dtype=np.uint8)
    # any depth and colour (16-bit, grey, CMYK), turned upright by its EXIF orientation (UNCHANGED ignores it)
    img = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR) if data.size else None
    return None if img is None else as_bgr_uint8(img, path)


def decode_source(
    kind: str, path: str, files: Sequence[str], indices: Sequence[int]
) -> Iterator[tuple[int, U8 | None]]:
    """``(index, BGR uint8 frame or None)`` for the sorted ``indices`` of a source, in order.

    For stills ``index`` is the position in ``files`` (``None``: an unreadable image); videos and frames folders
    are read by :class:`fs_merge.FrameReader`, numbered as it numbers them, from the first index asked for on
    (a video seeks there: a worker given the second half of a film does not decode the first). One decoding
    thread: extraction spends far longer per frame than decoding, and a thread spends the least CPU. Module-level
    so that worker processes can unpickle it (``functools.partial(decode_source, kind, path, files)`` is a
    ``fs_detect.Decode``).

    Raises:
        CliError: the video yields none of the frames asked for (the decoder's first complaint).
    """
    if kind == STILLS:
        for i in indices:
            yield i, read_image(files[i])
        return
    if not indices:
        return
    wanted, last = set(indices), max(indices)
    reader = FrameReader(path, decode_threads=1)
    frames = reader.frames(min(indices))
    got = 0
    try:
        for frame in frames:
            if frame.index > last:
                break
            if frame.index in wanted:
                got += 1
                yield frame.index, frame.image
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()
    if not got and reader.problems:
        raise CliError(f"{path}: {reader.problems[0]}")
