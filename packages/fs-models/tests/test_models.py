"""Every registered model at tiny dims: shapes, backward, save -> load; DFL options; parameter counts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import fs_models
from fs_models import AEOutput, FsModel, InputError

# fs-models' own models: other packages register theirs (fs-mask's xseg) when they are imported first
ALL = [n for n in fs_models.list_models() if fs_models.model_spec(n).factory.__module__.startswith("fs_models.")]
AUTOENCODERS = ["df", "liae", "quick96", "original", "h64", "h128"]


def _flat(out: object) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    assert isinstance(out, tuple)
    return [t for o in out for t in _flat(o)] if out else []


def _flat_opt(out: tuple[torch.Tensor | None, ...]) -> list[torch.Tensor]:
    return [t for t in out if t is not None]


def _outputs(model: FsModel, inputs: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    out = model(*inputs)
    if isinstance(out, AEOutput):  # the images and masks (the bottleneck codes are checked elsewhere)
        return _flat_opt(out[:6])
    return _flat_opt(out) if isinstance(out, tuple) else [out]


@pytest.mark.parametrize("name", ALL)
def test_forward_backward_save_load(name: str, tiny: Callable[..., FsModel], tmp_path: Path) -> None:
    model = tiny(name)
    gen = torch.Generator().manual_seed(1)
    inputs = model.example_inputs(2, generator=gen)
    outs = _outputs(model, inputs)
    for t in outs:
        assert t.shape[0] == 2 and torch.isfinite(t).all()
    if isinstance(model, fs_models.FaceSwapModel) and name != "cgan":
        r = model.resolution
        full = model(*inputs)
        assert isinstance(full, AEOutput)
        want_code = name in ("df", "quick96", "original", "h64", "h128", "phaze")  # one code both sides share
        assert (full.src_code is not None) == want_code and (full.dst_code is not None) == want_code
        if full.src_code is not None and full.dst_code is not None:
            assert full.src_code.ndim == 4 and full.src_code.shape == full.dst_code.shape
        for t in outs:
            assert t.shape in ((2, 3, r, r), (2, 1, r, r))
            assert float(t.detach().min()) >= 0.0 and float(t.detach().max()) <= 1.0
    sum(t.float().mean() for t in outs).backward()  # type: ignore[union-attr]
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads), "every parameter gets a gradient"
    assert any(float(g.abs().sum()) > 0 for g in grads if g is not None)

    model.eval()
    path = fs_models.save_model(model, tmp_path / f"{name}.safetensors")
    loaded = fs_models.load_model(path).eval()
    assert type(loaded) is type(model) and loaded.name == name and loaded.config == model.config
    with torch.no_grad():
        for a, b in zip(_outputs(model, inputs), _outputs(loaded, inputs)):
            assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["df", "liae"])
@pytest.mark.parametrize("options", ["", "u", "d", "t", "c", "ud", "udt", "udtc"])
def test_saehd_options_shapes(name: str, options: str, tiny: Callable[..., FsModel]) -> None:
    model = tiny(name, options=options)
    src, dst = model.example_inputs(2)
    out = model(src, dst)
    pairs = ((out.src_src, out.src_src_mask), (out.dst_dst, out.dst_dst_mask), (out.src_dst, out.src_dst_mask))
    for face, mask in pairs:
        assert face.shape == (2, 3, 32, 32) and mask is not None and mask.shape == (2, 1, 32, 32)
    swap = model.swap(dst)
    assert torch.allclose(swap.face, out.src_dst, atol=1e-6)
    assert torch.allclose(swap.face_mask, out.src_dst_mask, atol=1e-6)  # type: ignore[arg-type]
    assert torch.allclose(swap.dst_mask, out.dst_dst_mask, atol=1e-6)  # type: ignore[arg-type]


def test_option_structure(tiny: Callable[..., FsModel]) -> None:
    """The options change the structure the way DFL's DeepFakeArchi does."""
    plain, t, u, c, d = (tiny("df", options=o) for o in ("", "t", "u", "c", "d"))
    keys = set(plain.state_dict())
    assert any(k.startswith("encoder.layers.1.conv1") for k in t.state_dict())  # residual block after down1
    assert "inter.upscale.conv.weight" in keys and "inter.upscale.conv.weight" not in t.state_dict()
    assert set(u.state_dict()) == keys and set(c.state_dict()) == keys  # no weights, only behaviour
    assert {"decoder_src.out_conv1.weight", "decoder_src.mask_body.3.conv.weight"} <= set(d.state_dict())
    x = torch.rand(1, 3, 32, 32)
    code = u.encoder(x)
    assert torch.allclose(code.square().mean(1), torch.ones(1), atol=1e-4)  # pixel norm


def test_swap_checks_input(tiny: Callable[..., FsModel]) -> None:
    model = tiny("df")
    assert isinstance(model, fs_models.FaceSwapModel)
    with pytest.raises(InputError, match="32 x 32"):
        model.swap(torch.rand(1, 3, 64, 64))
    with pytest.raises(InputError, match="N x 3 x H x W"):
        model.swap(torch.rand(1, 32, 32, 3))
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        model.swap(torch.rand(1, 3, 32, 32) * 255)
    with pytest.raises(InputError, match="float"):
        model.swap(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))


def _conv(k: int, cin: int, cout: int) -> int:
    return k * k * cin * cout + cout


def dfl_saehd_df_params(res: int, ae: int, e: int, d: int, m: int) -> int:
    """DFL SAEHD DF parameter count from DeepFakeArchi's layer list (no options), counted independently."""
    enc = _conv(5, 3, e) + _conv(5, e, 2 * e) + _conv(5, 2 * e, 4 * e) + _conv(5, 4 * e, 8 * e)
    lowest = res // 16
    inter = (8 * e * lowest * lowest) * ae + ae  # dense1
    inter += ae * lowest * lowest * ae + lowest * lowest * ae  # dense2
    inter += _conv(3, ae, 4 * ae)  # upscale
    dec = _conv(3, ae, 4 * 8 * d) + 2 * _conv(3, 8 * d, 8 * d)
    dec += _conv(3, 8 * d, 4 * 4 * d) + 2 * _conv(3, 4 * d, 4 * d)
    dec += _conv(3, 4 * d, 4 * 2 * d) + 2 * _conv(3, 2 * d, 2 * d) + _conv(1, 2 * d, 3)
    dec += _conv(3, ae, 4 * 8 * m) + _conv(3, 8 * m, 4 * 4 * m) + _conv(3, 4 * m, 4 * 2 * m) + _conv(1, 2 * m, 1)
    return enc + inter + 2 * dec


def test_df128_parameter_count_matches_dfl_saehd() -> None:
    model = fs_models.create_model("df", seed=0)
    expected = dfl_saehd_df_params(128, 256, 64, 64, 22)
    assert model.num_parameters() == expected == 57_538_432


def test_icnr_gives_identical_subpixels(tiny: Callable[..., FsModel]) -> None:
    model = tiny("df")
    up = model.decoder_src.body[0]  # type: ignore[index]
    y = up(torch.rand(1, 32, 8, 8))
    blocks = y.unfold(2, 2, 2).unfold(3, 2, 2)  # N C H/2 W/2 2 2
    assert torch.allclose(blocks, blocks[..., :1, :1].expand_as(blocks), atol=1e-6)


def test_initialisers() -> None:
    w = torch.empty(64, 16, 3, 3)
    fs_models.he_uniform_(w, generator=torch.Generator().manual_seed(0))
    bound = (6 / (16 * 9)) ** 0.5
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.9 * bound
    fs_models.conv_aware_(w, generator=torch.Generator().manual_seed(0))
    assert abs(float(w.var()) - 2 / (16 * 9)) < 1e-3
    # the input-channel kernels of one filter are near-orthogonal (orthogonal in Fourier space + small noise)
    f = w[0].reshape(16, 9)
    gram = f @ f.T
    off = gram - torch.diag(torch.diag(gram))
    assert float(off.abs().mean()) < 0.35 * float(torch.diag(gram).mean())
    model = fs_models.create_model("df", resolution=32, ae_dims=32, e_dims=8, d_dims=8, init="conv_aware")
    assert torch.isfinite(model(*model.example_inputs(1)).src_dst).all()


def test_seed_makes_weights_reproducible(tiny: Callable[..., FsModel]) -> None:
    a, b, c = tiny("liae"), tiny("liae"), tiny("liae", seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    key = "encoder.layers.0.conv.weight"
    assert not torch.equal(a.state_dict()[key], c.state_dict()[key])


def test_patch_layers_receptive_field() -> None:
    for patch in (8, 16, 32):
        layers = fs_models.patch_layers(patch)
        rf, jump = 0, 1
        for i, (k, s) in enumerate(layers):
            rf = k if i == 0 else rf + (k - 1) * jump
            jump *= s
        assert abs(rf - patch) <= 2 and layers[0] == (3, 2)


def test_patchgan_shapes(tiny: Callable[..., FsModel]) -> None:
    d = tiny("patchgan", resolution=48)
    center, pixels = d(torch.rand(2, 3, 48, 48))
    assert pixels.shape == (2, 1, 48, 48) and center.shape[:2] == (2, 1) and center.shape[-1] < 48
