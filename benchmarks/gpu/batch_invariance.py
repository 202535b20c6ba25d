"""Batch invariance of fine-tuning and synthesis at Stable Diffusion v1.5 size (random weights).

Builds an SD v1.5-shaped diffusers folder with random weights (UNet 320/640/1280/1280, CLIP ViT-L
text width 768 × 12 layers, the 4-block VAE; the committed tiny CLIP tokenizer), fine-tunes it a few
steps on captions of 1, 2 and 3 CLIP chunks (``vlcp.train.train``), then

- fine-tuning: UNet predictions of a mixed-length batch (``predict_by_length``) against each sample alone;
- synthesis: ``vlcp.synthesize.synthesize`` of mixed-length prompts at batch sizes 1 and 8;

and prints the largest differences (pixels on [0, 255]; must be ~0: at most 1 from float rounding).

    python benchmarks/gpu/batch_invariance.py --device cuda --out benchmarks/results   # a GPU machine
    python benchmarks/gpu/batch_invariance.py --tiny --out /tmp/bi                        # CPU smoke run
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "paper"))

PROMPTS = ["a grey dog", " ".join(["dog"] * 200), "a dog on grass", " ".join(["dog"] * 90),
           "a small dog", " ".join(["dog"] * 160), "a dog", "a brown dog lying down"]


def make_sd15(folder: Path, seed: int = 0) -> Path:
    """An SD v1.5-shaped diffusers folder with random weights (diffusers' defaults are SD v1.5's UNet/VAE)."""
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from tiny import CLIP_TOKENIZER

    tok = CLIPTokenizer.from_pretrained(CLIP_TOKENIZER)
    torch.manual_seed(seed)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=len(tok), hidden_size=768, intermediate_size=3072,
                                        num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77,
                                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                        pad_token_id=tok.pad_token_id, hidden_act="quick_gelu"))
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, latent_channels=4,
                        sample_size=512, scaling_factor=0.18215)
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768)
    sched = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
                          set_alpha_to_one=False, skip_prk_steps=True, steps_offset=1)
    StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tok, unet=unet, scheduler=sched, safety_checker=None,
                            feature_extractor=None, requires_safety_checker=False).save_pretrained(folder)
    return folder


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="tiny model on the CPU (smoke run)")
    ap.add_argument("--device", default="auto", help="auto: cuda when available, else cpu")
    ap.add_argument("--resolution", type=int, default=256, help="image side (SD size only)")
    ap.add_argument("--train-steps", type=int, default=3)
    ap.add_argument("--synth-steps", type=int, default=10)
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args(argv)
    from safetensors.torch import save_file

    from tiny import make_tiny_sd
    from vlcp.data import TensorDataset
    from vlcp.models import load_model
    from vlcp.models.hub import load_stable_diffusion, save_stable_diffusion
    from vlcp.synthesize import SynthesizeConfig, synthesize
    from vlcp.train import TrainConfig, predict_by_length, train

    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    out = Path(args.out)
    work = out / "batch_invariance_work"
    res = 64 if args.tiny else args.resolution
    t0 = time.time()
    base = make_tiny_sd(work / "sd") if args.tiny else make_sd15(work / "sd")
    model = load_stable_diffusion(str(base), resolution=res, device=device)
    rng = np.random.default_rng(0)
    ds = TensorDataset(rng.integers(0, 255, (len(PROMPTS), 3, res, res), dtype=np.uint8),
                       np.zeros(len(PROMPTS), dtype=np.int64), ["c0"], ["dog"])
    caps = {ds.file_name(i): p for i, p in enumerate(PROMPTS)}
    train(model, ds, caps, work / "model", TrainConfig(unet_steps=args.train_steps, batch_size=4, ema_decay=0.0,
                                                        gradient_accumulation_steps=2, max_grad_norm=1.0,
                                                        checkpoint_every=1000),
          save=save_stable_diffusion, progress=False)
    model = load_model(str(work / "model"), device=device)
    enc = model.text_encoder
    lat_side = res // 8
    g = torch.Generator().manual_seed(1)
    noisy = torch.randn(len(PROMPTS), 4, lat_side, lat_side, generator=g).to(device)
    t = torch.randint(0, 1000, (len(PROMPTS),), generator=g).to(device)
    ctx = [c.to(device) for c in enc.encode_each(PROMPTS)]
    with torch.no_grad():
        batched = predict_by_length(model.unet, noisy, t, ctx)
        alone = torch.cat([model.unet(noisy[i:i + 1], t[i:i + 1], encoder_hidden_states=c[None]).sample
                           for i, c in enumerate(ctx)])
    train_diff = float((batched - alone).abs().max())
    protos = work / "prototypes"
    protos.mkdir(parents=True, exist_ok=True)
    save_file({"c0": torch.randn(len(PROMPTS), 4, lat_side, lat_side, generator=g)}, str(protos / "prototypes.safetensors"))
    (protos / "text_prototypes.json").write_text(json.dumps(
        {"classes": {"c0": [{"cluster": i, "text": p} for i, p in enumerate(PROMPTS)]}}))
    images = []
    for bs in (1, 8):
        folder = synthesize(model, protos, work / f"synth_b{bs}", SynthesizeConfig(steps=args.synth_steps, batch_size=bs),
                            res, 3, progress=False)
        from PIL import Image
        images.append(np.stack([np.asarray(Image.open(folder / "c0" / f"{i}.png"), dtype=np.int16)
                                for i in range(len(PROMPTS))]))
    result = {"model": "tiny" if args.tiny else "SD v1.5-sized, random weights", "device": str(device),
              "resolution": res, "prompt_chunks": [enc.num_chunks(p) for p in PROMPTS],
              "finetune_max_abs_diff": train_diff, "synthesis_max_pixel_diff": int(np.abs(images[0] - images[1]).max()),
              "seconds": round(time.time() - t0, 1), "torch": torch.__version__}
    print(json.dumps(result))
    name = "batch_invariance_tiny.json" if args.tiny else "batch_invariance.json"
    (out / name).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
