"""Batch loading: in-process, or worker processes that write micro-batches into shared memory.

Each worker builds its own :class:`~fs_train.data.PairSampler` (the facesets are memory-mapped, so this costs
no copy of the images) and fills shared-memory slots with the micro-batches the main process asks for by
counter. Because a micro-batch is a pure function of its counter, results are identical to in-process
loading whatever the timing.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
from collections.abc import Mapping
from multiprocessing import shared_memory
from typing import Any

import numpy as np
import numpy.typing as npt

from fs_train.config import AugmentConfig, LossConfig
from fs_train.data import PairSampler, open_pair
from fs_train.errors import DataError

__all__ = ["BatchLoader", "build_sampler"]

Arrays = dict[str, npt.NDArray[np.uint8]]


def build_sampler(spec: Mapping[str, Any]) -> PairSampler:
    """A :class:`PairSampler` from a plain description (what workers receive)."""
    if spec.get("kind") == "identities":
        from fs_train._cgan import build_identity_sampler

        return build_identity_sampler(spec)
    loss = LossConfig.from_dict(spec["loss"])
    sources = open_pair(spec["src"], spec["dst"], loss)
    return PairSampler(
        sources,
        AugmentConfig.from_dict(spec["augment"]),
        int(spec["resolution"]),
        int(spec["batch_size"]),
        int(spec["seed"]),
        rank=int(spec["rank"]),
        world=int(spec["world"]),
        need_masks=bool(spec["need_masks"]),
        need_em=bool(spec["need_em"]),
    )


def _views(buf: memoryview | None, layout: Mapping[str, tuple[int, ...]]) -> Arrays:
    if buf is None:
        raise DataError("shared memory block has no buffer")
    out: Arrays = {}
    offset = 0
    for name, shape in layout.items():
        n = int(np.prod(shape))
        out[name] = np.ndarray(shape, dtype=np.uint8, buffer=buf, offset=offset)
        offset += n
    return out


def _nbytes(layout: Mapping[str, tuple[int, ...]]) -> int:
    return sum(int(np.prod(s)) for s in layout.values())


def _worker(spec: dict[str, Any], shm_names: list[str], tasks: Any, done: Any) -> None:
    import cv2

    cv2.setNumThreads(1)
    try:
        sampler = build_sampler(spec)
    except Exception as exc:
        done.put(("error", -1, -1, f"{type(exc).__name__}: {exc}"))
        return
    shms = [shared_memory.SharedMemory(name=n) for n in shm_names]
    try:
        views = [_views(s.buf, sampler.layout()) for s in shms]
        while True:
            task = tasks.get()
            if task is None:
                break
            slot, counter = task
            try:
                sampler.fill(counter, views[slot])
                done.put(("ok", slot, counter, ""))
            except Exception as exc:
                done.put(("error", slot, counter, f"{type(exc).__name__}: {exc}"))
        del views
    finally:
        for s in shms:
            s.close()


class BatchLoader:
    """Hands out micro-batches by counter, in order, starting at ``start``.

    Args:
        spec: the sampler description (see :func:`build_sampler`).
        workers: worker processes (0: generate in this process).
        prefetch: micro-batches in flight per worker.
        start: the first counter that will be asked for.
        sampler: an already-built sampler for in-process loading (saves re-opening the facesets).
    """

    def __init__(
        self,
        spec: Mapping[str, Any],
        *,
        workers: int = 0,
        prefetch: int = 2,
        start: int = 0,
        sampler: PairSampler | None = None,
    ) -> None:
        self.spec = dict(spec)
        self.workers = workers
        self.next = start
        self._procs: list[Any] = []
        self._shms: list[shared_memory.SharedMemory] = []
        if workers == 0:
            self.sampler = sampler or build_sampler(spec)
            return
        self.sampler = sampler or build_sampler(spec)
        layout = self.sampler.layout()
        self._layout = layout
        n_slots = workers * prefetch
        size = max(1, _nbytes(layout))
        self._shms = [shared_memory.SharedMemory(create=True, size=size) for _ in range(n_slots)]
        self._views = [_views(s.buf, layout) for s in self._shms]
        # not fork: a forked child deadlocks in OpenCV's thread pool once the parent has used it. The fork
        # server (started once per process, fs-train preloaded) forks clean workers in milliseconds.
        ctx: Any
        if "forkserver" in mp.get_all_start_methods():
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(["fs_train._loader"])
        else:
            ctx = mp.get_context("spawn")
        self._tasks: Any = ctx.Queue()
        self._done: Any = ctx.Queue()
        names = [s.name for s in self._shms]
        try:
            for _ in range(workers):
                p = ctx.Process(target=_worker, args=(self.spec, names, self._tasks, self._done), daemon=True)
                p.start()
                self._procs.append(p)
        except BaseException:
            self.close()
            raise
        self._ready: dict[int, int] = {}
        self._submitted = start
        for slot in range(n_slots):
            self._submit(slot)

    def _submit(self, slot: int) -> None:
        self._tasks.put((slot, self._submitted))
        self._submitted += 1

    def get(self) -> Arrays:
        """The next micro-batch (arrays owned by the caller)."""
        counter = self.next
        self.next += 1
        if self.workers == 0:
            return self.sampler.make(counter)
        while counter not in self._ready:
            try:
                status, slot, got, msg = self._done.get(timeout=1.0)
            except queue.Empty:
                dead = [p for p in self._procs if not p.is_alive()]
                if dead:
                    self.close()
                    raise DataError(f"a batch worker died (exit code {dead[0].exitcode})") from None
                continue
            if status != "ok":
                self.close()
                raise DataError(f"batch worker failed on micro-batch {got}: {msg}")
            self._ready[got] = slot
        slot = self._ready.pop(counter)
        out = {k: v.copy() for k, v in self._views[slot].items()}
        self._submit(slot)
        return out

    def close(self) -> None:
        """Stop the workers and free the shared memory (idempotent)."""
        if self._procs:
            for _ in self._procs:
                self._tasks.put(None)
            for p in self._procs:
                p.join(timeout=5.0)
                if p.is_alive():
                    p.terminate()
                    p.join(timeout=2.0)
            self._procs = []
            self._tasks.close()
            self._done.close()
        if self._shms:
            self._views = []
            for s in self._shms:
                s.close()
                s.unlink()
            self._shms = []

    def __enter__(self) -> BatchLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing left to do
            return
