"""fs-models: face-swap networks for the fs toolkit (pure torch + safetensors).

DF and LIAE autoencoders in DeepFaceLab's SAEHD shape (options ``u``, ``d``, ``t``, ``c``), the classic
``original`` / ``h64`` / ``h128`` models, a conditional GAN generator with two discriminators, a registry
(``create_model``), initialisers, safetensors checkpoints with the config in the header, and ONNX export with
DeepFaceLive's ``.dfm`` interface. Tensors are N x C x H x W float32 (or autocast) in [0, 1], BGR.
"""

from fs_models._adapter import SwappedFaces, TorchFaceModel
from fs_models._base import AEOutput, FaceSwapModel, FsModel, SwapOutput
from fs_models._cgan import CGANConfig, CGANGenerator, FixedIdentityCGAN, fix_identity
from fs_models._checkpoint import (
    freeze,
    load_extra_tensors,
    load_model,
    load_weights,
    read_header,
    save_model,
    unfreeze,
)
from fs_models._classic import ClassicAE, ClassicConfig
from fs_models._code_disc import CodeDiscriminator, CodeDiscriminatorConfig
from fs_models._config import Conditioning, FaceType, InitMethod, ModelConfig
from fs_models._discriminators import (
    CGANDiscriminator,
    DiscriminatorConfig,
    PatchGANConfig,
    UNetPatchDiscriminator,
    patch_layers,
)
from fs_models._init import conv_aware_, he_uniform_, icnr_, init_weights
from fs_models._onnx import DFM_INPUT, DFM_OUTPUTS, export_onnx
from fs_models._phaze import Phaze, PhazeConfig
from fs_models._registry import ModelSpec, create_model, default_config, list_models, model_spec, register_model
from fs_models._saehd import DF, LIAE, SAEHDConfig, parse_archi
from fs_models.errors import CheckpointError, ConfigError, InputError, ModelError, UnknownModelError

__version__ = "0.1.0"

__all__ = [
    "DF",
    "DFM_INPUT",
    "DFM_OUTPUTS",
    "LIAE",
    "AEOutput",
    "CGANConfig",
    "CGANDiscriminator",
    "CGANGenerator",
    "CheckpointError",
    "ClassicAE",
    "ClassicConfig",
    "CodeDiscriminator",
    "CodeDiscriminatorConfig",
    "Conditioning",
    "ConfigError",
    "DiscriminatorConfig",
    "FaceSwapModel",
    "FaceType",
    "FixedIdentityCGAN",
    "FsModel",
    "InitMethod",
    "InputError",
    "ModelConfig",
    "ModelError",
    "ModelSpec",
    "PatchGANConfig",
    "Phaze",
    "PhazeConfig",
    "SAEHDConfig",
    "SwapOutput",
    "SwappedFaces",
    "TorchFaceModel",
    "UNetPatchDiscriminator",
    "UnknownModelError",
    "__version__",
    "conv_aware_",
    "create_model",
    "default_config",
    "export_onnx",
    "fix_identity",
    "freeze",
    "he_uniform_",
    "icnr_",
    "init_weights",
    "list_models",
    "load_extra_tensors",
    "load_model",
    "load_weights",
    "model_spec",
    "parse_archi",
    "patch_layers",
    "read_header",
    "register_model",
    "save_model",
    "unfreeze",
]
