"""Synthesis throughput of the paper's generator: SD v1.5 img2img from prototype latents, as vlcp runs it.

Builds the full-size Stable Diffusion v1.5 architecture from configs with random weights (UNet
860M, VAE 84M, CLIP ViT-L/14 text encoder 123M parameters; speed does not depend on the weights,
so nothing is downloaded) and times ``vlcp.synthesize.synthesize_batch`` — the stock
``StableDiffusionImg2ImgPipeline`` fed 4-channel prototype latents as ``image``, prompt embeddings
from the long-prompt CLIP encoder (a ~120-token LLaVA-style caption: 2 chunks), the negative
prompt, guidance 10, strength 0.7, 50 steps (35 denoising steps) — at 256 and 512 px in fp16.

For each size it tries batch 1, 2, 4, … (until out of memory, ``--max-batch``, or throughput gains
< 3 %), and prints images/s, seconds/image and peak GPU memory per batch, then batch 1 against the
best batch. ``--json FILE`` writes the numbers.

    python benchmarks/gpu/sd_img2img.py                  # on a GPU: full size, fp16
    python benchmarks/gpu/sd_img2img.py --tiny           # anywhere: tiny configuration, a few seconds

On a machine without CUDA it runs the tiny configuration (float32, 4 steps) so that it is tested.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
TOKENIZER = ROOT / "tests" / "fixtures" / "tiny-clip-tokenizer"  # any CLIP tokenizer: only token counts matter

CAPTION = ("The Saluki, gazelle hound in the image is a large, slender dog with a long, lean body and a long "
           "tail. It has a distinctive shape, with a long head, pointed ears, and a long, curved muzzle. The dog "
           "is standing on a dirt road, and its posture appears alert and attentive. The color of the dog is "
           "predominantly white, with some brown markings on its face and body.")

SD15 = {
    "unet": dict(in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
                 down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                 up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
                 cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32),
    "vae": dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512),
                down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                layers_per_block=2, norm_num_groups=32, sample_size=512, scaling_factor=0.18215),
    "text": dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                 num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768),
}
TINY = {
    "unet": dict(in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(16, 32),
                 down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                 up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                 attention_head_dim=8, norm_num_groups=8),
    "vae": dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16, 16, 16),
                down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                layers_per_block=1, norm_num_groups=8, sample_size=64, scaling_factor=0.18215),
    "text": dict(vocab_size=1000, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                 max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=32),
}


def build(spec: dict, device: str, dtype: torch.dtype):
    """A ``LatentDiffusion`` with random weights from ``spec``'s configs (SD v1.5 or tiny)."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from vlcp.models.clip_text import CLIPTextEncoder
    from vlcp.models.generator import LatentDiffusion

    tok = CLIPTokenizer.from_pretrained(TOKENIZER)
    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel(sample_size=64, **spec["unet"])
        vae = AutoencoderKL(**spec["vae"])
        text = CLIPTextModel(CLIPTextConfig(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                            pad_token_id=tok.pad_token_id, **spec["text"]))
    for m in (unet, vae, text):
        if dtype != torch.float32:
            m.to(dtype)
        m.eval().requires_grad_(False)
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085,
                              beta_end=0.012, clip_sample=False, steps_offset=1)
    return LatentDiffusion(vae, unet, scheduler, CLIPTextEncoder(text, tok), 512, 3)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_batch(model, pipe, size: int, batch: int, config, repeats: int, device: str) -> dict:
    from vlcp.synthesize import synthesize_batch

    side = size // 8
    latents = torch.randn(batch, 4, side, side, generator=torch.Generator().manual_seed(batch))
    prompts = [CAPTION] * batch
    synthesize_batch(pipe, model, latents, prompts, list(range(batch)), config)  # warm-up (kernels, allocator)
    _sync(device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for r in range(repeats):
        out = synthesize_batch(pipe, model, latents, prompts, [r * batch + i for i in range(batch)], config)
    _sync(device)
    seconds = time.perf_counter() - t0
    assert out.shape == (batch, 3, size, size)
    n = batch * repeats
    row = {"size": size, "batch": batch, "images": n, "seconds": round(seconds, 4),
           "images_per_s": round(n / seconds, 4), "s_per_image": round(seconds / n, 4)}
    if device.startswith("cuda"):
        row["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    return row


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiny", action="store_true", help="tiny configuration (the default without CUDA)")
    p.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    p.add_argument("--sizes", type=int, nargs="+", default=None, help="image sides (default: 256 512; tiny: 32 64)")
    p.add_argument("--batches", type=int, nargs="+", default=None,
                   help="batch sizes to try (default: 1 2 4 … --max-batch, stopping when gains end)")
    p.add_argument("--max-batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=None, help="DDIM steps over the full schedule (default: 50; tiny: 4)")
    p.add_argument("--strength", type=float, default=0.7)
    p.add_argument("--guidance", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=None, help="timed calls per batch size (default: 2; tiny: 1)")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    args = p.parse_args(argv)

    from vlcp.synthesize import SynthesizeConfig, make_sampler

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    tiny = args.tiny or not device.startswith("cuda")
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    sizes = args.sizes or ([32, 64] if tiny else [256, 512])
    steps = args.steps or (4 if tiny else 50)
    repeats = args.repeats or (1 if tiny else 2)
    explicit = args.batches is not None
    batches = args.batches or ([1, 2] if tiny else [2 ** i for i in range(12) if 2 ** i <= args.max_batch])
    config = SynthesizeConfig(strength=args.strength, guidance_scale=args.guidance, steps=steps)

    t0 = time.perf_counter()
    model = build(TINY if tiny else SD15, device, dtype)
    build_s = time.perf_counter() - t0
    params = {k: sum(p.numel() for p in m.parameters()) for k, m in
              (("unet", model.unet), ("vae", model.vae), ("text_encoder", model.text_encoder.model))}
    info = {"device": torch.cuda.get_device_name(0) if device.startswith("cuda") else platform.processor() or "cpu",
            "config": "tiny" if tiny else "sd-v1.5", "dtype": str(dtype).replace("torch.", ""), "steps": steps,
            "strength": args.strength, "guidance_scale": args.guidance,
            "prompt_chunks": model.text_encoder.num_chunks(CAPTION), "params": params,
            "build_s": round(build_s, 2), "torch": torch.__version__}
    print(json.dumps(info), flush=True)
    pipe = make_sampler(model)
    rows, summary = [], []
    for size in sizes:
        from vlcp.models.hub import set_resolution

        set_resolution(model, size)
        best = None
        for b in batches:
            try:
                row = time_batch(model, pipe, size, b, config, repeats, device)
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                print(f"{size:>5} px  batch {b:>3}: out of memory", flush=True)
                break
            rows.append(row)
            mem = f"  peak {row['peak_gib']:.2f} GiB" if "peak_gib" in row else ""
            print(f"{size:>5} px  batch {b:>3}: {row['images_per_s']:8.3f} images/s  "
                  f"{row['s_per_image']:8.3f} s/image{mem}", flush=True)
            if best is not None and not explicit and row["images_per_s"] < best["images_per_s"] * 1.03:
                best = max(best, row, key=lambda r: r["images_per_s"])
                break
            best = row if best is None or row["images_per_s"] > best["images_per_s"] else best
        one = next((r for r in rows if r["size"] == size and r["batch"] == 1), None)
        if best and one:
            s = {"size": size, "batch1_images_per_s": one["images_per_s"], "best_batch": best["batch"],
                 "best_images_per_s": best["images_per_s"],
                 "speedup": round(best["images_per_s"] / one["images_per_s"], 3)}
            for key in ("peak_gib",):
                if key in one:
                    s["batch1_peak_gib"], s["best_peak_gib"] = one[key], best[key]
            summary.append(s)
            print(f"{size:>5} px  batch 1 {one['images_per_s']:.3f} images/s  vs  best batch {best['batch']} "
                  f"{best['images_per_s']:.3f} images/s  ({s['speedup']:.2f}x)", flush=True)
    result = {"info": info, "rows": rows, "summary": summary}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
