"""Registry, configs and the package surface."""

from __future__ import annotations

import pytest

import fs_models
from fs_models import ConfigError, SAEHDConfig, UnknownModelError, create_model, list_models

EXPECTED = {"df", "liae", "quick96", "h64", "h128", "original", "cgan", "cgan_discriminator", "patchgan",
            "code_discriminator", "phaze"}  # fmt: skip


def test_version_and_errors() -> None:
    assert fs_models.__version__ == "0.1.0"
    for err in ("ModelError", "UnknownModelError", "ConfigError", "CheckpointError", "InputError"):
        assert issubclass(getattr(fs_models, err), Exception)
        assert issubclass(getattr(fs_models, err), fs_models.ModelError)
        assert err in fs_models.__all__
    # one base: fs_align's error root, FaceType and configuration errors that are still ValueErrors
    from fs_align import ConfigError as FsConfigError
    from fs_align import FaceType, FsError, ShapeError

    assert issubclass(fs_models.ModelError, FsError) and fs_models.FaceType is FaceType
    assert issubclass(ConfigError, FsConfigError) and issubclass(ConfigError, ValueError)
    assert issubclass(fs_models.InputError, ShapeError) and issubclass(fs_models.InputError, ValueError)
    with pytest.raises(ConfigError, match="unknown value 'quarter'"):
        SAEHDConfig(face_type="quarter")  # type: ignore[arg-type]
    assert SAEHDConfig(face_type="wf").face_type is FaceType.WHOLE_FACE  # DFL's short names parse


def test_list_models_has_every_preset() -> None:
    names = list_models()
    assert set(names) - {"xseg"} == EXPECTED  # fs-mask registers "xseg" when imported
    assert names == sorted(names)


def test_unknown_model_lists_known_names() -> None:
    with pytest.raises(UnknownModelError) as info:
        create_model("saehd-xl")
    msg = str(info.value)
    assert "saehd-xl" in msg
    for name in EXPECTED:
        assert name in msg


def test_unknown_config_field_lists_fields() -> None:
    with pytest.raises(ConfigError, match=r"ae_dim.*fields:.*ae_dims"):
        create_model("df", ae_dim=128)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"resolution": 72}, "multiple of 16"),
        ({"resolution": 80, "options": "d"}, "multiple of 32"),
        ({"options": "ux"}, "unknown option"),
        ({"ae_dims": 0}, "ae_dims"),
        ({"face_type": "torso"}, "face_type"),
        ({"e_dims": 6.5}, "e_dims.*int"),
    ],
)
def test_bad_config_values(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SAEHDConfig(**kwargs)  # type: ignore[arg-type]


def test_config_is_frozen_normalised_and_round_trips() -> None:
    cfg = SAEHDConfig(options="du", face_type="wf")  # type: ignore[arg-type]
    assert cfg.options == "ud"
    assert cfg.face_type is fs_models.FaceType.WHOLE_FACE
    with pytest.raises(AttributeError):
        cfg.resolution = 256  # type: ignore[misc]
    assert SAEHDConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.to_dict()["face_type"] == "whole_face"


def test_presets_match_dfl_defaults() -> None:
    df = fs_models.default_config("df")
    assert df.to_dict() | {} == df.to_dict()
    assert (df.resolution, df.ae_dims, df.e_dims, df.d_dims, df.d_mask_dims) == (128, 256, 64, 64, 22)  # type: ignore[attr-defined]
    q = fs_models.default_config("quick96")
    assert (q.resolution, q.ae_dims, q.d_mask_dims, q.options) == (96, 128, 16, "ud")  # type: ignore[attr-defined]
    assert fs_models.default_config("h64").face_type is fs_models.FaceType.HALF  # type: ignore[attr-defined]
    assert fs_models.default_config("h128").resolution == 128  # type: ignore[attr-defined]


def test_parse_archi() -> None:
    assert fs_models.parse_archi("LIAE-UD") == ("liae", "ud")
    assert fs_models.parse_archi("df") == ("df", "")
    with pytest.raises(ConfigError):
        fs_models.parse_archi("sae-ud")
    with pytest.raises(ConfigError):
        fs_models.parse_archi("df-uz")


def test_register_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match="twice"):
        fs_models.register_model("df", SAEHDConfig, SAEHDConfig())(lambda cfg: fs_models.DF(cfg))
