"""Forward + backward time of DF-128 and LIAE-128 (DFL default dims) at batch 8 on CPU.

Each test times the same training step three ways in one run: eager NCHW (through the ``benchmark``
fixture), ``channels_last`` and ``torch.compile`` (compile time excluded by one warm-up step). The times and
the ratios to eager go into ``extra_info`` of the benchmark JSON. A step at these sizes takes tens of
seconds on a small CPU, so the default is 2 rounds each (``FS_BENCH_ROUNDS`` changes it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest
import torch

import fs_models

ROUNDS = int(os.environ.get("FS_BENCH_ROUNDS", "2"))
BATCH = 8


def _step(model: torch.nn.Module, src: torch.Tensor, dst: torch.Tensor) -> None:
    out = model(src, dst)
    loss = sum(t.float().mean() for t in out if t is not None)
    loss.backward()  # type: ignore[union-attr]
    for p in model.parameters():
        p.grad = None


def _best(fn: Callable[[], None], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


@pytest.mark.parametrize("name", ["df", "liae"])
def test_forward_backward_128_batch8(benchmark: Any, name: str) -> None:
    torch.manual_seed(0)
    model = fs_models.create_model(name, seed=0)
    src, dst = model.example_inputs(BATCH, generator=torch.Generator().manual_seed(0))

    benchmark.pedantic(_step, args=(model, src, dst), rounds=ROUNDS, iterations=1, warmup_rounds=0)
    eager = float(benchmark.stats.stats.min)

    cl_model = model.to(memory_format=torch.channels_last)
    cl_src, cl_dst = (t.contiguous(memory_format=torch.channels_last) for t in (src, dst))
    channels_last = _best(lambda: _step(cl_model, cl_src, cl_dst), ROUNDS)

    model = model.to(memory_format=torch.contiguous_format)
    compiled_model = torch.compile(model)
    t0 = time.perf_counter()
    _step(compiled_model, src, dst)  # compiles forward and backward
    compile_s = time.perf_counter() - t0
    compiled = _best(lambda: _step(compiled_model, src, dst), ROUNDS)

    benchmark.extra_info.update(
        {
            "params": model.num_parameters(),
            "batch": BATCH,
            "threads": torch.get_num_threads(),
            "eager_s": eager,
            "channels_last_s": channels_last,
            "compiled_s": compiled,
            "compile_first_step_s": compile_s,
            "channels_last_over_eager": channels_last / eager,
            "compiled_over_eager": compiled / eager,
            "samples_per_s_eager": BATCH / eager,
        }
    )
    assert eager > 0 and channels_last > 0 and compiled > 0
