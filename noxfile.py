"""nox sessions for the fs monorepo.

    nox -s tests             every package editable in one venv; fetches test assets; runs all tests
    nox -s isolated          one venv per package with only its declared dependencies; runs its tests
    nox -s lint typecheck    ruff; mypy --strict on the packages' sources
    nox -s bench             pytest-benchmark over packages/*/benchmarks, JSON in .benchmarks/
    nox -s build             wheel + sdist of every package into dist/, checked with twine
    nox -s release -- fs-align patch|minor|major|X.Y.Z
    nox -s assets -- [GROUP ...]   fetch weights and data into $FS_HOME (default ~/.cache/fs)
    nox -s demo              the main job on real data: `fs demo` (writes demo-out/)
    nox -s faults            the fault campaign of RELIABILITY.md (kill -9 each long command, re-run, compare)

Torch: a venv that already has torch keeps it. Otherwise ``$FS_TORCH`` is installed (default
``torch==2.13.0``, the CPU wheel these machines offer); set ``FS_TORCH`` to another requirement (e.g. a CUDA
build) on your own machine.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nox

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

nox.options.sessions = ["tests"]
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = False

ROOT = Path(__file__).resolve().parent
PKG_DIR = ROOT / "packages"
# Topological order: every package after the packages it depends on.
PACKAGES = ["fs-align", "fs-faceset", "fs-detect", "fs-models", "fs-mask", "fs-train", "fs-merge", "fs-ui", "fs-cli"]
TORCH = os.environ.get("FS_TORCH", "torch==2.13.0")
TOOLS = ["pytest>=7", "pytest-benchmark>=4", "hypothesis>=6"]


def _pyproject(pkg: str) -> dict:
    with (PKG_DIR / pkg / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)


def _req_name(req: str) -> str:
    return re.split(r"[\s<>=!~;\[]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _deps(pkg: str) -> list[str]:
    return [_req_name(r) for r in _pyproject(pkg)["project"].get("dependencies", [])]


def _siblings(pkg: str) -> list[str]:
    return [d for d in _deps(pkg) if d in PACKAGES]


def _closure(pkg: str) -> list[str]:
    seen: list[str] = []

    def visit(p: str) -> None:
        for dep in _siblings(p):
            visit(dep)
        if p not in seen:
            seen.append(p)

    visit(pkg)
    return seen


def _module(pkg: str) -> str:
    return pkg.replace("-", "_")


def _needs_torch(pkgs: list[str]) -> bool:
    return any("torch" in _deps(p) for p in pkgs)


def _stamp(session: nox.Session, key: str) -> bool:
    """True when the venv was already set up for ``key``; records ``key`` otherwise (call _commit after)."""
    location = getattr(session.virtualenv, "location", None)
    if not location:
        return False
    path = Path(location) / ".fs-install-stamp"
    session.env["_FS_STAMP"] = f"{path}|{key}"
    return path.is_file() and path.read_text() == key


def _commit_stamp(session: nox.Session) -> None:
    value = session.env.pop("_FS_STAMP", "")
    if value:
        path, key = value.split("|", 1)
        Path(path).write_text(key)


def _has_module(session: nox.Session, name: str) -> bool:
    code = f"import importlib.util; print('yes' if importlib.util.find_spec({name!r}) else 'no')"
    out = session.run("python", "-c", code, silent=True, log=False)
    return isinstance(out, str) and out.strip().endswith("yes")


def _install(session: nox.Session, pkgs: list[str], *, test: list[str] | None = None) -> None:
    """Install torch (only if needed and absent) and the packages editable, skipping when nothing changed.

    ``test`` names the packages installed with their ``[test]`` extra (default: all of ``pkgs``).
    """
    test = pkgs if test is None else test
    files = [PKG_DIR / p / "pyproject.toml" for p in pkgs]
    key = hashlib.sha256(b"".join(f.read_bytes() for f in files) + f"{TORCH}|{pkgs}|{test}".encode()).hexdigest()
    if _stamp(session, key):
        session.log("dependencies unchanged since the last run; skipping installs")
        return
    if _needs_torch(pkgs) and not _has_module(session, "torch"):
        session.install(*TORCH.split())
    args: list[str] = []
    for p in pkgs:
        args += ["-e", f"{PKG_DIR / p}[test]" if p in test else str(PKG_DIR / p)]
    session.install(*args)
    _commit_stamp(session)


def _fetch_assets(session: nox.Session, groups: list[str], required: bool) -> bool:
    """Fetch asset groups with the session's python (tools/fetch_assets.py); returns whether it worked."""
    codes = [0] if required else [0, 3]
    out = session.run("python", str(ROOT / "tools" / "fetch_assets.py"), *groups, success_codes=codes, silent=True)
    text = str(out).strip()
    if "asset fetch failed" in text:
        session.warn(text.splitlines()[-1])
        return False
    session.log(text.splitlines()[-1] if text else "assets fetched")
    return True


def _ensure_chromium(session: nox.Session) -> None:
    """fs-ui's browser tests drive Debian's chromium: install it when missing and apt-get can (root or sudo -n);
    otherwise those tests skip and say why."""
    exe = Path(os.environ.get("FS_CHROMIUM", "/usr/bin/chromium"))
    if exe.is_file():
        return
    apt = shutil.which("apt-get")
    if apt is None or sys.platform != "linux":
        session.warn(f"no {exe} and no apt-get: fs-ui's browser tests will skip (install chromium, or set FS_CHROMIUM)")
        return
    if os.geteuid() == 0:
        prefix: list[str] = []
    elif shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        prefix = ["sudo", "-n"]
    else:
        session.warn(f"no {exe}, and apt-get needs root (sudo -n refused): fs-ui's browser tests will skip")
        return
    session.log("installing Debian's chromium for fs-ui's browser tests (apt-get)")
    env = ["env", "DEBIAN_FRONTEND=noninteractive"]
    for cmd in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "--no-install-recommends", "chromium"]):
        done = subprocess.run([*prefix, *env, *cmd], capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
            session.warn(f"{' '.join(cmd[:2])} failed ({tail[0]}): fs-ui's browser tests will skip")
            return


def _prune(session: nox.Session) -> None:
    """With ``FS_PRUNE_VENVS=1`` (CI), delete the session's venv once it passed: ten venvs with torch take ~20 GB,
    more than a CI machine's disk may have free, so CI holds at most two at a time."""
    location = getattr(session.virtualenv, "location", None)
    if os.environ.get("FS_PRUNE_VENVS") == "1" and location and Path(location).is_dir():
        shutil.rmtree(location, ignore_errors=True)
        session.log(f"removed {location} (FS_PRUNE_VENVS=1)")


def _pytest_env() -> dict[str, str]:
    return {"FS_ARTIFACTS": str(ROOT / "test-artifacts"), "PYTHONHASHSEED": "0"}


@nox.session
def tests(session: nox.Session) -> None:
    """All packages editable in one venv; fetch the test assets; run every package's tests."""
    _install(session, PACKAGES)
    _ensure_chromium(session)
    env = _pytest_env()
    fetched = [g for g in ("test", "video", "data") if _fetch_assets(session, [g], required=False)]
    env["FS_REQUIRE_ASSETS"] = ",".join(fetched)
    paths = session.posargs or [str(PKG_DIR / p / "tests") for p in PACKAGES]
    session.run("pytest", "-q", *paths, env=env)
    _prune(session)


@nox.session
@nox.parametrize("package", PACKAGES)
def isolated(session: nox.Session, package: str) -> None:
    """One package with only its declared dependencies; fails if an undeclared sibling is importable."""
    closure = _closure(package)
    _install(session, closure, test=[package])
    allowed = [_module(p) for p in closure]
    everyone = [_module(p) for p in PACKAGES]
    src = PKG_DIR / package / "src"
    guard = ROOT / "tools" / "import_guard.py"
    session.run("python", str(guard), package, str(src), ",".join(allowed), ",".join(everyone))
    if package == "fs-ui":
        _ensure_chromium(session)
    env = _pytest_env()
    if "fs-align" in closure:  # the asset cache lives in fs-align; fs-models' tests skip what needs it
        fetched = [g for g in ("test", "video", "data") if _fetch_assets(session, [g], required=False)]
        env["FS_REQUIRE_ASSETS"] = ",".join(fetched)
    session.run("pytest", "-q", str(PKG_DIR / package / "tests"), *session.posargs, env=env)
    _prune(session)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and format check over every package and this file."""
    session.install("ruff==0.17.6")  # pinned: formatting (incl. README code blocks) changes between releases
    session.run("ruff", "check", "packages", "tools", "noxfile.py")
    session.run("ruff", "format", "--check", "packages", "tools", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict (mypy.ini) over every package's src."""
    _install(session, PACKAGES)
    session.install("mypy")
    targets = session.posargs or [str(PKG_DIR / p / "src") for p in PACKAGES]
    session.run("mypy", "--config-file", str(ROOT / "mypy.ini"), *targets)


@nox.session
def bench(session: nox.Session) -> None:
    """pytest-benchmark over packages/*/benchmarks; JSON in .benchmarks/bench.json."""
    _install(session, PACKAGES)
    _fetch_assets(session, ["test", "video"], required=False)  # the extraction benchmarks use the videos
    out = ROOT / ".benchmarks"
    out.mkdir(exist_ok=True)
    paths = session.posargs or [str(PKG_DIR / p / "benchmarks") for p in PACKAGES]
    session.run("pytest", *paths, "--benchmark-only", f"--benchmark-json={out / 'bench.json'}", "-q", env=_pytest_env())


@nox.session
def build(session: nox.Session) -> None:
    """Wheel and sdist for each package (or the ones named), checked with twine."""
    session.install("build", "twine")
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    for pkg in session.posargs or PACKAGES:
        session.run("python", "-m", "build", "--sdist", "--wheel", "--outdir", str(dist), str(PKG_DIR / pkg))
    session.run("twine", "check", "--strict", *sorted(str(p) for p in dist.iterdir()))


def _bump(version: str, how: str) -> str:
    if re.fullmatch(r"\d+\.\d+\.\d+", how):
        return how
    major, minor, patch = (int(x) for x in version.split("."))
    if how == "major":
        return f"{major + 1}.0.0"
    if how == "minor":
        return f"{major}.{minor + 1}.0"
    if how == "patch":
        return f"{major}.{minor}.{patch + 1}"
    raise ValueError(f"unknown bump {how!r}: use major, minor, patch or X.Y.Z")


@nox.session
def release(session: nox.Session) -> None:
    """nox -s release -- PACKAGE [patch|minor|major|X.Y.Z]: bump, date the changelog, build, check, tag name."""
    if not session.posargs or session.posargs[0] not in PACKAGES:
        session.error(f"usage: nox -s release -- PACKAGE [patch|minor|major|X.Y.Z]; PACKAGE in {PACKAGES}")
    pkg = session.posargs[0]
    how = session.posargs[1] if len(session.posargs) > 1 else "patch"
    init = PKG_DIR / pkg / "src" / _module(pkg) / "__init__.py"
    text = init.read_text()
    match = re.search(r'^__version__ = "(\d+\.\d+\.\d+)"$', text, re.M)
    if not match:
        session.error(f'{init}: no __version__ = "X.Y.Z" line')
    old = match.group(1)
    new = _bump(old, how)
    changelog = PKG_DIR / pkg / "CHANGELOG.md"
    log = changelog.read_text()
    if "## Unreleased" not in log:
        session.error(f"{changelog}: no '## Unreleased' section to release")
    today = datetime.date.today().isoformat()
    log = log.replace("## Unreleased", f"## Unreleased\n\n## {new} - {today}", 1)
    init.write_text(text.replace(match.group(0), f'__version__ = "{new}"'))
    changelog.write_text(log)
    session.install("build", "twine")
    dist = ROOT / "dist" / pkg
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--sdist", "--wheel", "--outdir", str(dist), str(PKG_DIR / pkg))
    session.run("twine", "check", "--strict", *sorted(str(p) for p in dist.iterdir()))
    tag = f"{pkg}-v{new}"
    session.log(f"{pkg} {old} -> {new}; commit, then tag: git commit -am 'Release {tag}' && git tag {tag}")


@nox.session
def assets(session: nox.Session) -> None:
    """Fetch weights and data (groups: weights test demo video data; default: all) into $FS_HOME."""
    _install(session, ["fs-align"], test=[])
    groups = session.posargs or ["weights", "test", "demo", "video", "data"]
    _fetch_assets(session, groups, required=True)


@nox.session
def faults(session: nox.Session) -> None:
    """The fault campaign of RELIABILITY.md: kill -9 every long `fs` command at seeded moments, check and re-run.

    Needs the test assets (`nox -s assets`). Extra arguments go to tools/fault_campaign.py, e.g.
    `nox -s faults -- --kills 3 --only extract-video,merge`.
    """
    _install(session, PACKAGES)
    args = session.posargs or ["--kills", "10", "--seed", "1", "--json", str(ROOT / "faults.jsonl")]
    session.run("python", str(ROOT / "tools" / "fault_campaign.py"), *args, env={"PYTHONHASHSEED": "0"})


@nox.session
def demo(session: nox.Session) -> None:
    """The main job on real data: `fs demo` (extract, train for a bounded time, merge, eval) into demo-out/.

    Extra arguments go to `fs demo`, e.g. `nox -s demo -- --minutes 2` or `-- --device cuda --minutes 20`.
    """
    _install(session, PACKAGES)
    session.run("fs", "demo", "--out", str(ROOT / "demo-out"), *session.posargs)
