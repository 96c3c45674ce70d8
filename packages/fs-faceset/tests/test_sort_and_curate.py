"""Sort keys on real faces with known orderings, and the thumbnail sort -> delete -> sync workflow."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fs_align import Pose
from fs_align.testing import artifact_dir
from fs_faceset import (
    Face,
    Faceset,
    FacesetError,
    FacesetFormatError,
    FacesetWriter,
    export_thumbnails,
    sort,
    sync_deletions,
)


def _variant(face: Face, image: np.ndarray, **kw) -> Face:
    fields = {k: getattr(face, k) for k in face.__dataclass_fields__}
    return Face(**{**fields, "image": image, "id": None, **kw})


@pytest.fixture
def graded(tmp_path, make_faces):
    """One real face in 5 blur levels, 5 brightness levels and 5 black-border widths, each with a known pose."""
    base = make_faces(1, size=96, extras=False)[0]
    faces = []
    for k in range(5):
        blurred = cv2.GaussianBlur(base.image, (0, 0), 0.3 + 1.2 * k) if k else base.image
        faces.append(
            _variant(base, blurred, source_path=f"blur{k}", pose=Pose(pitch=10.0 - 5 * k, yaw=-40.0 + 20 * k, roll=0))
        )
    for k in range(5):
        bright = np.clip(base.image.astype(np.float32) * (0.4 + 0.3 * k), 0, 255).astype(np.uint8)
        faces.append(_variant(base, bright, source_path=f"bright{k}"))
    for k in range(5):
        img = base.image.copy()
        img[:, : 4 * (k + 1)] = 0
        faces.append(_variant(base, img, source_path=f"border{k}"))
    with FacesetWriter(tmp_path / "fs") as w:
        w.add_all(faces)
    return Faceset.open(tmp_path / "fs")


def test_blur_brightness_black_pose(graded) -> None:
    blur = graded[0:5]
    assert sort.by_blur(blur).tolist() == [0, 1, 2, 3, 4]
    assert sort.by_motion_blur(blur).tolist() == [0, 1, 2, 3, 4]
    assert sort.by_brightness(graded[5:10]).tolist() == [4, 3, 2, 1, 0]
    assert sort.by_black_border(graded[10:15]).tolist() == [0, 1, 2, 3, 4]
    assert sort.by_yaw(blur).tolist() == [0, 1, 2, 3, 4]
    assert sort.by_pitch(blur).tolist() == [4, 3, 2, 1, 0]
    hist = sort.by_hist(graded[5:10])
    assert (
        sorted(hist.tolist()) == [0, 1, 2, 3, 4] and abs(int(hist[1]) - int(hist[0])) == 1
    )  # neighbours in brightness
    assert sort.by_hist_dissim(graded[5:10])[0] in (0, 4)  # an extreme brightness is the most dissimilar
    assert sorted(sort.by_hue(graded).tolist()) == list(range(15))


def test_like_poses_follows_the_target_poses(graded) -> None:
    blur = graded[0:5]  # (pitch, yaw): (10, -40), (5, -20), (0, 0), (-5, 20), (-10, 40)
    target = np.array([[-9.0, 38.0], [-9.0, 38.0], [4.0, -18.0], [np.nan, 0.0]])
    assert sort.like_poses(blur, target, 2).tolist() == [4, 3]  # most of the target is at (-9, 38)
    assert sort.like_poses(blur, target, 3).tolist() == [4, 3, 1]  # a face is taken once
    assert sorted(sort.like_poses(blur, target, 50).tolist()) == [0, 1, 2, 3, 4]  # all there is
    assert sort.like_poses(blur, target[3:], 2).tolist() == []  # no target with a pose
    # preferring sharper faces: face 3 (18 deg off) is within 25 deg of face 4 (2 deg off) and sharper
    sharp = sort.blur_scores(blur)
    assert sort.like_poses(blur, target[:1], 1, prefer=sharp, within_deg=25.0).tolist() == [3]
    assert sort.like_poses(blur, target[:1], 1, prefer=sharp, within_deg=0.5).tolist() == [4]
    with pytest.raises(FacesetError):
        sort.like_poses(blur, target, 2, prefer=sharp[:2])
    with pytest.raises(FacesetError):
        sort.like_poses(blur, target[:, :1], 2)


def test_estimated_pose_when_missing(make_faces, tmp_path) -> None:
    faces = make_faces(4, extras=False)  # no stored pose: fs_align.estimate_pose on face-space landmarks
    with FacesetWriter(tmp_path / "fs") as w:
        w.add_all(faces)
    poses = sort.poses(Faceset.open(tmp_path / "fs"))
    assert np.all(np.isfinite(poses)) and np.all(np.abs(poses[:, 1]) < 45)


def test_groups_face_size_embeddings_final(tmp_path, make_faces) -> None:
    faces = make_faces(8)
    with FacesetWriter(tmp_path / "fs") as w:
        w.add_all(faces)
    fs = Faceset.open(tmp_path / "fs")
    groups = sort.hist_groups(fs, threshold=0.97)
    assert groups[0] == groups[4] and groups[1] == groups[5]  # the same photo, slightly different crops
    assert len(set(groups.tolist())) >= 3
    assert sorted(sort.by_hist_blur(fs, threshold=0.97).tolist()) == list(range(8))
    size = sort.by_face_size(fs)  # breakingbad (1920x1080) has the largest face in its frame
    assert "breakingbad" in fs.source_paths[size[0]]
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=64), rng.normal(size=64)
    emb = np.stack(
        [a + 0.1 * rng.normal(size=64) for _ in range(5)] + [b + 0.1 * rng.normal(size=64) for _ in range(3)]
    )
    labels = sort.cluster_embeddings(emb)
    assert labels.tolist() == [0] * 5 + [1] * 3
    assert set(sort.by_embedding(emb)[:5].tolist()) == {0, 1, 2, 3, 4}  # the larger cluster first
    best = sort.final(fs, target=4, yaw_bins=4)
    assert 0 < len(best) <= 4 and len(set(best.tolist())) == len(best)
    assert 0 in best.tolist()  # the only face in its yaw bin is always kept (DFL spreads over yaw first)
    assert sorted(sort.final(fs, target=100, yaw_bins=4).tolist()) == list(range(8))


def test_thumbnail_workflow(tmp_path, make_faces) -> None:
    with FacesetWriter(tmp_path / "fs") as w:
        ids = w.add_all(make_faces(8))
    fs = Faceset.open(tmp_path / "fs")
    order = sort.by_blur(fs)
    files = export_thumbnails(fs, tmp_path / "thumbs", order=order, size=48)
    assert [p.name.split("_", 1)[1][:-4] for p in files] == [ids[i] for i in order]
    assert cv2.imread(str(files[0])).shape == (48, 48, 3)
    files[0].unlink()
    files[3].unlink()
    files[5].rename(files[5].with_name("keep_" + files[5].name))  # renaming keeps the face
    removed = sync_deletions(fs, tmp_path / "thumbs", compact=True)
    assert set(removed) == {ids[order[0]], ids[order[3]]}
    assert len(Faceset.open(tmp_path / "fs")) == 6
    (tmp_path / "thumbs" / "holiday.png").write_bytes(b"x")
    with pytest.raises(FacesetFormatError, match=r"holiday\.png"):
        sync_deletions(tmp_path / "fs", tmp_path / "thumbs")
    with pytest.raises(FacesetFormatError, match=r"not a folder written"):
        sync_deletions(tmp_path / "fs", tmp_path)


def test_contact_sheet_artifact(graded) -> None:
    """A PNG for people: the graded faces in blur order, then brightness, then black border."""
    rows = [graded.images(sort.by_blur(graded[0:5])), graded.images(5 + sort.by_brightness(graded[5:10])),
            graded.images(10 + sort.by_black_border(graded[10:15]))]  # fmt: skip
    sheet = np.concatenate([np.concatenate(list(r), axis=1) for r in rows], axis=0)
    out = artifact_dir("fs-faceset") / "sorted_contact_sheet.png"
    assert cv2.imwrite(str(out), sheet)
    assert sheet.shape == (3 * 96, 5 * 96, 3)
