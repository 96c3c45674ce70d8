"""The training monitor: read what fs-train writes into a run folder; ask it to save now or stop (fs_train.control)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from fs_train import request_control
from fs_train.errors import ConfigError
from fs_ui.errors import UiError

__all__ = ["run_status", "send_control"]

_MAX_POINTS = 2000


def _records(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return out
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line being written
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _total_loss(rec: dict[str, Any]) -> float | None:
    parts = [v for k, v in rec.items() if k.startswith("loss/") and isinstance(v, (int, float))]
    if "loss/total" in rec and isinstance(rec["loss/total"], (int, float)):
        return float(rec["loss/total"])
    return float(sum(parts)) if parts else None


def run_status(run: Path) -> dict[str, Any]:
    """What the monitor shows: step / steps, samples/s, ETA, the loss curve, the state and the preview's stamp."""
    records = _records(run / "metrics.jsonl")
    try:
        config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    steps_rec = [r for r in records if "event" not in r and "step" in r]
    events = [r for r in records if "event" in r]
    losses = [(int(r["step"]), loss) for r in steps_rec if (loss := _total_loss(r)) is not None and math.isfinite(loss)]
    if len(losses) > _MAX_POINTS:
        stride = math.ceil(len(losses) / _MAX_POINTS)
        losses = losses[::stride] + ([losses[-1]] if (len(losses) - 1) % stride else [])
    last = steps_rec[-1] if steps_rec else {}
    step = int(last.get("step", 0))
    total = int(config.get("steps", 0) or 0)
    budget = float(config.get("time_budget_s", 0) or 0)
    rate = None
    if len(steps_rec) >= 2:
        a, b = steps_rec[max(0, len(steps_rec) - 20)], steps_rec[-1]
        dt, ds = float(b.get("time", 0)) - float(a.get("time", 0)), int(b["step"]) - int(a["step"])
        rate = ds / dt if dt > 0 and ds > 0 else None
    eta = None
    if rate and total:
        eta = max(0.0, (total - step) / rate)
    if budget and last.get("time") is not None:
        left = max(0.0, budget - float(last["time"]))
        eta = left if eta is None else min(eta, left)
    stop = next((e for e in reversed(events) if e.get("event") in ("stop", "start")), None)
    metrics = run / "metrics.jsonl"
    fresh = metrics.is_file() and time.time() - metrics.stat().st_mtime < 120
    state = "stopped" if stop and stop.get("event") == "stop" else ("running" if fresh else "idle")
    preview = run / "previews" / "preview_latest.png"
    return {"name": run.name, "step": step, "steps": total, "samples_per_s": last.get("samples_per_s"),
            "steps_per_s": rate, "eta_s": eta, "losses": losses, "state": state,
            "stop_reason": stop.get("reason") if stop and stop.get("event") == "stop" else None,
            "controls": [e for e in events if e.get("event") == "control"][-5:],
            "preview": preview.stat().st_mtime_ns if preview.is_file() else None,
            "pending": (run / "control.json").is_file()}  # fmt: skip


def send_control(run: Path, command: str) -> dict[str, Any]:
    """Write the ``save`` / ``stop`` request the trainer polls between steps."""
    try:
        request_control(run, command)
    except ConfigError as exc:
        raise UiError(str(exc)) from None
    return run_status(run)
