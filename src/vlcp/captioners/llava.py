"""``llava``: the paper's captioner — a LLaVA model from transformers, asked the paper's prompt.

Any model that loads with ``AutoModelForImageTextToText`` + ``AutoProcessor`` works (default
``llava-hf/llava-1.5-7b-hf``; LLaVA-NeXT, other llava-hf checkpoints, local folders). Each image gets
the prompt ``PAPER_PROMPT`` (or ``prompt``) with ``{CLASSNAME}`` replaced by its class name, in the
processor's chat template. Batches are generated together with left padding, greedy by default
(``temperature`` > 0 samples, seeded), at most ``max_new_tokens`` new tokens; on a GPU the model
runs in bf16 (fp16 where bf16 is missing) unless ``dtype`` says otherwise.

Images reach the processor as the dataset's files are — their own size and aspect — and the processor
decides how to resize, crop or tile them (LLaVA-1.5: short side 336 + centre crop; LLaVA-NeXT: a grid of
tiles chosen by aspect ratio, which a square crop made beforehand would defeat). Datasets without files
(CIFAR's python batches) give their tensors.

Options (``[captioner]`` in a TOML config): ``model``, ``prompt``, ``max_new_tokens``,
``temperature``, ``top_p``, ``seed``, ``device``, ``dtype`` ("auto", "float32", "float16",
"bfloat16"), ``revision``, ``image_size`` (0/unset: the files as they are; N: read square N px images —
short side resized, centre-cropped — instead).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from vlcp.captioners.base import CAPTIONERS, PAPER_PROMPT
from vlcp.errors import VlcpError

DEFAULT_MODEL = "llava-hf/llava-1.5-7b-hf"
# llava-1.5's conversation format, for processors without a chat template
FALLBACK_TEMPLATE = "USER: <image>\n{prompt} ASSISTANT:"


def fill_prompt(template: str, class_name: str) -> str:
    """The prompt for one image: ``{CLASSNAME}`` (or ``{classname}``) replaced by the class name."""
    return template.replace("{CLASSNAME}", class_name).replace("{classname}", class_name)


def _dtype(name: str, device: str) -> torch.dtype:
    if name == "auto":
        if str(device).startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    try:
        return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]
    except KeyError:
        raise VlcpError(f"captioner setting 'dtype': {name!r} is not one of auto, float32, float16, bfloat16") from None


class LlavaCaptioner:
    """Captions images with a vision-language model (see module docstring)."""

    def __init__(self, model: str = DEFAULT_MODEL, prompt: str = PAPER_PROMPT, max_new_tokens: int = 256,
                 temperature: float = 0.0, top_p: float = 1.0, seed: int = 0, device: str = "cpu",
                 dtype: str = "auto", revision: str | None = None, image_size: int | None = None) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        if max_new_tokens < 1:
            raise VlcpError("captioner setting 'max_new_tokens': must be >= 1")
        if temperature < 0:
            raise VlcpError("captioner setting 'temperature': must be >= 0")
        self.name = model
        self.prompt = prompt
        self.max_new_tokens = int(max_new_tokens)
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.seed = int(seed)
        self.device = torch.device(device)
        kw = {"revision": revision} if revision else {}
        try:
            self.processor = AutoProcessor.from_pretrained(model, **kw)
            self.model = AutoModelForImageTextToText.from_pretrained(model, dtype=_dtype(dtype, str(device)), **kw)
        except (OSError, ValueError) as e:
            raise VlcpError(f"captioner model {model!r}: cannot load it with AutoModelForImageTextToText + "
                            f"AutoProcessor — it must be a local folder or a hub id in your Hugging Face cache "
                            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from e
        self.model.to(self.device).eval().requires_grad_(False)
        tok = getattr(self.processor, "tokenizer", None)
        if tok is not None:
            tok.padding_side = "left"  # batched generation: prompts end where generation starts
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
        self.image_size = int(image_size) if image_size else None
        self.reads_source_images = self.image_size is None  # the processor sizes the images (see module docstring)
        self._calls = 0

    def _text(self, class_name: str) -> str:
        prompt = fill_prompt(self.prompt, class_name)
        if getattr(self.processor, "chat_template", None):
            conv = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
            return self.processor.apply_chat_template(conv, add_generation_prompt=True)
        return FALLBACK_TEMPLATE.format(prompt=prompt)

    @torch.no_grad()
    def caption(self, images: torch.Tensor | Sequence, class_names: Sequence[str]) -> list[str]:
        """Captions for ``images`` — (b, C, H, W) floats in [0, 1], or PIL images of any size — one per class name."""
        pil = _to_pil(images)
        texts = [self._text(n) for n in class_names]
        inputs = self.processor(images=pil, text=texts, return_tensors="pt", padding=True)
        inputs = {k: (v.to(self.device, self.model.dtype) if torch.is_floating_point(v) else v.to(self.device))
                  for k, v in inputs.items()}
        gen = {"max_new_tokens": self.max_new_tokens, "do_sample": self.temperature > 0}
        if self.temperature > 0:
            gen.update(temperature=self.temperature, top_p=self.top_p)
            torch.manual_seed(self.seed + self._calls)
        tok = self.processor.tokenizer
        out = self.model.generate(**inputs, **gen, pad_token_id=tok.pad_token_id)
        self._calls += 1
        new = out[:, inputs["input_ids"].shape[1]:]
        return [" ".join(t.split()) for t in self.processor.batch_decode(new, skip_special_tokens=True)]


def _to_pil(images: torch.Tensor | Sequence) -> list:
    """RGB PIL images from a (b, C, H, W) tensor in [0, 1] (greyscale repeated) or from PIL images."""
    from PIL import Image

    if torch.is_tensor(images):
        if images.ndim != 4:
            raise ValueError(f"images must be (b, C, H, W), got {tuple(images.shape)}")
        if images.shape[1] == 1:
            images = images.repeat(1, 3, 1, 1)
        arr = (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        return [Image.fromarray(np.ascontiguousarray(a)) for a in arr]
    return [im.convert("RGB") for im in images]


CAPTIONERS.register("llava")(LlavaCaptioner)  # the class itself: its parameters are the [captioner] keys
