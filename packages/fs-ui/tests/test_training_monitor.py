"""The training monitor against a real (tiny) Trainer: live stats, loss plot and preview; "save now" and "stop"
reach the trainer through fs_train's control file, and it saves before it stops."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from fs_faceset import FacesetWriter

TINY_DF = {"resolution": 32, "ae_dims": 32, "e_dims": 8, "d_dims": 8, "d_mask_dims": 4}


@pytest.fixture
def training(make_faces: Any, tmp_path: Path) -> Any:
    """A tiny DF training in a background thread (until stopped); yields (run folder, thread, result holder)."""
    import torch

    from fs_train import OptimConfig, TrainConfig, Trainer

    faces = make_faces(48)
    paths = []
    for name, chosen in (("src", faces[0::2]), ("dst", faces[1::2])):
        with FacesetWriter(tmp_path / name) as w:
            w.add_all(chosen)
        paths.append(tmp_path / name)
    run = tmp_path / "run"
    cfg = TrainConfig(src=paths[0], dst=paths[1], out_dir=run, model="df", model_config=TINY_DF, batch_size=4,
                      steps=1_000_000, optim=OptimConfig(lr=5e-4), save_every=0, preview_every=4, log_every=2,
                      seed=3, time_budget_s=300)  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    trainer = Trainer(cfg)
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(fit=trainer.fit()), daemon=True)
    thread.start()
    yield run, thread, result
    trainer.request_stop()
    thread.join(timeout=120)
    torch.set_num_threads(threads)


def test_monitor_save_now_and_stop(serve: Any, training: Any, page: Any, shot: Any) -> None:
    run, thread, result = training
    server = serve(runs=(run,))
    page.goto(server.url + "#train")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_function("+document.querySelector('#run-stats').dataset.step >= 8", timeout=120_000)
    page.wait_for_function(
        "document.querySelector('#run-preview').complete && document.querySelector('#run-preview').naturalWidth > 0",
        timeout=60_000,
    )
    stats = page.inner_text("#run-stats")
    assert stats.startswith("running · step ") and "/ 1000000" in stats and "samples/s" in stats and "ETA" in stats
    # the loss curve is drawn: blue pixels on the canvas
    blue = page.evaluate(
        """() => { const c = document.getElementById('loss-canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 2] > 200 && d[i] < 140) n++; return n; }"""
    )
    assert blue > 50
    shot(page, "training_monitor")
    assert not (run / "checkpoint.safetensors").exists()  # save_every=0: only "save now" writes one mid-run
    page.click("#save-now")
    page.wait_for_function("document.querySelector('#run-msg').textContent === 'asked the trainer to save'")
    page.wait_for_function(
        "document.querySelector('#run-done').textContent.startsWith('trainer did: save at step')", timeout=60_000
    )
    events = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert any(e.get("event") == "control" and e.get("command") == "save" for e in events)
    assert (run / "checkpoint.safetensors").is_file() and (run / "model.safetensors").is_file()
    assert thread.is_alive()  # saving does not stop it
    page.click("#stop-run")
    thread.join(timeout=120)
    assert not thread.is_alive()
    fit = result["fit"]
    assert fit.stopped_by.value == "request" and fit.checkpoint is not None and fit.checkpoint.is_file()
    page.wait_for_function(
        "document.querySelector('#run-stats').textContent.startsWith('stopped (request)')", timeout=30_000
    )
    last = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()][-1]
    assert last == {"event": "stop", "step": fit.step, "reason": "request"}
    shot(page, "training_stopped")
