"""The file-based control hook: "save" and "stop" requests written into the run folder reach the Trainer."""

from __future__ import annotations

import json

import pytest

from fs_train import CONTROL_FILE, ConfigError, StopReason, Trainer, read_control, request_control


def test_request_and_read_control(tmp_path) -> None:
    assert read_control(tmp_path) is None
    request_control(tmp_path, "save")
    assert (tmp_path / CONTROL_FILE).is_file()
    assert read_control(tmp_path) == "save"
    assert not (tmp_path / CONTROL_FILE).exists() and read_control(tmp_path) is None
    (tmp_path / CONTROL_FILE).write_text('{"command": "explode"')  # torn or unknown: dropped
    assert read_control(tmp_path) is None and not (tmp_path / CONTROL_FILE).exists()
    with pytest.raises(ConfigError, match="unknown command"):
        request_control(tmp_path, "kill")
    with pytest.raises(ConfigError, match="not a training folder"):
        request_control(tmp_path / "missing", "stop")


def test_trainer_saves_on_request_and_stops_after_saving(tiny_config) -> None:
    cfg = tiny_config(steps=50)
    seen: dict[int, bool] = {}

    def callback(info) -> None:
        seen[info.step] = (cfg.out_dir / "checkpoint.safetensors").is_file()
        if info.step == 3:
            request_control(cfg.out_dir, "save")
        if info.step == 6:
            request_control(cfg.out_dir, "stop")

    result = Trainer(cfg, callbacks=[callback]).fit()
    assert result.stopped_by is StopReason.REQUEST and result.step == 6
    assert seen[3] is False and seen[4] is True  # "save" wrote the checkpoint mid-run; save_every is 0
    assert (cfg.out_dir / "previews" / "preview_latest.png").is_file()
    records = [json.loads(x) for x in (cfg.out_dir / "metrics.jsonl").read_text().splitlines()]
    controls = [(r["command"], r["step"]) for r in records if r.get("event") == "control"]
    assert controls == [("save", 3), ("stop", 6)]
    assert records[-1] == {"event": "stop", "step": 6, "reason": "request"}
    assert not (cfg.out_dir / CONTROL_FILE).exists()
