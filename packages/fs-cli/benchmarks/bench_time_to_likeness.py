"""Time to likeness on the demo pair (franck -> cap12), presets side by side: ``nox -s bench`` or run directly.

    python packages/fs-cli/benchmarks/bench_time_to_likeness.py --presets cpu,v0.1 --seconds 480 --out ttl

Extracts franck (300 faces spread over the video) and the first 125 frames of cap12 once per face type and
size, then trains every preset at the same time, one process each with an equal share of the cores (so a noisy
machine slows them alike), evaluating every ``--every`` training seconds (``fs_cli.pipeline.likeness_curve``).
Writes ``OUT/<preset>/curve.json``, ``OUT/curves.json``, ``OUT/identity.png`` and ``OUT/detail.png``.
Under pytest the environment sets the size: ``FS_TTL_PRESETS`` (default ``cpu,v0.1``), ``FS_TTL_SECONDS``
(default 120: a short curve; the README's table used 480), ``FS_TTL_EVERY`` (60).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path


def prepare(work: Path, face_type: str, size: int) -> tuple[Path, Path, Path]:
    """The demo's src/dst facesets for one face type and size, and the dst clip (cached under ``work``)."""
    import fs_detect
    from fs_align import assets
    from fs_cli._cmd_demo import trim_video
    from fs_cli.pipeline import extract_to_faceset
    from fs_merge import FrameReader

    clip = work / "dst.mp4"
    work.mkdir(parents=True, exist_ok=True)
    if not clip.is_file():
        trim_video(assets.ensure_asset("video-cap12"), clip, 125)
    src, dst = work / f"src_{face_type}_{size}", work / f"dst_{face_type}_{size}"
    settings = fs_detect.ExtractSettings(track="largest", size=size, face_type=face_type)
    if not (src / "index.json").is_file():
        franck = assets.ensure_asset("video-franck")
        every = max(1, FrameReader(franck).num_frames // 300)
        extract_to_faceset(franck, src, settings, every=every, max_frames=300)
    if not (dst / "index.json").is_file():
        extract_to_faceset(clip, dst, settings)
    return src, dst, clip


def prepare_for(work: Path, spec: str) -> tuple[Path, Path, Path]:
    """:func:`prepare` at the face type and size a preset spec trains on."""
    from fs_train import get_preset

    name, overrides = split_spec(spec)
    p = get_preset(name)
    res = int(p.merged(**overrides)["model_config"]["resolution"])
    return prepare(work, p.face_type.value, max(64, res))


def split_spec(spec: str) -> tuple[str, dict[str, object]]:
    """``"cpu"`` or a preset with TrainConfig overrides as JSON: ``'cpu{"optim": {"lr": 1e-3}}'``."""
    name, brace, rest = spec.partition("{")
    return name.strip(), json.loads(brace + rest) if brace else {}


def parse_presets(text: str) -> list[str]:
    """Preset specs separated by ``;`` (or by ``,`` when none carries JSON overrides)."""
    return [p for p in (text.split(";") if ";" in text or "{" in text else text.split(",")) if p.strip()]


def folder(spec: str) -> str:
    """A folder name for a preset spec."""
    return "".join(c if c.isalnum() or c in ".-" else "_" for c in spec).strip("_")


def run_one(spec: str, work: Path, out: Path, seconds: float, every: float, threads: int) -> None:
    import torch

    from fs_cli.pipeline import likeness_curve

    torch.set_num_threads(threads)
    name, overrides = split_spec(spec)
    src, dst, clip = prepare_for(work, spec)
    likeness_curve(name, src, dst, clip, out / folder(spec), seconds=seconds, every=every, overrides=overrides)


def run(presets: list[str], work: Path, out: Path, seconds: float, every: float) -> dict[str, list[dict]]:
    """Every preset at once, one process each; returns and writes the curves, draws the plots."""
    from fs_cli.pipeline import plot_curves

    for spec in presets:  # extract first, serially (the training processes then start together)
        prepare_for(work, spec)
    threads = max(1, (os.cpu_count() or 2) // len(presets))
    procs = [
        subprocess.Popen([sys.executable, __file__, "--one", p, "--work", str(work), "--out", str(out),
                          "--seconds", str(seconds), "--every", str(every), "--threads", str(threads)])
        for p in presets
    ]  # fmt: skip
    codes = [proc.wait() for proc in procs]
    if any(codes):
        raise RuntimeError(f"a preset's run failed: exit codes {dict(zip(presets, codes))}")
    curves = {p: json.loads((out / folder(p) / "curve.json").read_text())["curve"] for p in presets}
    (out / "curves.json").write_text(json.dumps(curves, indent=1))
    plot_curves(curves, out / "identity.png")
    plot_curves(curves, out / "detail.png", key="detail_ratio_swap_vs_dst", goal=0.8)
    return curves


def test_time_to_likeness(benchmark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    presets = parse_presets(os.environ.get("FS_TTL_PRESETS", "cpu,v0.1"))
    out = Path(os.environ.get("FS_TTL_OUT", str(tmp_path / "ttl")))
    seconds, every = float(os.environ.get("FS_TTL_SECONDS", "120")), float(os.environ.get("FS_TTL_EVERY", "60"))
    curves = benchmark.pedantic(run, (presets, tmp_path / "data", out, seconds, every), rounds=1, iterations=1)
    benchmark.extra_info["curves"] = curves
    for name, c in curves.items():
        last = c[-1]
        print(f"\n{name}: {last['seconds']} s, {last['step']} steps, {last['samples']} samples: swap->src "
              f"{last['identity_cos_swap_vs_src']:.3f}, swap->dst {last['identity_cos_swap_vs_dst']:.3f}, "
              f"detail {last['detail_ratio_swap_vs_dst']:.2f}, likeness {last['likeness']}")  # fmt: skip
    assert all(len(c) >= 1 for c in curves.values())


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="cpu,v0.1", help="comma-separated; a preset may carry JSON overrides")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, default=Path("ttl-data"))
    ap.add_argument("--out", type=Path, default=Path("ttl"))
    ap.add_argument("--seconds", type=float, default=480.0)
    ap.add_argument("--every", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        run_one(a.one, a.work, a.out, a.seconds, a.every, a.threads)
    else:
        run(parse_presets(a.presets), a.work, a.out, a.seconds, a.every)
