"""``swap_frames`` / ``swap_video``: replace the listed faces of every frame with a :class:`FaceModel`'s faces.

Per group of frames: cut each face's crop (worker threads), one batched ``model.swap`` call (and one segmenter
call for XSeg masks) on a model thread, then build each face's mask and :func:`merge_face` it (worker threads)
while the next group is cut and swapped. Frames come out in input order.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from fs_align import FaceType, MaskKind, MaskSource, alignment_matrix, landmark_mask, transform_points, warp_face
from fs_merge._config import MergeConfig, MergeMode
from fs_merge._merge import merge_face, motion_from_landmarks
from fs_merge._model import FaceModel, FaceToSwap, Segmenter, SwapResult, check_swap_outputs
from fs_merge._pipeline import MergeVideoResult, merge_video
from fs_merge._video import Frame, FrameReader, VideoWriter
from fs_merge.errors import MergeError

__all__ = ["face_motion", "merge_mask", "swap_frames", "swap_video"]

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]
FrameLike = Frame | tuple[int, U8]
Progress = Callable[[int, int | None], None]
OnError = Callable[[int, str], None]

_LANDMARK_KINDS = {
    MaskSource.HULL: MaskKind.HULL,
    MaskSource.COMPONENTS: MaskKind.COMPONENTS,
    MaskSource.EXTENDED: MaskKind.EXTENDED,
}


def _match(face: FaceToSwap, others: Sequence[FaceToSwap]) -> FaceToSwap | None:
    """The same face in a neighbouring frame: same track, else the nearest centre within the face's extent."""
    if face.track is not None:
        return next((o for o in others if o.track == face.track), None)
    extent = float(np.ptp(face.landmarks, axis=0).max())
    best, best_d = None, extent
    for o in others:
        d = float(np.hypot(*(o.center - face.center)))
        if d < best_d:
            best, best_d = o, d
    return best


def face_motion(faces: Mapping[int, Sequence[FaceToSwap]], index: int, face: FaceToSwap) -> tuple[float, float] | None:
    """The face's motion per frame ``(dx, dy)`` in pixels, from its landmarks in the previous and next frames.

    Central difference when the face is in both neighbours, else the one-sided difference; ``None`` when it is in
    neither (a still image, or the face's only frame).
    """
    prev = _match(face, faces.get(index - 1, ()))
    nxt = _match(face, faces.get(index + 1, ()))
    if prev is not None and nxt is not None:
        dx, dy = motion_from_landmarks(prev.landmarks, nxt.landmarks)
        return dx / 2.0, dy / 2.0
    if prev is not None:
        return motion_from_landmarks(prev.landmarks, face.landmarks)
    if nxt is not None:
        return motion_from_landmarks(face.landmarks, nxt.landmarks)
    return None


def _stored_mask(face: FaceToSwap, matrix: npt.NDArray[Any], size: int) -> F32:
    """The face's stored mask warped from its own crop into the model's crop (``matrix``: frame -> model crop)."""
    if face.mask is None or face.mask_alignment is None:
        who = f"face {face.id}" if face.id else "a face"
        raise MergeError(f"{who} has no stored mask (mask source 'stored'); write one (e.g. `fs mask apply`)")
    mask = np.asarray(face.mask, np.float32)
    if face.mask.dtype == np.uint8:
        mask = mask / np.float32(255.0)
    to_mask = np.vstack([face.mask_alignment.image_to_face.astype(np.float64), [0.0, 0.0, 1.0]])
    from_model = np.vstack([cv2.invertAffineTransform(np.asarray(matrix, np.float64)), [0.0, 0.0, 1.0]])
    model_to_mask = (to_mask @ from_model)[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    out = cv2.warpAffine(mask, model_to_mask, (size, size), flags=flags, borderMode=cv2.BORDER_CONSTANT)
    return np.clip(np.asarray(out, np.float32), 0.0, 1.0)


def merge_mask(
    sources: Sequence[MaskSource],
    face: FaceToSwap,
    matrix: npt.NDArray[Any],
    size: int,
    *,
    face_mask: F32,
    dst_mask: F32,
    xseg: F32 | None = None,
) -> F32:
    """The product of the ``sources`` masks of one face in the model's ``size x size`` crop.

    Args:
        sources: the combination (``MergeConfig.mask``); empty: the whole crop.
        face: the face (landmarks; the stored mask for ``STORED``).
        matrix: ``2 x 3`` frame -> crop affine the crop was cut with.
        size: the crop side ``R``.
        face_mask, dst_mask: the model's ``R x R`` learned-prd and learned-dst masks.
        xseg: the segmenter's ``R x R`` mask (needed for ``XSEG``).

    Returns:
        ``R x R`` float32 in [0, 1].
    """
    out = np.ones((size, size), np.float32)
    for src in sources:
        if src is MaskSource.LEARNED_PRD:
            m = face_mask
        elif src is MaskSource.LEARNED_DST:
            m = dst_mask
        elif src in _LANDMARK_KINDS:
            m = landmark_mask(transform_points(face.landmarks, matrix), size, _LANDMARK_KINDS[src])
        elif src is MaskSource.STORED:
            m = _stored_mask(face, matrix, size)
        elif src is MaskSource.XSEG:
            if xseg is None:
                raise MergeError("mask source 'xseg' needs a segmenter (swap_frames(segmenter=...))")
            m = xseg
        else:
            raise MergeError(f"mask source {src.value!r} does not apply at merge")
        out *= m
    return out


@dataclass
class _Item:
    """One frame in flight: its faces' crops and matrices, then the future of the merged image."""

    index: int
    image: U8
    faces: Sequence[FaceToSwap]
    matrices: list[npt.NDArray[np.float32]]
    crops: list[U8]
    result: Future[U8] | None = None


def _as_pair(item: Any) -> tuple[int, U8]:
    if isinstance(item, Frame):
        return item.index, item.image
    index, image = item
    return int(index), image


class _Swapper:
    """The state of one :func:`swap_frames` run."""

    def __init__(
        self,
        faces: Mapping[int, Sequence[FaceToSwap]],
        model: FaceModel,
        config: MergeConfig,
        segmenter: Segmenter | None,
        on_error: OnError | None,
    ) -> None:
        self.faces, self.model, self.config = faces, model, config
        self.segmenter, self.on_error = segmenter, on_error
        self.size = int(model.resolution)
        self.face_type = FaceType.parse(model.face_type)

    def prepare(self, index: int, image: U8, here: Sequence[FaceToSwap]) -> _Item:
        item = _Item(index, image, here, [], [])
        for face in here:
            matrix = alignment_matrix(face.landmarks, self.face_type, self.size)
            item.matrices.append(matrix)
            item.crops.append(np.asarray(warp_face(image, matrix, self.size), np.uint8))
        return item

    def swap(self, items: list[_Item]) -> tuple[SwapResult, F32 | None]:
        crops = np.stack([c for it in items for c in it.crops])
        out = check_swap_outputs(self.model.swap(crops), len(crops), self.size)
        xseg = None
        if MaskSource.XSEG in self.config.mask:
            assert self.segmenter is not None
            xseg = np.clip(np.asarray(self.segmenter(crops), np.float32), 0.0, 1.0)
            if xseg.shape != (len(crops), self.size, self.size):
                want = f"{len(crops)} x {self.size} x {self.size}"
                raise MergeError(f"segmenter: expected {want} float masks, got {xseg.shape}")
        return out, xseg

    def merge(self, item: _Item, out: SwapResult, xseg: F32 | None, first: int) -> U8:
        try:
            merged = item.image
            for j, face in enumerate(item.faces):
                k = first + j
                mask = merge_mask(
                    self.config.mask,
                    face,
                    item.matrices[j],
                    self.size,
                    face_mask=out.face_mask[k],
                    dst_mask=out.dst_mask[k],
                    xseg=None if xseg is None else xseg[k],
                )
                motion = face_motion(self.faces, item.index, face) if self.config.motion_blur_power > 0 else None
                merged = merge_face(merged, out.faces[k], mask, item.matrices[j], self.config, motion=motion)
            return merged
        except Exception as exc:  # one frame's failure: report it and keep the frame, or stop
            message = f"frame {item.index}: {type(exc).__name__}: {exc}"
            if self.on_error is None:
                raise MergeError(message) from exc
            self.on_error(item.index, f"{message}; kept the original frame")
            return item.image


def swap_frames(
    frames: Iterable[Frame] | Iterable[tuple[int, U8]],
    faces: Mapping[int, Sequence[FaceToSwap]],
    model: FaceModel,
    config: MergeConfig | None = None,
    *,
    segmenter: Segmenter | None = None,
    workers: int = 2,
    batch_size: int = 16,
    progress: Progress | None = None,
    on_error: OnError | None = None,
) -> Iterator[tuple[int, U8]]:
    """Swap the listed faces of every frame with ``model`` and yield ``(index, image)`` in input order.

    Args:
        frames: a :class:`FrameReader` (video file or image folder), any iterable of :class:`Frame`, or of
            ``(index, image)`` with ``H x W x 3`` BGR uint8 images.
        faces: frame index -> the faces to replace in that frame (frames without an entry pass through
            unchanged; the neighbours' entries give the motion of ``config.motion_blur_power``).
        model: a :class:`FaceModel` (called on one model thread, one call at a time, with about ``batch_size``
            faces).
        config: :class:`MergeConfig` (compositing, and ``config.mask``, the mask combination).
        segmenter: a :class:`Segmenter`, needed when ``config.mask`` holds ``xseg``.
        workers: threads that cut crops and merge faces (>= 1).
        batch_size: faces per model call (frames are grouped until their faces reach it).
        progress: ``progress(frames_done, total_or_None)`` after each yielded frame.
        on_error: ``on_error(index, message)`` for a frame whose merge fails; that frame is yielded unchanged.
            Without it the failure raises :class:`MergeError`.

    Raises:
        MergeError: bad arguments (``raw-predict`` mode, xseg without a segmenter), a failing frame without
            ``on_error``; ShapeError: model outputs that break the :class:`FaceModel` contract.
    """
    cfg = config if config is not None else MergeConfig()
    if cfg.mode is MergeMode.RAW_PREDICT:
        raise MergeError("MergeConfig.mode: raw-predict returns faces, not frames; swap_frames needs a frame mode")
    if MaskSource.XSEG in cfg.mask and segmenter is None:
        raise MergeError("MergeConfig.mask: 'xseg' needs a segmenter (swap_frames(segmenter=...))")
    if workers < 1 or batch_size < 1:
        raise MergeError(f"workers and batch_size: expected >= 1, got {workers} and {batch_size}")
    if not isinstance(model, FaceModel) or int(model.resolution) < 4:
        raise MergeError(f"model: expected a FaceModel (resolution, face_type, swap), got {type(model).__name__}")
    return _run(frames, _Swapper(faces, model, cfg, segmenter, on_error), workers, batch_size, progress)


def _run(
    frames: Iterable[Any], swapper: _Swapper, workers: int, batch_size: int, progress: Progress | None
) -> Iterator[tuple[int, U8]]:
    """The pipeline: cut crops (pool) -> model call of a group (model thread) -> merges (pool) -> in order.

    The model runs on its own thread, one call at a time, while the calling thread reads and groups the next
    frames and the pool merges the previous group; at most about ``3 * max(2 * workers, batch_size)`` frames are
    in flight.
    """
    total = frames.num_frames if isinstance(frames, FrameReader) else None
    max_frames = max(2 * workers, batch_size)
    done = 0
    swapping: collections.deque[tuple[list[_Item], Future[Any] | None]] = collections.deque()  # at the model
    ready: collections.deque[_Item] = collections.deque()  # submitted to the merge stage, in order
    with (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fs-swap") as pool,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="fs-swap-model") as model_thread,
    ):
        group: list[Future[_Item]] = []
        n_faces = 0
        it = iter(frames)
        while True:
            item = next(it, None)
            if item is not None:
                index, image = _as_pair(item)
                here = swapper.faces.get(index, ())
                group.append(pool.submit(swapper.prepare, index, image, here))
                n_faces += len(here)
            if group and (item is None or n_faces >= batch_size or len(group) >= max_frames):
                items = [g.result() for g in group]
                with_faces = [x for x in items if x.crops]
                swapping.append((items, model_thread.submit(swapper.swap, with_faces) if with_faces else None))
                group, n_faces = [], 0
            while len(swapping) > (1 if item is not None else 0):  # merge a group once the next one is at the model
                ready.extend(_submit_merges(*swapping.popleft(), swapper, pool))
            while len(ready) > (max_frames if item is not None else 0):
                done += 1
                yield _finish(ready.popleft(), done, total, progress)
            if item is None:
                break


def _submit_merges(
    items: list[_Item], swapped: Future[Any] | None, swapper: _Swapper, pool: ThreadPoolExecutor
) -> list[_Item]:
    if swapped is not None:
        out, xseg = swapped.result()
        first = 0
        for it in items:
            if it.crops:
                it.result = pool.submit(swapper.merge, it, out, xseg, first)
                first += len(it.crops)
    return items


def _finish(item: _Item, done: int, total: int | None, progress: Progress | None) -> tuple[int, U8]:
    image = item.result.result() if item.result is not None else item.image
    if progress is not None:
        progress(done, total)
    return item.index, image


def swap_video(
    reader: FrameReader,
    writer: VideoWriter,
    faces: Mapping[int, Sequence[FaceToSwap]],
    model: FaceModel,
    config: MergeConfig | None = None,
    *,
    segmenter: Segmenter | None = None,
    workers: int = 2,
    batch_size: int = 16,
    progress: Progress | None = None,
    on_error: OnError | None = None,
    on_frame: Callable[[int, U8], None] | None = None,
    close: bool = True,
) -> MergeVideoResult:
    """:func:`swap_frames` over a :class:`FrameReader` (video or image folder), written by ``writer`` in order.

    Frames whose merge fails are written unchanged and reported (``on_error`` and the result's ``problems``);
    the reader's skipped frames are reported too. ``on_frame(index, image)`` sees every output frame (previews,
    debug images). The writer is closed at the end (``close=True``) or aborted on an exception, as by
    :func:`merge_video`, which writes the frames.

    Returns:
        A :class:`MergeVideoResult` (frames written, frames whose merge failed, problems).
    """
    problems: list[str] = []
    failed: set[int] = set()

    def report(index: int, message: str) -> None:
        failed.add(index)
        problems.append(message)
        if on_error is not None:
            on_error(index, message)

    start = len(reader.problems)
    swapped = swap_frames(
        reader,
        faces,
        model,
        config,
        segmenter=segmenter,
        workers=workers,
        batch_size=batch_size,
        progress=progress,
        on_error=report,
    )

    def frames() -> Iterator[Frame]:
        for index, image in swapped:
            if on_frame is not None:
                on_frame(index, image)
            yield Frame(index, index / reader.fps, image)

    result = merge_video(frames(), writer, _image, workers=1, close=close)
    return MergeVideoResult(
        frames_written=result.frames_written,
        frames_failed=len(failed),
        problems=(*reader.problems[start:], *problems, *result.problems),
    )


def _image(frame: Frame) -> U8:
    return frame.image
