"""fs-train: the pure-torch training loop of the fs face-swap toolkit.

``Trainer(TrainConfig(src=..., dst=..., out_dir=...)).fit()`` trains a fs-models autoencoder on two
facesets (or the identity-conditioned CGAN on two or more, ``model="cgan"``) with DFL-style augmentation
and losses, gradient accumulation, LR schedules, mixed precision, EMA, DDP under torchrun, crash-safe
safetensors checkpoints, previews and metrics.
"""

from fs_train._cgan import Identity, is_cgan, model_identities
from fs_train.checkpoint import TrainState, load_checkpoint, save_checkpoint
from fs_train.config import (
    AugmentConfig,
    ClipMode,
    LossConfig,
    OptimConfig,
    OptimizerName,
    Precision,
    Schedule,
    TrainConfig,
    parse_mask_chain,
)
from fs_train.control import CONTROL_FILE, read_control, request_control
from fs_train.data import Batch, FaceSource, PairSampler, open_pair
from fs_train.errors import CheckpointError, ConfigError, DataError, DivergedError, TrainError
from fs_train.losses import dssim, reconstruction_losses, style_loss
from fs_train.optim import EMA, AdaBelief, AutoClip, LRDropout, build_optimizer, lr_factor
from fs_train.presets import MODEL_LOSSES, PRESETS, Preset, get_preset, model_loss, preset_config
from fs_train.preview import MetricsLog, loss_plot, preview_grid
from fs_train.speed import cpu_bf16_features, resolve_precision
from fs_train.trainer import FitResult, StepInfo, StopReason, Trainer

__version__ = "0.1.0"

__all__ = [
    "CONTROL_FILE",
    "EMA",
    "MODEL_LOSSES",
    "PRESETS",
    "AdaBelief",
    "AugmentConfig",
    "AutoClip",
    "Batch",
    "CheckpointError",
    "ClipMode",
    "ConfigError",
    "DataError",
    "DivergedError",
    "FaceSource",
    "FitResult",
    "Identity",
    "LRDropout",
    "LossConfig",
    "MetricsLog",
    "OptimConfig",
    "OptimizerName",
    "PairSampler",
    "Precision",
    "Preset",
    "Schedule",
    "StepInfo",
    "StopReason",
    "TrainConfig",
    "TrainError",
    "TrainState",
    "Trainer",
    "__version__",
    "build_optimizer",
    "cpu_bf16_features",
    "dssim",
    "get_preset",
    "is_cgan",
    "load_checkpoint",
    "loss_plot",
    "lr_factor",
    "model_identities",
    "model_loss",
    "open_pair",
    "parse_mask_chain",
    "preset_config",
    "preview_grid",
    "read_control",
    "reconstruction_losses",
    "request_control",
    "resolve_precision",
    "save_checkpoint",
    "style_loss",
]
