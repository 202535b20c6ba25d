"""Text strategies: where each cluster's prompt comes from (the paper's Table 5 ablation).

* ``label`` (L) — the class name alone, as D4M does;
* ``label+keywords`` (L+FK) — the class name followed by the cluster's feature keywords (Rw);
* ``dcs`` (default; Descriptions of Closest Samples) — the text prototype of Algorithm 2;
* ``generated`` (GGS) — a sentence written from the keywords by a text-generation model the
  user names (any ``transformers`` causal LM; greedy decoding, so runs repeat exactly).

A strategy is a factory registered in :data:`STRATEGIES`; called with ``generator=`` it returns
an object with ``prompts(class_name, prototypes) -> list[str]`` (one prompt per prototype).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from vlcp.errors import VlcpError
from vlcp.settings.registry import Registry

from vlcp.prototypes.text import TextPrototype

__all__ = ["STRATEGIES", "PromptStrategy", "KeywordSentenceGenerator", "DEFAULT_TEMPLATE"]


class PromptStrategy(Protocol):
    def prompts(self, class_name: str, prototypes: Sequence[TextPrototype]) -> list[str]: ...


STRATEGIES: Registry[Callable[..., PromptStrategy]] = Registry("text strategy")


def keywords_prompt(class_name: str, proto: TextPrototype) -> str:
    words = [w for w, _ in proto.keywords]
    return ", ".join([class_name, *words])


class _PerPrototype:
    def __init__(self, fn: Callable[[str, TextPrototype], str]) -> None:
        self.fn = fn

    def prompts(self, class_name: str, prototypes: Sequence[TextPrototype]) -> list[str]:
        return [self.fn(class_name, p) for p in prototypes]


@STRATEGIES.register("label")
def _label(generator: Any = None) -> PromptStrategy:
    return _PerPrototype(lambda class_name, p: class_name)


@STRATEGIES.register("label+keywords")
def _label_keywords(generator: Any = None) -> PromptStrategy:
    return _PerPrototype(keywords_prompt)


@STRATEGIES.register("dcs")
def _dcs(generator: Any = None) -> PromptStrategy:
    return _PerPrototype(lambda class_name, p: p.text)


class _Generated:
    def __init__(self, generator: "KeywordSentenceGenerator") -> None:
        self.generator = generator

    def prompts(self, class_name: str, prototypes: Sequence[TextPrototype]) -> list[str]:
        return self.generator.sentences(class_name, [[w for w, _ in p.keywords] for p in prototypes])


@STRATEGIES.register("generated")
def _generated(generator: "KeywordSentenceGenerator | None" = None) -> PromptStrategy:
    if generator is None:
        raise VlcpError("text strategy 'generated' needs a text-generation model (setting 'generator_model')")
    return _Generated(generator)


DEFAULT_TEMPLATE = ("Write one sentence describing a photo of a {class_name} with these features: "
                    "{keywords}.\nSentence:")


class KeywordSentenceGenerator:
    """Writes one sentence per keyword list with a ``transformers`` causal LM (GGS of Table 5).

    Decoding is greedy (deterministic). The sentence is the generated text up to its first
    line break; when the model writes nothing usable the prompt falls back to L+FK
    (class name followed by the keywords). The class name is put in front when the sentence
    does not mention it.
    """

    def __init__(self, model: Any, tokenizer: Any, max_new_tokens: int = 40, template: str = DEFAULT_TEMPLATE) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.template = template
        if getattr(tokenizer, "pad_token", None) is None:
            tokenizer.pad_token = tokenizer.eos_token if tokenizer.eos_token is not None else tokenizer.unk_token
        tokenizer.padding_side = "left"

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, max_new_tokens: int = 40, device: str = "cpu",
                        **kwargs: Any) -> "KeywordSentenceGenerator":
        """Load a causal LM and its tokenizer (a hub id or a local folder) onto ``device``."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(str(name_or_path), **kwargs)
            model = AutoModelForCausalLM.from_pretrained(str(name_or_path), **kwargs)
        except (OSError, ValueError) as e:
            raise VlcpError(f"generator_model {str(name_or_path)!r}: cannot load a causal language model ({e})") from None
        return cls(model.to(device), tokenizer, max_new_tokens=max_new_tokens)

    def sentences(self, class_name: str, keyword_lists: Sequence[Sequence[str]]) -> list[str]:
        import torch

        if not keyword_lists:
            return []
        prompts = [self.template.format(class_name=class_name, keywords=", ".join(kw)) for kw in keyword_lists]
        device = getattr(self.model, "device", "cpu")
        batch = {k: v.to(device) for k, v in self.tokenizer(prompts, return_tensors="pt", padding=True).items()}
        pad_id = self.tokenizer.pad_token_id
        with torch.no_grad():
            out = self.model.generate(**batch, max_new_tokens=self.max_new_tokens, do_sample=False,
                                      pad_token_id=pad_id)
        new = out[:, batch["input_ids"].shape[1]:]
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        result = []
        for kw, text in zip(keyword_lists, texts):
            sentence = " ".join(text.strip().split("\n", 1)[0].split())
            if not any(ch.isalpha() for ch in sentence):
                result.append(", ".join([class_name, *kw]))
            elif class_name.lower() not in sentence.lower():
                result.append(f"{class_name}: {sentence}")
            else:
                result.append(sentence)
        return result
