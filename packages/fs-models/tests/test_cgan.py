"""The conditional GAN: label swap changes the output; a short CPU training on two real face sets learns."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

import fs_models
from fs_models import CGANGenerator, FsModel, InputError


@pytest.mark.parametrize("conditioning", ["mlp", "attention"])
def test_swap_with_other_label_changes_output(conditioning: str, tiny: Callable[..., FsModel]) -> None:
    g = tiny("cgan", conditioning=conditioning).eval()
    assert isinstance(g, CGANGenerator)
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        own = g(x, torch.zeros(3, dtype=torch.long))[0]
        swapped = g.swap(x, 1, 0)
        again = g.swap(x, 0, 0)
    assert swapped.face.shape == (3, 3, 32, 32) and swapped.face_mask.shape == (3, 1, 32, 32)
    assert float((swapped.face - own).abs().mean()) > 1e-3
    torch.testing.assert_close(again.face, own)
    torch.testing.assert_close(swapped.dst_mask, again.face_mask)


def test_external_embedding_conditioning(tiny: Callable[..., FsModel]) -> None:
    g = tiny("cgan", external_embedding_dims=16, conditioning="attention")
    assert isinstance(g, CGANGenerator)
    x = torch.rand(2, 3, 32, 32)
    a, b = torch.randn(16), torch.randn(16)
    out_a, out_b = g.swap(x, a, b), g.swap(x, b, a)
    assert not torch.allclose(out_a.face, out_b.face)
    with pytest.raises(InputError, match="embedding vectors"):
        g.swap(x, 1, 0)


def test_bad_labels(tiny: Callable[..., FsModel]) -> None:
    g = tiny("cgan")
    assert isinstance(g, CGANGenerator)
    with pytest.raises(InputError, match=r"label 5 is not in \[0, 2\)"):
        g.swap(torch.rand(1, 3, 32, 32), 5, 0)
    with pytest.raises(InputError, match="integer labels"):
        g(torch.rand(2, 3, 32, 32), torch.zeros(2))


def test_fix_identity_checks_its_identities(tiny: Callable[..., FsModel]) -> None:
    g = tiny("cgan")
    assert isinstance(g, CGANGenerator)
    with pytest.raises(InputError, match=r"label 2 is not in \[0, 2\)"):
        fs_models.fix_identity(g, 2, 0)
    with pytest.raises(InputError, match="integer labels"):
        fs_models.fix_identity(g, torch.randn(8), 0)
    fixed = fs_models.fix_identity(g, torch.tensor(1), 0)
    with pytest.raises(InputError, match="only the faces"):
        fixed.swap(torch.rand(1, 3, 32, 32), 1)
    ext = tiny("cgan", external_embedding_dims=16)
    assert isinstance(ext, CGANGenerator)
    with pytest.raises(InputError, match="embedding vectors"):
        fs_models.fix_identity(ext, 0, 1)


def _window_means(values: list[float], w: int) -> tuple[float, float]:
    return sum(values[:w]) / w, sum(values[-w:]) / w


def test_training_on_two_real_face_sets_lowers_losses(
    face_sets: tuple[torch.Tensor, torch.Tensor], tiny: Callable[..., FsModel]
) -> None:
    """200 Adam steps, batch 8 + 8, 32 px: the reconstruction losses of both identities (and G's total) go down.

    The discriminator's loss is only checked to stay finite: in a GAN it need not fall while G improves.
    """
    torch.manual_seed(0)
    faces_a, faces_b = face_sets
    g = tiny("cgan", e_dims=16, d_dims=16, ae_dims=64, id_dims=16)
    d = tiny("cgan_discriminator")
    opt_g = torch.optim.Adam(g.parameters(), lr=5e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    la, lb = torch.zeros(8, dtype=torch.long), torch.ones(8, dtype=torch.long)
    labels = torch.cat([la, lb])
    hist: dict[str, list[float]] = {"a": [], "b": [], "g": [], "d": []}
    for _ in range(200):
        ia, ib = torch.randint(len(faces_a), (8,)), torch.randint(len(faces_b), (8,))
        x = torch.cat([faces_a[ia], faces_b[ib]])
        fake, _ = g(x, labels)
        # discriminator: real pairs -> 1, reconstructions -> 0
        real_logits, fake_logits = d(x, labels), d(fake.detach(), labels)
        loss_d = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        # generator: reconstruct each identity with its own label, plus a light adversarial term
        rec_a, rec_b = (fake[:8] - x[:8]).abs().mean(), (fake[8:] - x[8:]).abs().mean()
        loss_g = rec_a + rec_b + 0.01 * F.softplus(-d(fake, labels)).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        for key, val in (("a", rec_a), ("b", rec_b), ("g", loss_g), ("d", loss_d)):
            hist[key].append(float(val.detach()))
    assert all(torch.isfinite(torch.tensor(hist["d"])))
    for key in ("a", "b", "g"):
        first, last = _window_means(hist[key], 25)
        assert last < first, f"{key} loss did not go down: first 30 steps {first:.4f}, last 30 {last:.4f}"
        assert last < 0.8 * first, f"{key} loss fell by less than 20%: {first:.4f} -> {last:.4f}"
    g.eval()
    with torch.no_grad():
        swap = g.swap(faces_b[:4], 0, 1)
        own = g.swap(faces_b[:4], 1, 1)
    assert float((swap.face - own.face).abs().mean()) > 1e-3
    _write_preview(faces_a[:4], faces_b[:4], own.face, swap.face)


def _write_preview(a: torch.Tensor, b: torch.Tensor, rec_b: torch.Tensor, swap_b: torch.Tensor) -> None:
    import cv2
    import numpy as np

    artifact_dir = pytest.importorskip("fs_align.testing").artifact_dir
    rows = [torch.cat(list(t), 2) for t in (a, b, rec_b, swap_b)]
    sheet = (torch.cat(rows, 1).permute(1, 2, 0).clamp(0, 1).numpy() * 255).astype(np.uint8)
    cv2.imwrite(str(artifact_dir("fs-models") / "cgan_preview.png"), cv2.resize(sheet, None, fx=3, fy=3))


def test_registry_builds_discriminator_for_generator() -> None:
    g = fs_models.default_config("cgan")
    d = fs_models.default_config("cgan_discriminator")
    assert g.resolution == d.resolution  # type: ignore[attr-defined]
