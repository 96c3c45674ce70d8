"""DeepFaceLab and faceswap interop, with test inputs built the way those tools write them.

The inputs are made here with ``pickle.dumps`` (writing a pickle executes nothing); the library only ever reads
them with its restricted reader. One test calls ``pickle.loads`` on bytes fs itself wrote, because that is
exactly what DeepFaceLab does with our export: it proves DFL can read it.
"""

from __future__ import annotations

import pickle
import struct
import zlib

import cv2
import numpy as np
import pytest

from fs_align import FaceType
from fs_faceset import (
    Faceset,
    FacesetFormatError,
    FacesetWriter,
    export_dfl,
    import_dfl,
    import_faceswap,
    read_dfl_jpg,
    read_png_header,
)
from fs_faceset._faceswap_geometry import head_matrix


def _dfl_jpg(path, img, meta: dict, protocol: int = 4) -> None:
    ok, buf = cv2.imencode(".jpg", img, [int(cv2.IMWRITE_JPEG_QUALITY), 95])
    assert ok
    data, payload = bytes(buf), pickle.dumps(meta, protocol=protocol)
    seg = b"\xff\xef" + struct.pack(">H", len(payload) + 2) + payload
    path.write_bytes(data[:20] + seg + data[20:])  # after the JFIF APP0 segment, as DFL does


def _dfl_meta(face) -> dict:
    _ok, mask_buf = cv2.imencode(".png", np.full((32, 32), 255, np.uint8))
    return {  # the types DFL's extractor stores: lists, numpy rect / matrix, numpy polygons and mask buffer
        "face_type": "whole_face",
        "landmarks": face.landmarks.tolist(),
        "source_filename": "00042.png",
        "source_rect": np.array([10, 20, 110, 120]),
        "source_landmarks": face.source_landmarks.tolist(),
        "image_to_face_mat": face.image_to_face.astype(np.float64),
        "seg_ie_polys": {
            "polys": [
                {"type": 1, "pts": face.landmarks[:17]},
                {"type": 0, "pts": face.landmarks[48:60]},
                {"type": 1, "pts": face.landmarks[36:42]},
            ]
        },  # interleaved, as DFL allows
        "xseg_mask": mask_buf,
        "eyebrows_expand_mod": 1.0,
    }


class _Evil:
    def __reduce__(self):
        return (open, ("/tmp/fs-faceset-pwned", "w"))


def test_import_dfl(tmp_path, make_faces) -> None:
    faces = make_faces(3, extras=False)
    src = tmp_path / "aligned"
    src.mkdir()
    for i, f in enumerate(faces):
        _dfl_jpg(src / f"00042_{i}.jpg", f.image, _dfl_meta(f), protocol=(2, 3, 4)[i])
    _dfl_jpg(src / "evil.jpg", faces[0].image, {"face_type": "whole_face", "landmarks": _Evil()})
    cv2.imwrite(str(src / "plain.jpg"), faces[0].image)  # a JPEG without DFL metadata
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00")
    report = import_dfl(src, tmp_path / "fs")
    assert report.count == 3
    assert {p.name for p, _ in report.skipped} == {"evil.jpg", "plain.jpg", "broken.jpg"}
    assert "io.open" in dict((p.name, r) for p, r in report.skipped)["evil.jpg"]
    assert not (tmp_path / "fs-faceset-pwned").exists()
    fs = Faceset.open(tmp_path / "fs")
    got = fs[0]
    assert got.face_type is FaceType.WHOLE_FACE and got.source_path == "00042.png" and got.frame_index == 42
    np.testing.assert_allclose(got.landmarks, faces[0].landmarks, atol=1e-5)
    np.testing.assert_allclose(got.image_to_face, faces[0].image_to_face, atol=1e-6)
    np.testing.assert_array_equal(got.source_rect, [10, 20, 110, 120])
    assert [k.value for k, _ in got.polygons] == ["include", "exclude", "include"] and got.mask.shape == (64, 64)
    np.testing.assert_allclose(got.polygons[2][1], faces[0].landmarks[36:42])
    assert np.abs(got.image.astype(int) - faces[0].image).mean() < 6


def test_export_dfl_is_readable_by_dfl_and_by_us(tmp_path, make_faces) -> None:
    with FacesetWriter(tmp_path / "fs") as w:
        w.add_all(make_faces(4))
    files = export_dfl(tmp_path / "fs", tmp_path / "dfl")
    assert len(files) == 4 and all(p.suffix == ".jpg" for p in files)
    data = files[0].read_bytes()
    start = data.index(b"\xff\xef") + 4
    meta = pickle.loads(data[start : start + struct.unpack(">H", data[start - 2 : start])[0] - 2])  # what DFL does
    assert meta["face_type"] == "whole_face" and np.asarray(meta["landmarks"]).shape == (68, 2)
    assert cv2.imdecode(meta["xseg_mask"], cv2.IMREAD_UNCHANGED).shape == (64, 64)
    assert cv2.imread(str(files[0])).shape == (64, 64, 3)
    fs = Faceset.open(tmp_path / "fs")
    back = read_dfl_jpg(files[0])
    np.testing.assert_allclose(back.landmarks, fs[0].landmarks, atol=1e-4)
    np.testing.assert_allclose(back.image_to_face, fs[0].image_to_face, atol=1e-5)
    assert [k for k, _ in back.polygons] == [k for k, _ in fs[0].polygons]  # DFL's order round-trips
    assert [k.value for k, _ in back.polygons] == ["include", "exclude", "include"]
    assert [m["type"] for m in meta["seg_ie_polys"]["polys"]] == [1, 0, 1]  # what DFL reads, in order


def _png_with_header(path, img, header: dict) -> None:
    _ok, buf = cv2.imencode(".png", img)
    data = bytes(buf)
    chunk = b"faceswap\0\0\0\0\0" + str(header).encode()
    itxt = struct.pack(">I", len(chunk)) + b"iTXt" + chunk + struct.pack(">I", zlib.crc32(b"iTXt" + chunk))
    path.write_bytes(data[:33] + itxt + data[33:])  # after IHDR


def test_import_faceswap(tmp_path, frames) -> None:
    size = 96
    data, faces_dir = {}, tmp_path / "faces"
    faces_dir.mkdir()
    for k, (_name, frame, lms) in enumerate(frames[:3]):
        frame_name = f"frame_{k:04d}.png"
        mat = head_matrix(lms, size)
        face = cv2.warpAffine(frame, mat, (size, size))
        mask = np.full((64, 64), 255, np.uint8)
        entry = {"x": 1, "y": 2, "w": 30, "h": 40, "landmarks_xy": lms.tolist() if k else lms,
                 "mask": {"components": {"mask": zlib.compress(mask.tobytes()), "affine_matrix": (mat * 64 / size),
                                         "interpolator": 2, "stored_size": 64, "stored_centering": "head"}},
                 "identity": {"vggface2": np.ones(8, np.float32)}, "thumb": None}  # fmt: skip
        data[frame_name] = {"faces": [entry], "video_meta": {}}
        if k == 0:
            header = {"alignments": {"x": 1}, "source": {"source_filename": frame_name, "face_index": 0}}
            _png_with_header(faces_dir / "renamed_by_user.png", face, header)
        else:
            cv2.imwrite(str(faces_dir / f"frame_{k:04d}_0.png"), face)
    cv2.imwrite(str(faces_dir / "frame_0009_0.png"), face)  # no such frame in the alignments
    fsa = tmp_path / "alignments.fsa"
    fsa.write_bytes(zlib.compress(pickle.dumps({"__meta__": {"version": 2.4}, "__data__": data})))
    assert read_png_header(faces_dir / "renamed_by_user.png")["source"]["face_index"] == 0
    report = import_faceswap(fsa, faces_dir, tmp_path / "fs", mask_type="components")
    assert report.count == 3 and [p.name for p, _ in report.skipped] == ["frame_0009_0.png"]
    fs = Faceset.open(tmp_path / "fs")
    for f in fs:
        assert f.face_type is FaceType.HEAD and f.mask is not None and f.embedding.shape == (8,)
        assert f.mask[size // 2, size // 2] == 255
        inside = (f.landmarks > 0) & (f.landmarks < size)
        assert inside.all()  # a head crop holds every landmark
        assert abs(f.landmarks[:, 0].mean() - size / 2) < size * 0.15
    evil = tmp_path / "evil.fsa"
    evil.write_bytes(zlib.compress(pickle.dumps({"__meta__": {"version": 2.4}, "__data__": {"a": _Evil()}})))
    with pytest.raises(FacesetFormatError, match=r"io.open"):
        import_faceswap(evil, faces_dir, tmp_path / "fs2")
    old = tmp_path / "old.fsa"
    old.write_bytes(zlib.compress(pickle.dumps({"frame.png": [{"x": 1}]})))
    with pytest.raises(FacesetFormatError, match=r"2.0"):
        import_faceswap(old, faces_dir, tmp_path / "fs3")
