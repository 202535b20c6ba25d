"""Issue 29, a sharper decoder on the same latents: fine-tune the committed generator's VAE decoder, encoder frozen.

Why: at IPC 50 one denoising step from the medoid (the VAE's round trip of the real medoid) scores 81.21 on
validation against 82.65 for the real medoids (benchmarks/results/fashion_mnist_tuning.md): the VAE's
reconstruction, not the sampler, caps the method there. Training only the decoder (``post_quant_conv`` and
``decoder``) keeps the latent space, so the UNet, the latents and the prototypes stay valid and the new decoder
drops in — the way Stable Diffusion's ft-MSE VAE replaced its decoder alone.

Recipe: v1.0's VAE loss without the KL term (the encoder is frozen): MSE between the images and the decoding of a
posterior sample (mean + std · noise, as the VAE was trained), AdamW at ``--lr`` after a linear warm-up, batch
``--batch``,
on the 55,000 training images outside the validation split, seeded. Every ``--eval-every`` steps: the PSNR of
the posterior mean's decoding on every 5th validation image (1,000 images; the same measure as
benchmarks/vae_quality.py), kept in OUT/curve.json; the best step's decoder is the one written. Resumable
(OUT/checkpoint/: decoder safetensors, optimizer state read with ``weights_only=True``, step).

    nice -n 10 .venv/bin/python benchmarks/finetune_decoder.py --out /work/decoder --steps 3000

OUT/model is then a full generator folder (the committed one with the decoder replaced): pass it as
``--model OUT/model`` to benchmarks/fashion_mnist_tuning.py.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

DECODER_PARTS = ("post_quant_conv", "decoder")


def decoder_state(vae) -> dict[str, torch.Tensor]:
    """The decoder's tensors (``post_quant_conv.*``, ``decoder.*``) of ``vae``'s state dict."""
    return {k: v.detach().clone().contiguous() for k, v in vae.state_dict().items() if k.split(".")[0] in DECODER_PARTS}


def freeze_encoder(vae) -> list[torch.nn.Parameter]:
    """Only the decoder trains; returns its parameters."""
    vae.requires_grad_(False)
    params = []
    for name in DECODER_PARTS:
        part = getattr(vae, name)
        part.requires_grad_(True)
        params += list(part.parameters())
    return params


def decoder_step(vae, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The loss of one batch ``x`` (model space): MSE of the decoding of a posterior sample (encoder frozen),
    its noise drawn from ``generator`` as vlcp.train draws the VAE's."""
    with torch.no_grad():
        dist = vae.encode(x).latent_dist
        z = dist.mean + dist.std * torch.randn(dist.mean.shape, generator=generator)
    return F.mse_loss(vae.decode(z).sample.float(), x.float())


def _checkpoint(ckpt: Path, vae, opt, step: int, curve: list) -> None:
    import io

    from vlcp.files.atomic import atomic_write_bytes, atomic_write_json
    from vlcp.files.tensors import save_safetensors

    save_safetensors(ckpt / "decoder.safetensors", decoder_state(vae))
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    atomic_write_bytes(ckpt / "optimizer.pt", buffer.getvalue())
    atomic_write_json(ckpt / "state.json", {"step": step, "curve": curve})  # last: marks the checkpoint whole


def _resume(ckpt: Path, vae, opt) -> tuple[int, list]:
    from safetensors.torch import load_file

    if not (ckpt / "state.json").exists():
        return 0, []
    vae.load_state_dict(load_file(str(ckpt / "decoder.safetensors")), strict=False)
    opt.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
    state = json.loads((ckpt / "state.json").read_text())
    return state["step"], state["curve"]


def main(argv=None) -> None:
    from safetensors.torch import load_file

    from vlcp.data.config import DataConfig
    from vlcp.files.atomic import atomic_write_json
    from vlcp.files.tensors import save_safetensors
    from vlcp.models.embedded import load_generator, save_generator
    from vae_quality import psnr  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=100, help="linear lr warm-up steps (Adam's first steps are "
                    "lr-sized on every weight: without it the first steps undo a trained decoder)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)  # this script's entry point
    data = DataConfig(holdout_per_class=500)
    train, val = data.load("train"), data.load("val")
    val_images = val.images(np.arange(0, len(val), 5))
    model = load_generator()
    vae, adapter = model.vae.float(), model.adapter(train.resolution, train.channels)
    opt = torch.optim.AdamW(freeze_encoder(vae), lr=args.lr, weight_decay=0.0)
    ckpt = args.out / "checkpoint"
    start, curve = _resume(ckpt, vae, opt)
    if not curve:
        curve = [{"step": 0, "psnr": round(psnr(vae.eval(), adapter, val_images), 3)}]
        print(json.dumps(curve[-1]), flush=True)
    for step in range(start, args.steps):
        step_rng = np.random.default_rng([args.seed, step])  # a function of the step: resumes exactly
        idx = np.sort(step_rng.choice(len(train), args.batch, replace=False))
        x = adapter.to_model(train.images(idx))
        gen = torch.Generator().manual_seed(int(step_rng.integers(2**31)))
        for group in opt.param_groups:
            group["lr"] = args.lr * min(1.0, (step + 1) / args.warmup)
        loss = decoder_step(vae.train(), x, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            curve.append({"step": step + 1, "psnr": round(psnr(vae.eval(), adapter, val_images), 3),
                          "loss": round(loss.item(), 5)})
            print(json.dumps(curve[-1]), flush=True)
            if curve[-1]["psnr"] >= max(c["psnr"] for c in curve):
                save_safetensors(args.out / "best_decoder.safetensors", decoder_state(vae))
            _checkpoint(ckpt, vae, opt, step + 1, curve)
    best = max(curve, key=lambda c: c["psnr"])
    if best["step"] > 0:
        vae.load_state_dict(load_file(str(args.out / "best_decoder.safetensors")), strict=False)
    save_generator(model, args.out / "model", torch.float16)
    atomic_write_json(args.out / "curve.json", {"settings": vars(args) | {"out": str(args.out)}, "curve": curve,
                                                "best": best})
    print(f"best: step {best['step']}, PSNR {best['psnr']} dB (step 0: {curve[0]['psnr']})", flush=True)


if __name__ == "__main__":
    main()
