"""The training loop: ``Trainer(config).fit()`` in plain torch (no Lightning, no Accelerate).

One optimiser step = ``accum_steps`` micro-batches (loss scaled by ``1 / accum_steps``; under DDP the
gradient all-reduce runs only on the last one), optional unscale (fp16), gradient norm + clipping, NaN/inf
guard, LR from the schedule, optimiser step with LR dropout, EMA update, then the discriminator's step when
the GAN is on. A CGAN (fs_models ``cgan``: one generator, an identity per faceset) runs through the same
loop; :mod:`fs_train._cgan` supplies its data, losses, previews and identity table. Rank 0 writes
checkpoints, previews, metrics and the loss plot; a SIGINT/SIGTERM, the time budget or a callback's
:meth:`Trainer.request_stop` ends the run after the current step, and it saves first.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from fs_models import AEOutput, CGANGenerator, FaceSwapModel, FsModel, save_model
from fs_train import _state
from fs_train._cgan import AnyBatch, CGANFamily, IdentityBatch, IdentitySampler, batch_samples, is_cgan
from fs_train._dist import DistInfo, all_reduce_max, resolve_device
from fs_train._loader import BatchLoader
from fs_train._run import FitResult, StepInfo, StopReason, stop_signals
from fs_train._setup import (
    build_code_discriminator,
    build_discriminator,
    build_model,
    check_resume,
    needs,
    trainable_names,
)
from fs_train.checkpoint import checkpoint_candidates, load_checkpoint, save_checkpoint
from fs_train.config import ClipMode, Precision, TrainConfig
from fs_train.control import read_control
from fs_train.data import Batch, FaceSource, PairSampler, open_pair
from fs_train.errors import ConfigError, DivergedError
from fs_train.losses import (
    code_discriminator_loss,
    discriminator_loss,
    gan_generator_loss,
    reconstruction_losses,
    true_face_loss,
)
from fs_train.optim import EMA, AutoClip, LRDropout, build_optimizer, lr_factor
from fs_train.preview import MetricsLog, loss_plot, write_png
from fs_train.speed import resolve_precision

__all__ = ["FitResult", "StepInfo", "StopReason", "Trainer"]

CHECKPOINT = "checkpoint.safetensors"
MODEL_FILE = "model.safetensors"


class Trainer:
    """Train a face-swap autoencoder on two facesets; see the module docs and :class:`TrainConfig`.

    All bad input (facesets, model config, masks, checkpoints) raises here, in the constructor.

    Args:
        config: the run's configuration.
        callbacks: called with a :class:`StepInfo` after every step on rank 0 (e.g. the CLI's progress bar).
    """

    def __init__(self, config: TrainConfig, callbacks: Sequence[Callable[[StepInfo], None]] = ()) -> None:
        self.config = config
        self.callbacks = list(callbacks)
        self.device = resolve_device(config.device)
        self.precision, note = resolve_precision(config.precision, self.device)
        self.notes: list[str] = [note] if note else []
        """One-line remarks on choices made for this hardware (for a front end to show)."""
        masks, em = needs(config)
        self.family: CGANFamily | None = None
        if is_cgan(config.model):
            self.family = CGANFamily(config, masks)
            self.sources: tuple[FaceSource, ...] = self.family.sources
        elif config.facesets or config.identity_embeddings:
            raise ConfigError(f"facesets / identity_embeddings: only a CGAN takes them, not model {config.model!r}")
        else:
            self.sources = open_pair(config.src, config.dst, config.effective_loss)
        fixed = self.family.model_overrides() if self.family else None
        self.model: FaceSwapModel = build_model(config, self.sources, fixed).to(self.device)
        if config.channels_last:
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.resolution = self.model.resolution
        self.disc: FsModel | None
        if self.family is not None:
            assert isinstance(self.model, CGANGenerator)
            self.disc = self.family.build_discriminator(self.model, config.seed)
        else:
            self.disc = build_discriminator(config, self.resolution)
        if self.disc is not None:
            self.disc.to(self.device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(self.params, config.optim)
        self.d_optimizer = build_optimizer(list(self.disc.parameters()), config.optim) if self.disc else None
        self.code_disc: FsModel | None = build_code_discriminator(config, self.model)
        self.c_optimizer = None
        if self.code_disc is not None:
            self.c_optimizer = build_optimizer(list(self.code_disc.to(self.device).parameters()), config.optim)
        self.lr_dropout = LRDropout(self.params, config.effective_lr_dropout, config.seed)
        self.autoclip = AutoClip(config.optim.autoclip_percentile) if config.optim.clip is ClipMode.AUTO else None
        self.ema = EMA(self.model, config.ema_decay) if config.ema_decay > 0 else None
        fp16 = self.precision is Precision.FP16
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.step = 0
        self.counter = 0
        self.bad_steps = 0
        self.history: list[tuple[int, float, float, float]] = []
        self.elapsed_before = 0.0
        self._trainable = trainable_names(self.model)
        self.checkpoint_path = config.out_dir / CHECKPOINT
        resumed = None
        if config.resume and checkpoint_candidates(self.checkpoint_path):
            resumed = load_checkpoint(self.checkpoint_path)
            has = (self.disc is not None, self.code_disc is not None)
            check_resume(resumed, config, self.model, self._trainable, *has)
            if self.family is not None:
                self.family.check_resume(resumed)
            _state.restore(self, resumed)
        self.resumed_from = resumed.path if resumed else None
        # -- past this point the input has been accepted; now join the process group and start loading
        self.dist = DistInfo.setup(self.device)
        self.ddp: torch.nn.Module = self.model
        self.d_ddp: torch.nn.Module | None = self.disc
        self.c_ddp: torch.nn.Module | None = self.code_disc
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp = DDP(self.model, device_ids=ids)
            if self.disc is not None:
                self.d_ddp = DDP(self.disc, device_ids=ids)
            if self.code_disc is not None:
                self.c_ddp = DDP(self.code_disc, device_ids=ids)
        loss_cfg = config.effective_loss
        # DF/LIAE skip the swap pass (a third of the decoder work) unless a style loss needs the swapped face.
        self._swap_kw = {} if loss_cfg.face_style_weight > 0 or loss_cfg.bg_style_weight > 0 else {"swap": False}
        if self._swap_kw and "swap" not in inspect.signature(self.model.forward).parameters:
            self._swap_kw = {}
        self._forward: Callable[..., AEOutput] = self.ddp
        if config.compile:
            self._forward = torch.compile(self.ddp)  # type: ignore[assignment]
        spec = {
            "src": str(config.src), "dst": str(config.dst), "loss": config.effective_loss.to_dict(),
            "augment": config.effective_augment.to_dict(), "resolution": self.resolution,
            "batch_size": config.batch_size, "seed": config.seed, "rank": self.dist.rank,
            "world": self.dist.world, "need_masks": masks, "need_em": em,
        }  # fmt: skip
        sampler_cls = IdentitySampler if self.family else PairSampler
        sampler = sampler_cls(
            self.sources, config.effective_augment, self.resolution, config.batch_size, config.seed,
            rank=self.dist.rank, world=self.dist.world, need_masks=masks, need_em=em,
        )  # fmt: skip
        if self.family is not None:
            spec = self.family.loader_spec(spec)
        self.loader = BatchLoader(spec, workers=config.workers, prefetch=config.prefetch, start=self.counter,
                                  sampler=sampler if config.workers == 0 else None)  # fmt: skip
        self._stop: StopReason | None = None
        self.stop_signal: int | None = None
        """The signal number that stopped :meth:`fit` (``StopReason.SIGNAL``), else ``None``."""
        self._preview: AnyBatch | None = None
        self.metrics: MetricsLog | None = None
        self._tb: Any = None
        if self.dist.is_main:
            config.out_dir.mkdir(parents=True, exist_ok=True)
            _state.write_json(config.out_dir / "config.json", config.to_dict())
            self.metrics = MetricsLog(config.out_dir / "metrics.jsonl", self.step if resumed else None)
            self._tb = _state.tensorboard_writer(config) if config.tensorboard else None

    # -- public API -----------------------------------------------------------------------------------------
    @property
    def lr(self) -> float:
        """The learning rate the next step will use."""
        return self.config.optim.lr * lr_factor(self.step, self.config.steps, self.config.optim)

    def request_stop(self) -> None:
        """Ask :meth:`fit` to save and return after the current step (safe from callbacks and signal handlers)."""
        self._stop = StopReason.REQUEST

    def next_micro_batch(self) -> AnyBatch:
        """The next micro-batch from the loader, on the training device."""
        arrays = self.loader.get()
        self.counter += 1
        if self.family is not None:
            return self.family.batch(arrays, self.device, self.config.channels_last)
        return Batch.from_arrays(arrays, self.device, channels_last=self.config.channels_last)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The autocast context of the run's precision (a no-op for fp32)."""
        p = self.precision
        if p is Precision.FP32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16 if p is Precision.BF16 else torch.float16)

    def forward_train(self, b: Batch) -> AEOutput:
        """The model's training forward on a micro-batch (compiled and without the swap pass where possible)."""
        return self._forward(b.warped_src, b.warped_dst, **self._swap_kw)

    def micro_batch_losses(
        self, b: AnyBatch, codes: list[tuple[torch.Tensor, torch.Tensor]] | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], tuple[torch.Tensor, ...] | None]:
        """The generator's loss on one micro-batch (call under :meth:`autocast`): ``(total, parts, d_inputs)``.

        ``d_inputs`` are the discriminator's inputs (real and fake faces, detached) when the GAN is on. With
        true-face power on, the (src, dst) bottleneck codes, detached, are appended to ``codes`` for the code
        discriminator's step.
        """
        cfg = self.config.effective_loss
        if isinstance(b, IdentityBatch):
            assert self.family is not None
            return self.family.losses(self._forward, self.disc, b, cfg)
        out = self.forward_train(b)
        total, parts, extras = reconstruction_losses(out, b, cfg)
        if self.c_ddp is not None:
            if out.src_code is None or out.dst_code is None:
                raise ConfigError(f"model {self.model.name!r} returned no codes for true_face_power")
            parts["true_face"] = true_face_loss(self.c_ddp, out.src_code, cfg.true_face_power)
            total = total + parts["true_face"]
            if codes is not None:
                codes.append((out.src_code.detach(), out.dst_code.detach()))
        if self.disc is None:
            return total, parts, None
        g_loss, fake = gan_generator_loss(self.disc, out, b, extras, cfg)
        parts["gan"] = g_loss
        blur = extras.get("src_mask_blur")
        return total + g_loss, parts, (b.target_src * blur if blur is not None else b.target_src, fake)

    def discriminator_loss(self, d_inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The discriminator's loss on the inputs :meth:`micro_batch_losses` returned."""
        assert self.d_ddp is not None
        if self.family is not None:
            return self.family.discriminator_loss(self.d_ddp, *d_inputs)
        return discriminator_loss(self.d_ddp, *d_inputs)

    def compute_gradients(self, micro_batches: Sequence[AnyBatch]) -> dict[str, float]:
        """Forward + backward over ``micro_batches``, leaving the mean gradient in ``.grad`` (and the disc's).

        Each micro-batch's loss is divided by their count, so N micro-batches of B give the gradient of one
        batch of N * B; under DDP the non-final backward passes skip the all-reduce (``no_sync``).
        Returns the loss parts averaged over the micro-batches.
        """
        n = len(micro_batches)
        sums: dict[str, torch.Tensor] = {}
        fakes: list[tuple[torch.Tensor, ...]] = []
        codes: list[tuple[torch.Tensor, torch.Tensor]] = []
        for d in (self.disc, self.code_disc):
            if d is not None:
                d.requires_grad_(False)
        for i, b in enumerate(micro_batches):
            sync = i == n - 1
            ctx = self.ddp.no_sync() if isinstance(self.ddp, DDP) and not sync else contextlib.nullcontext()
            with ctx:
                with self.autocast():
                    total, parts, d_inputs = self.micro_batch_losses(b, codes)
                    if d_inputs is not None:
                        fakes.append(d_inputs)
                self.scaler.scale(total / n).backward()  # type: ignore[no-untyped-call]
            parts["loss"] = total
            for k, v in parts.items():
                sums[k] = sums.get(k, torch.zeros((), device=self.device)) + v.detach().float() / n
        if self.disc is not None and self.d_ddp is not None:
            sums["disc"] = self._aux_backward(self.disc, self.d_ddp, fakes, self.discriminator_loss)
        if self.code_disc is not None and self.c_ddp is not None:
            c_ddp = self.c_ddp
            sums["code_disc"] = self._aux_backward(
                self.code_disc, c_ddp, codes, lambda c: code_discriminator_loss(c_ddp, *c)
            )
        keys = sorted(sums)
        values = torch.stack([sums[k] for k in keys]).tolist()
        return dict(zip(keys, values))

    def _aux_backward(
        self,
        module: torch.nn.Module,
        wrapped: torch.nn.Module,
        inputs: Sequence[tuple[torch.Tensor, ...]],
        loss_fn: Callable[[tuple[torch.Tensor, ...]], torch.Tensor],
    ) -> torch.Tensor:
        """Backward of a discriminator's loss over each micro-batch's inputs; returns the mean loss (detached).

        Under DDP only the last backward pass all-reduces (``no_sync`` before it).
        """
        module.requires_grad_(True)
        n = len(inputs)
        total = torch.zeros((), device=self.device)
        for i, x in enumerate(inputs):
            ctx = wrapped.no_sync() if isinstance(wrapped, DDP) and i < n - 1 else contextlib.nullcontext()
            with ctx, self.autocast():
                loss = loss_fn(x)
            self.scaler.scale(loss / n).backward()  # type: ignore[no-untyped-call]
            total = total + loss.detach().float() / n
        return total

    def _clip(self) -> float:
        clip = self.config.optim.clip
        if self.scaler.is_enabled():
            self.scaler.unscale_(self.optimizer)
        limit = self.config.optim.clip_norm if clip is ClipMode.NORM else math.inf
        norm = float(torch.nn.utils.clip_grad_norm_(self.params, limit, foreach=True))
        if self.autoclip is not None and math.isfinite(norm):
            thr = self.autoclip.threshold(norm)
            if norm > thr:
                torch._foreach_mul_([p.grad for p in self.params if p.grad is not None], thr / (norm + 1e-6))
        return norm

    def train_step(self, micro_batches: Sequence[AnyBatch] | None = None) -> StepInfo:
        """One optimiser step over ``accum_steps`` micro-batches from the loader (or the ones given)."""
        t0 = time.perf_counter()
        if micro_batches is None:
            micro_batches = [self.next_micro_batch() for _ in range(self.config.accum_steps)]
        parts = self.compute_gradients(micro_batches)
        loss = parts["loss"]
        norm, bad, lr = self.apply_gradients(loss)
        if not bad:
            self.history.append((self.step, loss, parts.get("src", math.nan), parts.get("dst", math.nan)))
        dt = time.perf_counter() - t0
        n = batch_samples(micro_batches[0]) * len(micro_batches) * self.dist.world
        return StepInfo(self.step, self.config.steps, loss, parts, lr, norm, n / max(dt, 1e-9), dt, bad, self.bad_steps)

    def apply_gradients(self, loss: float) -> tuple[float, bool, float]:
        """Clip, check and apply the gradients in ``.grad`` (one optimiser step); returns (norm, skipped, lr).

        A NaN/inf loss or gradient skips the step (and counts towards ``max_bad_steps``).
        """
        norm = self._clip()
        local_bad = not math.isfinite(loss) or (not math.isfinite(norm) and not self.scaler.is_enabled())
        bad = all_reduce_max(float(local_bad), self.dist, self.device) > 0
        lr = self.lr
        aux = [opt for opt in (self.d_optimizer, self.c_optimizer) if opt is not None]
        if bad:
            for opt in (self.optimizer, *aux):
                opt.zero_grad(set_to_none=True)
            self.bad_steps += 1
            if self.bad_steps >= self.config.max_bad_steps:
                raise DivergedError(
                    f"{self.bad_steps} steps with a NaN/inf loss or gradient (max_bad_steps="
                    f"{self.config.max_bad_steps}); the last good checkpoint is {self.checkpoint_path}"
                )
        else:
            for opt in (self.optimizer, *aux):
                for g in opt.param_groups:
                    g["lr"] = lr
            self.lr_dropout.before_step()
            self.scaler.step(self.optimizer)
            self.lr_dropout.after_step()
            for opt in aux:
                self.scaler.step(opt)
            self.scaler.update()
            for opt in (self.optimizer, *aux):
                opt.zero_grad(set_to_none=True)
            if self.ema is not None:
                self.ema.update(self.model)
            self.step += 1
        return norm, bad, lr

    # -- the loop -------------------------------------------------------------------------------------------
    def fit(self) -> FitResult:
        """Train until ``steps``, the time budget, a signal or :meth:`request_stop`; save and return."""
        cfg = self.config
        start = time.perf_counter()
        reason = StopReason.TARGET
        info: StepInfo | None = None
        path: Path | None = None
        try:
            with stop_signals(self._on_signal):
                if self.metrics is not None:
                    start_rec = {"event": "start", "step": self.step, "resumed": str(self.resumed_from),
                                 "world": self.dist.world, "device": str(self.device)}  # fmt: skip
                    self.metrics.write({**start_rec, **self.loader.sampler.describe()})
                while self.step < cfg.steps:
                    info = self.train_step()
                    elapsed = time.perf_counter() - start
                    if self.dist.is_main:
                        self._after_step(info, elapsed)
                    s = self.step
                    if cfg.save_every and not info.skipped and s % cfg.save_every == 0 and s < cfg.steps:
                        self.save()
                    if self.dist.is_main:
                        self._poll_control()
                    over = cfg.time_budget_s > 0 and elapsed >= cfg.time_budget_s
                    code = {None: 0, StopReason.SIGNAL: 1, StopReason.REQUEST: 2}[self._stop] if not over else 3
                    code = int(all_reduce_max(float(code), self.dist, self.device))
                    if code:
                        reason = {1: StopReason.SIGNAL, 2: StopReason.REQUEST, 3: StopReason.TIME}[code]
                        break
                self.elapsed_before += time.perf_counter() - start
                path = self.save()
                if self.dist.is_main:
                    self.write_preview()
                    self.write_loss_plot()
                    if self.metrics is not None:
                        self.metrics.write({"event": "stop", "step": self.step, "reason": reason.value})
        finally:
            self.close()
        final = info.loss if info is not None else math.nan
        return FitResult(self.step, reason, path, final, [(s, loss) for s, loss, _, _ in self.history])

    def _on_signal(self, signum: int) -> None:
        self._stop = StopReason.SIGNAL
        self.stop_signal = signum

    def _poll_control(self) -> None:
        """Act on a ``control.json`` request (:mod:`fs_train.control`): save now, or stop (saving first)."""
        command = read_control(self.config.out_dir)
        if command == "save":
            self.save()
            self.write_preview()
        elif command == "stop":
            self._stop = StopReason.REQUEST
        if command is not None and self.metrics is not None:
            self.metrics.write({"event": "control", "step": self.step, "command": command})

    def _after_step(self, info: StepInfo, elapsed: float) -> None:
        cfg = self.config
        for cb in self.callbacks:
            cb(info)
        s = self.step
        if self.metrics is not None and cfg.log_every and (s % cfg.log_every == 0 or info.skipped):
            rec = {"step": s, "time": round(elapsed, 3), "lr": info.lr, "grad_norm": info.grad_norm,
                   "samples_per_s": info.samples_per_s, "skipped": info.skipped,
                   "bad_steps": info.bad_steps}  # fmt: skip
            rec.update({f"loss/{k}": v for k, v in info.parts.items()})
            self.metrics.write(rec)
            if self._tb is not None:
                for k, v in rec.items():
                    if isinstance(v, float):
                        self._tb.add_scalar(k, v, s)
        if info.skipped:
            return
        if cfg.preview_every and s % cfg.preview_every == 0:
            self.write_preview()
            self.write_loss_plot()

    # -- state, previews --------------------------------------------------------------------------------------
    def save(self) -> Path | None:
        """Write the training checkpoint (rank 0; atomic, rotating backups) and export the model; returns the path.

        Under DDP every rank must call it (the RNG states are gathered).
        """
        state = _state.collect(self)
        if not self.dist.is_main:
            return None
        save_checkpoint(self.checkpoint_path, state, keep=self.config.keep_backups)
        meta = {"fs_train.step": str(self.step), **(self.family.model_metadata() if self.family else {})}
        extra = self.family.model_tensors() if self.family else None
        with self.ema_weights():
            save_model(self.model, self.config.out_dir / MODEL_FILE, metadata=meta, extra_tensors=extra)
        return self.checkpoint_path

    @contextlib.contextmanager
    def ema_weights(self) -> Iterator[None]:
        """Temporarily put the EMA weights into the model (no-op without EMA)."""
        if self.ema is None:
            yield
            return
        backup = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.ema.copy_to(self.model)
        try:
            yield
        finally:
            self.model.load_state_dict(backup)

    def preview_batch(self) -> AnyBatch:
        """The fixed, un-augmented faces the previews show."""
        if self._preview is None:
            self._preview = _state.preview_batch(self)
        return self._preview

    def write_preview(self) -> Path:
        """Write ``previews/preview_<step>.png`` and ``preview_latest.png`` (the grid: ``_state.preview_image``)."""
        with self.ema_weights():
            grid = _state.preview_image(self, self.preview_batch())
        folder = self.config.out_dir / "previews"
        write_png(folder / f"preview_{self.step:07d}.png", grid)
        return write_png(folder / "preview_latest.png", grid)

    def write_loss_plot(self) -> Path:
        """Write ``loss.png`` from the loss history (src, dst and total; log scale)."""
        h = self.history
        steps = [x[0] for x in h]
        series = {"loss": [x[1] for x in h], "src": [x[2] for x in h], "dst": [x[3] for x in h]}
        return write_png(self.config.out_dir / "loss.png", loss_plot(steps, series))

    def close(self) -> None:
        """Stop the loader's workers, close the logs and leave the process group (idempotent)."""
        self.loader.close()
        if self.metrics is not None:
            self.metrics.close()
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        self.dist.close()
