"""autocast (bf16 / fp16), channels_last and torch.compile on CPU."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from fs_models import FsModel


@pytest.mark.parametrize("name", ["df", "liae", "h64", "cgan"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast(name: str, dtype: torch.dtype, tiny: Callable[..., FsModel]) -> None:
    model = tiny(name, **({"options": "ud"} if name in ("df", "liae") else {}))
    inputs = model.example_inputs(2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = [t for t in model(*inputs) if t is not None]
    with torch.autocast("cpu", dtype=dtype):
        out = [t for t in model(*inputs) if t is not None]
    sum(t.float().mean() for t in out).backward()  # type: ignore[union-attr]
    for a, b in zip(out, ref):
        assert a.dtype == dtype and torch.isfinite(a).all()
        assert float((a.detach().float() - b).abs().max()) < 0.05
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", ["df", "liae", "quick96", "h128", "cgan", "patchgan"])
def test_channels_last(name: str, tiny: Callable[..., FsModel]) -> None:
    model = tiny(name).eval()
    inputs = model.example_inputs(2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = [t for t in model(*inputs) if t is not None]
        model = model.to(memory_format=torch.channels_last)
        cl = tuple(t.to(memory_format=torch.channels_last) if t.ndim == 4 else t for t in inputs)
        out = [t for t in model(*cl) if t is not None]
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_compile_matches_eager(tiny: Callable[..., FsModel]) -> None:
    """torch.compile (inductor, C++ codegen through gcc) of a tiny DF-ud gives eager's outputs on CPU."""
    import shutil

    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("torch.compile's inductor backend needs a C++ compiler on CPU; none found")
    model = tiny("df", options="ud").eval()
    inputs = model.example_inputs(2, generator=torch.Generator().manual_seed(0))
    compiled = torch.compile(model)
    with torch.no_grad():
        ref = model(*inputs)
        out = compiled(*inputs)
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
