"""The train stage: noise-prediction training of a latent diffusion model on image–caption pairs.

From scratch (the embedded default: the VAE is trained first, ``vae_steps``, then the UNet) or as a
fine-tune of a pretrained model (the paper: SD v1.5's UNet, VAE and text encoder frozen,
``vae_steps = 0``). Captions are replaced by "" at ``caption_dropout`` so that classifier-free
guidance works at synthesis. Runs under accelerate (one process, several GPUs or nodes: each process
draws its own slice of every shuffled epoch), keeps an EMA of the UNet, checkpoints every
``checkpoint_every`` steps to ``<out>/checkpoint/`` and resumes from it.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from vlcp.run.progress import progress_bar as tqdm  # a bar on a terminal, plain lines otherwise
from vlcp.settings.config import check, check_choices, save_config
from vlcp.models.schedules import cosine_factor
from vlcp.data import ImageDataset
from vlcp.errors import VlcpError
from vlcp.files.atomic import atomic_write_json, read_json
from vlcp.models.generator import LatentDiffusion
from vlcp.models.text import CachedTextEncoder


@dataclass(frozen=True)
class TrainConfig:
    vae_steps: int = field(default=0, metadata={"help": "VAE training steps before the UNet (0: keep the VAE frozen)"})
    vae_batch_size: int = field(default=64, metadata={"help": "VAE batch size per process"})
    vae_lr: float = field(default=1e-3, metadata={"help": "VAE learning rate (AdamW)"})
    vae_cosine: bool = field(default=False, metadata={"help": "cosine decay of the VAE learning rate to 0"})
    kl_weight: float = field(default=1e-6, metadata={"help": "weight of the VAE's KL term"})
    unet_steps: int = field(default=0, metadata={"help": "UNet steps (0: use epochs)"})
    epochs: int = field(default=8, metadata={"help": "UNet epochs when unet_steps is 0 (paper: 8)"})
    batch_size: int = field(default=8, metadata={"help": "UNet batch size per process (paper: 8)"})
    gradient_accumulation_steps: int = field(default=1, metadata={
        "help": "batches per optimizer step (the official code's README: batch 8 × 4 accumulation steps × 4 GPUs "
                "= 128, i.e. 16 on one process); unet_steps counts optimizer steps"})
    max_grad_norm: float = field(default=0.0, metadata={
        "help": "clip the UNet gradient to this norm (official recipe: 1.0; 0: no clipping)"})
    lr: float = field(default=1e-5, metadata={"help": "UNet learning rate, AdamW (paper: 1e-5)"})
    warmup_steps: int = field(default=0, metadata={"help": "linear learning-rate warm-up steps"})
    cosine: bool = field(default=False, metadata={"help": "cosine decay of the UNet learning rate to 0"})
    caption_dropout: float = field(default=0.1, metadata={"help": "rate of captions replaced by '' (for guidance)"})
    ema_decay: float = field(default=0.9999, metadata={"help": "EMA decay of the UNet weights (0: no EMA)"})
    random_flip: bool = field(default=True, metadata={"help": "random horizontal flips"})
    sample_latents: bool = field(default=True, metadata={"help": "train on latent samples (False: latent means)"})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "UNet gradient checkpointing"})
    mixed_precision: str = field(default="no", metadata={"help": "accelerate mixed precision", "choices": ["no", "fp16", "bf16"]})
    save_dtype: str = field(default="float32", metadata={"help": "dtype of the saved weights", "choices": ["float32", "float16"]})
    checkpoint_every: int = field(default=500, metadata={"help": "steps between resumable checkpoints"})
    snapshot_every: int = field(default=0, metadata={
        "help": "save the UNet's (EMA) weights as a loadable model folder <out>/snapshots/step-<n>/ every n "
                "steps, float32, for quality curves (0: none)"})
    latent_cache: bool = field(default=True, metadata={
        "help": "encode every training image with the frozen VAE once (posterior mean and std, and their "
                "mirror images with random_flip) and draw latents from that cache; the same batches as "
                "encoding each step. Memory: 2 × 4 bytes per latent value per image (×2 with flips)"})
    snr_gamma: float = field(default=0.0, metadata={
        "help": "min-SNR-gamma loss weighting (Hang et al. 2023; 5 is their choice; 0: plain MSE)"})
    prediction_type: str = field(default="", metadata={
        "help": "what the UNet predicts; written into the model's scheduler config ('': keep the model's)",
        "choices": ["", "epsilon", "v_prediction"]})
    compile: bool = field(default=False, metadata={"help": "torch.compile the UNet's forward pass"})
    attention: str = field(default="sdpa", metadata={
        "help": "the UNet's attention processor while training: 'sdpa' (diffusers' default, "
                "AttnProcessor2_0) or 'classic' (diffusers' AttnProcessor: baddbmm + softmax); on a CPU "
                "under bf16 autocast, 'classic' makes a step of the embedded UNet about 2x faster (torch's "
                "CPU flash-attention backward dominates the step; benchmarks/train_speed.py). The saved "
                "model is the same either way",
        "choices": ["sdpa", "classic"]})
    seed: int = field(default=0, metadata={"help": "seed of initialisation, shuffling, noise and dropout"})
    lora_rank: int = field(default=0, metadata={
        "help": "train LoRA adapters of this rank on the UNet's attention (peft) instead of all weights; "
                "merged into the saved UNet (0: full fine-tuning)"})
    lora_alpha: float = field(default=0.0, metadata={"help": "LoRA alpha (0: = lora_rank)"})
    model_resolution: int = field(default=0, metadata={
        "help": "model resolution in px when fine-tuning a diffusers model (0: its own, 512 for SD v1.5; "
                "e.g. 256); images are resized (short side) and centre-cropped to it"})

    def __post_init__(self) -> None:
        for name in ("vae_steps", "unet_steps", "warmup_steps"):
            check(getattr(self, name) >= 0, name, "must be >= 0")
        for name in ("vae_batch_size", "batch_size", "epochs", "checkpoint_every", "gradient_accumulation_steps"):
            check(getattr(self, name) >= 1, name, "must be >= 1")
        check(self.lr > 0 and self.vae_lr > 0, "lr", "learning rates must be > 0")
        check(0 <= self.caption_dropout < 1, "caption_dropout", "must be in [0, 1)")
        check(0 <= self.ema_decay < 1, "ema_decay", "must be in [0, 1)")
        check(self.lora_rank >= 0 and self.lora_alpha >= 0, "lora_rank", "LoRA rank and alpha must be >= 0")
        check(self.model_resolution >= 0, "model_resolution", "must be >= 0")
        check(self.max_grad_norm >= 0, "max_grad_norm", "must be >= 0")
        check(self.snapshot_every >= 0, "snapshot_every", "must be >= 0")
        check(self.snr_gamma >= 0, "snr_gamma", "must be >= 0")
        check_choices(self)  # mixed_precision, save_dtype, prediction_type, attention


def _accelerator(config: TrainConfig):
    from accelerate import Accelerator

    from vlcp.run.shards import distributed_state, world_size

    if world_size() > 1:  # join the launch's process group (gloo on machines without CUDA)
        distributed_state()
    return Accelerator(mixed_precision=config.mixed_precision)


class _Batches:
    """Seeded epoch shuffles; process ``rank`` of ``world`` takes every world-th index."""

    def __init__(self, n: int, batch: int, seed: int, rank: int, world: int) -> None:
        self.n, self.batch, self.seed, self.rank, self.world = n, batch, seed, rank, world
        self.per_epoch = max(1, (n // world) // batch)

    def indices(self, step: int) -> np.ndarray:
        epoch, k = divmod(step, self.per_epoch)
        perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)[self.rank::self.world]
        return np.sort(perm[k * self.batch:(k + 1) * self.batch])


def _load_ckpt(ckpt: Path, phase: str, total: int) -> dict | None:
    """The checkpoint state of ``phase`` (None if there is none); a step past ``total`` is an error."""
    from vlcp.files.checkpoint import read_state

    state = read_state(ckpt)
    if state is None or state["phase"] != phase:
        return None
    if state["step"] > total:
        setting = "vae_steps" if phase == "vae" else "unet_steps"
        raise VlcpError(f"{ckpt / 'state.json'}: the {phase} checkpoint is at step {state['step']}, past the "
                        f"requested {total} (setting {setting!r}); ask for at least {state['step']} steps, "
                        f"or use a new --out folder")
    return state


def _save_ckpt(ckpt: Path, acc, state: dict, modules: Mapping[str, Mapping[str, torch.Tensor]], optimizer,
               gen: torch.Generator) -> None:
    """A resumable checkpoint of every process (``vlcp.files.checkpoint``)."""
    from vlcp.files.checkpoint import save_checkpoint

    save_checkpoint(ckpt, state, modules, optimizer, {"train": gen}, rank=acc.process_index,
                    is_main=acc.is_main_process, wait=acc.wait_for_everyone)


def _restore_ckpt(ckpt: Path, acc, state: dict, modules: Mapping[str, torch.nn.Module], optimizer,
                  gen: torch.Generator) -> None:
    """Load weights, optimizer and (version-2 checkpoints) every RNG of this process."""
    from vlcp.files.checkpoint import load_optimizer, load_rng, load_tensors

    for name, m in modules.items():
        m.load_state_dict(load_tensors(ckpt, state, name))
    load_optimizer(ckpt, state, optimizer)
    load_rng(ckpt, state, {"train": gen}, rank=acc.process_index)


def train(model: LatentDiffusion, dataset: ImageDataset, captions: Mapping[str, str], out_dir: str | Path,
          config: TrainConfig, *, save: Callable[[LatentDiffusion, Path, torch.dtype], None] | None = None,
          progress: bool = True) -> Path:
    """Train ``model`` in place on ``dataset`` with ``captions`` (file_name → text); save it to ``out_dir``.

    ``save(model, folder, dtype)`` writes a model folder (default: ``vlcp.models.embedded.save_generator``):
    the final model in ``save_dtype``, snapshots in float32. Returns ``out_dir``. An interrupted run
    restarts from ``<out_dir>/checkpoint/``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [dataset.file_name(i) for i in range(len(dataset))]
    missing = [n for n in names if n not in captions]  # every image, before any training
    if missing:
        raise VlcpError(f"captions: no caption for {len(missing)} training image(s), e.g. {missing[0]!r} "
                        f"(caption the same dataset first)")
    save_config(config, out_dir / "train.toml")
    if save is None:
        from vlcp.models.embedded import save_generator as save
    acc = _accelerator(config)
    adapter = model.adapter(dataset.resolution, dataset.channels)
    ckpt = out_dir / "checkpoint"
    if config.vae_steps:
        _train_vae(model, dataset, adapter, config, acc, ckpt, progress)
    steps = config.unet_steps or max(1, config.epochs * max(1, (len(dataset) // acc.num_processes) // config.batch_size)
                                     // config.gradient_accumulation_steps)
    if config.prediction_type:
        model.scheduler.register_to_config(prediction_type=config.prediction_type)
    snapshot = lambda step: save(model, out_dir / "snapshots" / f"step-{step}", torch.float32)  # noqa: E731
    with _attention(model.unet, config.attention):
        _train_unet(_UnetRun(model, dataset, names, captions, adapter, config, acc, ckpt, steps, progress, snapshot))
    if acc.is_main_process:
        save(model, out_dir, torch.float16 if config.save_dtype == "float16" else torch.float32)
    acc.wait_for_everyone()
    return out_dir


@contextmanager
def _attention(unet, kind: str):
    """Train with ``kind``'s attention processor, then give the UNet its own processors back."""
    if kind == "sdpa":
        yield
        return
    from diffusers.models.attention_processor import AttnProcessor

    own = unet.attn_processors
    unet.set_attn_processor(AttnProcessor())
    try:
        yield
    finally:
        unet.set_attn_processor(own)


def _train_vae(model, dataset, adapter, config, acc, ckpt, progress) -> None:
    vae = model.vae.train().requires_grad_(True)
    opt = torch.optim.AdamW(vae.parameters(), lr=config.vae_lr, weight_decay=0.0, foreach=True)
    final = ckpt / "vae_final.safetensors"
    if final.exists():  # the VAE phase finished before an interruption
        from safetensors.torch import load_file

        vae.load_state_dict(load_file(str(final)))
        vae.register_to_config(scaling_factor=read_json(ckpt / "vae_final.json")["scaling_factor"])
        model.vae = vae.eval().requires_grad_(False)
        return
    vae_p, opt = acc.prepare(vae, opt)
    batches = _Batches(len(dataset), config.vae_batch_size, config.seed, acc.process_index, acc.num_processes)
    state = _load_ckpt(ckpt, "vae", config.vae_steps)
    start = state["step"] if state is not None else 0
    gen = torch.Generator().manual_seed(config.seed + 17 * acc.process_index + start)  # (old checkpoints)
    if state is not None:
        _restore_ckpt(ckpt, acc, state, {"vae": acc.unwrap_model(vae_p)}, opt, gen)
    bar = tqdm(range(start, config.vae_steps), desc="train vae", disable=not (progress and acc.is_local_main_process),
               initial=start, total=config.vae_steps)
    for step in bar:
        if config.vae_cosine:  # a function of the step alone: resumes exactly without scheduler state
            for group in opt.param_groups:
                group["lr"] = config.vae_lr * cosine_factor(step, config.vae_steps)
        idx = batches.indices(step)
        x = adapter.to_model(dataset.images(idx)).to(acc.device)
        if config.random_flip:
            from vlcp.data.latent_cache import random_flip

            x = random_flip(x, gen)
        dist = acc.unwrap_model(vae_p).encode(x).latent_dist
        z = dist.mean + dist.std * torch.randn(dist.mean.shape, generator=gen).to(acc.device)
        recon = acc.unwrap_model(vae_p).decode(z).sample
        loss = F.mse_loss(recon.float(), x.float()) + config.kl_weight * dist.kl().mean()
        acc.backward(loss)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
        if (step + 1) % config.checkpoint_every == 0:
            _save_ckpt(ckpt, acc, {"phase": "vae", "step": step + 1}, {"vae": acc.unwrap_model(vae_p).state_dict()},
                       opt, gen)
    vae = acc.unwrap_model(vae_p).eval().requires_grad_(False)
    vae.register_to_config(scaling_factor=_latent_scaling(vae, dataset, adapter, acc.device, config.seed))
    model.vae = vae
    if acc.is_main_process:  # the JSON first: the weights file marks the phase as finished
        from vlcp.files.tensors import save_safetensors

        atomic_write_json(ckpt / "vae_final.json", {"scaling_factor": float(vae.config.scaling_factor)})
        save_safetensors(final, {k: v.contiguous() for k, v in vae.state_dict().items()})


@torch.no_grad()
def _latent_scaling(vae, dataset, adapter, device, seed: int, n: int = 2048) -> float:
    """1 / std of the latents of ``n`` random training images (how SD's 0.18215 was chosen)."""
    idx = np.sort(np.random.default_rng(seed).choice(len(dataset), size=min(n, len(dataset)), replace=False))
    z = torch.cat([vae.encode(adapter.to_model(dataset.images(idx[i:i + 256])).to(device)).latent_dist.mean
                   for i in range(0, len(idx), 256)])
    return float(1.0 / z.float().std())


def _lr_lambda(config: TrainConfig, steps: int):
    def f(step: int) -> float:
        warm = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
        if not config.cosine:
            return warm
        progress = min(1.0, max(0, step - config.warmup_steps) / max(1, steps - config.warmup_steps))
        return warm * cosine_factor(progress, 1)
    return f


def predict_by_length(unet, noisy: torch.Tensor, t: torch.Tensor, contexts: list[torch.Tensor]) -> torch.Tensor:
    """UNet predictions with each sample's own context (L_i, D): one UNet call per context length, so
    a short caption is never extended with empty-prompt chunks because of a longer one in its batch."""
    pred = None
    for length in dict.fromkeys(c.shape[0] for c in contexts):
        rows = [i for i, c in enumerate(contexts) if c.shape[0] == length]
        ctx = torch.stack([contexts[i] for i in rows]).to(noisy.device)
        out = unet(noisy[rows], t[rows], encoder_hidden_states=ctx).sample
        pred = out.new_empty(noisy.shape) if pred is None else pred
        pred[rows] = out
    return pred


def _latent_source(model, dataset, adapter, config, acc):
    """The cache of every image's posterior (``latent_cache``), else the VAE encoding each batch."""
    from vlcp.data.latent_cache import LatentCache, OnTheFlyLatents

    vae = model.vae.to(acc.device).eval().requires_grad_(False)
    kwargs = dict(flip=config.random_flip, sample=config.sample_latents, device=acc.device)
    if not config.latent_cache:
        return OnTheFlyLatents(vae, dataset, adapter, **kwargs)
    return LatentCache.encode(vae, dataset, adapter, **kwargs)


def _targets(noise_sched, z: torch.Tensor, gen: torch.Generator, device):
    """Noisy latents, timesteps and the regression target (noise, or velocity for v-prediction)."""
    noise = torch.randn(z.shape, generator=gen).to(device, z.dtype)
    t = torch.randint(0, noise_sched.config.num_train_timesteps, (len(z),), generator=gen).to(device)
    noisy = noise_sched.add_noise(z, noise, t)
    target = noise_sched.get_velocity(z, noise, t) if noise_sched.config.prediction_type == "v_prediction" else noise
    return noisy, t, target


def _loss(pred: torch.Tensor, target: torch.Tensor, t: torch.Tensor, noise_sched, snr_gamma: float) -> torch.Tensor:
    """MSE, weighted per sample by min(SNR, gamma) / SNR (epsilon) or / (SNR + 1) (v) when gamma > 0."""
    if not snr_gamma:
        return F.mse_loss(pred.float(), target.float())
    from diffusers.training_utils import compute_snr

    snr = compute_snr(noise_sched, t).float()
    weight = snr.clamp(max=snr_gamma) / (snr + 1 if noise_sched.config.prediction_type == "v_prediction" else snr)
    per_sample = F.mse_loss(pred.float(), target.float(), reduction="none").mean(dim=tuple(range(1, pred.ndim)))
    return (per_sample * weight).mean()


@dataclass
class _UnetRun:
    """What one UNet training run works with: the model and data, the settings, the accelerator and the
    checkpoint folder; ``snapshot(step)`` writes a snapshot of the model."""

    model: LatentDiffusion
    dataset: ImageDataset
    names: list
    captions: Mapping[str, str]
    adapter: object
    config: TrainConfig
    acc: object
    ckpt: Path
    steps: int
    progress: bool
    snapshot: Callable[[int], None]


def _trainable_unet(model, config: TrainConfig):
    """The UNet in training mode (LoRA adapters when ``lora_rank``) and its trainable parameters."""
    unet = model.unet.train().requires_grad_(not config.lora_rank)
    if config.lora_rank:
        from peft import LoraConfig

        unet.add_adapter(LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha or config.lora_rank,
                                    init_lora_weights="gaussian", target_modules=["to_k", "to_q", "to_v", "to_out.0"]))
    if config.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    return unet, [p for p in unet.parameters() if p.requires_grad]


def _resume_unet(r: _UnetRun, state, unet_p, opt, gen, ema, sched) -> None:
    """Put the checkpoint's weights, optimiser, generator, EMA and schedule back."""
    start = state["step"]
    _restore_ckpt(r.ckpt, r.acc, state, {"unet": r.acc.unwrap_model(unet_p)}, opt, gen)
    if ema is not None and (state.get("dir") or (r.ckpt / "ema.safetensors").exists()):
        from vlcp.files.checkpoint import load_tensors

        ema_state = load_tensors(r.ckpt, state, "ema")
        ema.shadow_params = [ema_state[f"{i}"] for i in range(len(ema.shadow_params))]
        ema.optimization_step = state["step"]
    if "scheduler" in state:
        sched.load_state_dict(state["scheduler"])
    else:  # old checkpoints: replay the schedule
        for _ in range(start):
            sched.step()


def _train_unet(r: _UnetRun) -> None:
    from diffusers.training_utils import EMAModel

    config, acc = r.config, r.acc
    r.model.text_encoder.to(acc.device)
    text = CachedTextEncoder(r.model.text_encoder)
    unet, params = _trainable_unet(r.model, config)
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=1e-2, foreach=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(config, r.steps))
    ema = EMAModel(params, decay=config.ema_decay, foreach=True) if config.ema_decay else None
    unet_p, opt = acc.prepare(unet, opt)
    forward = torch.compile(unet_p) if config.compile else unet_p
    batches = _Batches(len(r.dataset), config.batch_size, config.seed, acc.process_index, acc.num_processes)
    state = _load_ckpt(r.ckpt, "unet", r.steps)
    start = state["step"] if state is not None else 0
    gen = torch.Generator().manual_seed(config.seed + 1000 + 17 * acc.process_index + start)  # (old checkpoints)
    if state is not None and start > 0:
        _resume_unet(r, state, unet_p, opt, gen, ema, sched)
    if ema is not None:  # shadow weights live with the (prepared) UNet, e.g. on the GPU
        ema.to(acc.device)
    latents = _latent_source(r.model, r.dataset, r.adapter, config, acc) if start < r.steps else None
    bar = tqdm(range(start, r.steps), desc="train unet", disable=not (r.progress and acc.is_local_main_process),
               initial=start, total=r.steps)
    t0 = time.time()
    for step in bar:
        loss = _unet_step(r, step, batches, latents, gen, text, forward)
        if config.max_grad_norm:
            acc.clip_grad_norm_(params, config.max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if ema is not None:
            ema.step(params)
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
        _unet_checkpoints(r, step, unet_p, ema, params, opt, gen, sched, t0)
    _finish_unet(r, acc.unwrap_model(unet_p), ema, params)


def _unet_step(r: _UnetRun, step: int, batches, latents, gen, text, forward) -> torch.Tensor:
    """The forward and backward passes of one optimiser step (its gradient-accumulation micro-batches);
    returns the last micro-batch's loss."""
    config, noise_sched = r.config, r.model.scheduler
    scale = float(r.model.vae.config.scaling_factor)
    accum = config.gradient_accumulation_steps
    for micro in range(step * accum, (step + 1) * accum):
        idx = batches.indices(micro)
        with torch.no_grad():
            z = latents.draw(idx, gen) * scale
            drop = torch.rand(len(idx), generator=gen) < config.caption_dropout
            prompts = ["" if d else r.captions[r.names[i]] for i, d in zip(idx, drop.tolist())]
            noisy, t, target = _targets(noise_sched, z, gen, r.acc.device)
        with r.acc.autocast():
            pred = predict_by_length(forward, noisy, t, text.encode_each(prompts))
        loss = _loss(pred, target, t, noise_sched, config.snr_gamma)
        r.acc.backward(loss / accum)
    return loss


def _unet_checkpoints(r: _UnetRun, step: int, unet_p, ema, params, opt, gen, sched, t0: float) -> None:
    """The checkpoint and the snapshot due after ``step``, if any."""
    config, acc = r.config, r.acc
    if (step + 1) % config.checkpoint_every == 0:
        mods = {"unet": acc.unwrap_model(unet_p).state_dict()}
        if ema is not None:
            mods["ema"] = {f"{i}": p for i, p in enumerate(ema.shadow_params)}
        _save_ckpt(r.ckpt, acc, {"phase": "unet", "step": step + 1, "seconds": time.time() - t0,
                                 "scheduler": sched.state_dict()}, mods, opt, gen)
    if config.snapshot_every and (step + 1) % config.snapshot_every == 0 and acc.is_main_process:
        _snapshot(r.model, acc.unwrap_model(unet_p), ema, params, lambda: r.snapshot(step + 1))


def _finish_unet(r: _UnetRun, unet, ema, params) -> None:
    """The trained UNet into the model: EMA weights in place, LoRA merged, in eval mode."""
    if ema is not None:
        ema.copy_to(params)
    if r.config.lora_rank:  # merge the adapters: the saved UNet is a plain UNet2DConditionModel
        unet.fuse_lora()
        unet.unload_lora()
    if r.config.gradient_checkpointing:
        unet.disable_gradient_checkpointing()
    r.model.unet = unet.eval().requires_grad_(False)


def _snapshot(model, unet, ema, params, write: Callable[[], None]) -> None:
    """Write the model with the EMA weights in place, then put the training weights back."""
    if ema is not None:
        ema.store(params)
        ema.copy_to(params)
    model.unet = unet
    try:
        write()
    finally:
        if ema is not None:
            ema.restore(params)
