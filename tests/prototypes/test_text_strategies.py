"""Text strategies (Table 5): label, label+keywords, dcs, generated (tiny random causal LM, offline)."""
import json

import pytest

from vlcp.errors import VlcpError
from vlcp.prototypes import STRATEGIES, KeywordSentenceGenerator, PrototypesConfig, read_captions, run_prototypes
from vlcp.prototypes.text import TextPrototype

from .test_prototypes_stage import CFG, CLASSES, make_run

PROTOS = [TextPrototype(cluster=0, index=3, text="A brown Saluki runs on grass.", keywords=[("brown", 9), ("grass", 4)],
                        nonrepresentative=["saluki"], size=10, score=13),
          TextPrototype(cluster=1, index=12, text="A white Saluki sits.", keywords=[], nonrepresentative=["saluki"],
                        size=3, score=0)]


def test_registry_names():
    assert STRATEGIES.names() == ["dcs", "generated", "label", "label+keywords"]
    assert PrototypesConfig().strategy == "dcs"


def test_label_keywords_dcs():
    assert STRATEGIES.get("label")().prompts("Saluki", PROTOS) == ["Saluki", "Saluki"]
    assert STRATEGIES.get("label+keywords")().prompts("Saluki", PROTOS) == ["Saluki, brown, grass", "Saluki"]
    assert STRATEGIES.get("dcs")().prompts("Saluki", PROTOS) == [p.text for p in PROTOS]
    with pytest.raises(VlcpError, match="generator_model"):
        STRATEGIES.get("generated")()
    with pytest.raises(VlcpError, match="unknown text strategy"):
        STRATEGIES.get("gpt")


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    """A 1-layer GPT-2 with random weights and a word-level tokenizer, built offline and saved."""
    torch = pytest.importorskip("torch")
    tokenizers = pytest.importorskip("tokenizers")
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    words = ["[UNK]", "[PAD]", "[EOS]"] + sorted(set(
        "write one sentence describing a photo of with these features : . , saluki gazelle hound brown black "
        "white grass beach snow running fast sitting dog tench golden retriever the in image is on".split()))
    vocab = {w: i for i, w in enumerate(words)}
    tk = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tk.normalizer = tokenizers.normalizers.Lowercase()
    tk.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]")
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(vocab), n_positions=128, n_embd=16, n_layer=1, n_head=2,
                                       bos_token_id=2, eos_token_id=2, pad_token_id=1))
    path = tmp_path_factory.mktemp("tiny_lm")
    tok.save_pretrained(path)
    model.save_pretrained(path)
    return path


def _greedy_by_hand(gen: KeywordSentenceGenerator, prompt: str) -> str:
    """The argmax continuation of one unpadded prompt, token by token, until EOS or max_new_tokens."""
    import torch

    ids = gen.tokenizer(prompt, return_tensors="pt")["input_ids"]
    new = []
    with torch.no_grad():
        for _ in range(gen.max_new_tokens):
            token = int(gen.model(torch.cat([ids, torch.tensor([new], dtype=torch.long)], 1)).logits[0, -1].argmax())
            if token == gen.model.config.eos_token_id:
                break
            new.append(token)
    return gen.tokenizer.decode(new, skip_special_tokens=True)


def _post_process(class_name: str, keywords: list[str], text: str) -> str:
    """The documented rules: first line; no letters → L+FK fallback; class name put in front when missing."""
    sentence = " ".join(text.strip().split("\n", 1)[0].split())
    if not any(ch.isalpha() for ch in sentence):
        return ", ".join([class_name, *keywords])
    return sentence if class_name.lower() in sentence.lower() else f"{class_name}: {sentence}"


def test_generated_sentences_are_the_greedy_continuations(tiny_lm):
    """GGS prompts are the model's greedy sentences: independent of the global random state (no sampling),
    of batching (left padding), and equal to an argmax decode written out by hand."""
    import torch

    gen = KeywordSentenceGenerator.from_pretrained(tiny_lm, max_new_tokens=8)
    strategy = STRATEGIES.get("generated")(generator=gen)
    torch.manual_seed(0)
    a = strategy.prompts("Saluki", PROTOS)
    torch.manual_seed(12345)
    assert strategy.prompts("Saluki", PROTOS) == a and len(a) == 2
    assert [strategy.prompts("Saluki", [p])[0] for p in PROTOS] == a  # one at a time (no padding) == batched
    for proto, got in zip(PROTOS, a):
        keywords = [w for w, _ in proto.keywords]
        prompt = gen.template.format(class_name="Saluki", keywords=", ".join(keywords))
        assert got == _post_process("Saluki", keywords, _greedy_by_hand(gen, prompt))


class _StubTokenizer:
    pad_token, eos_token, unk_token, pad_token_id = "<pad>", "<eos>", "<unk>", 0

    def __call__(self, prompts, return_tensors, padding):
        import torch
        return {"input_ids": torch.zeros((len(prompts), 3), dtype=torch.long),
                "attention_mask": torch.ones((len(prompts), 3), dtype=torch.long)}

    def batch_decode(self, ids, skip_special_tokens):
        return [self.replies[i] for i in range(len(ids))]


class _StubModel:
    def eval(self):
        return self

    def generate(self, input_ids, attention_mask, max_new_tokens, do_sample, pad_token_id):
        import torch
        assert do_sample is False
        return torch.zeros((len(input_ids), 3 + max_new_tokens), dtype=torch.long)


def test_generated_sentence_post_processing():
    tok = _StubTokenizer()
    tok.replies = [" A sleek saluki on sand.\nMore text", "  \n", "running on grass"]
    gen = KeywordSentenceGenerator(_StubModel(), tok, max_new_tokens=4)
    out = gen.sentences("Saluki", [["sleek"], ["brown", "grass"], ["running"]])
    assert out == ["A sleek saluki on sand.", "Saluki, brown, grass", "Saluki: running on grass"]
    assert gen.sentences("Saluki", []) == []


def test_stage_with_generated_strategy(tmp_path, tiny_lm):
    store = make_run(tmp_path)
    caps = read_captions(tmp_path / "captions" / "metadata.jsonl")
    cfg = PrototypesConfig(**CFG, strategy="generated", generator_model=str(tiny_lm), max_new_tokens=6)
    run_prototypes(store, caps, tmp_path / "p", cfg)  # loads the model from config.generator_model
    texts = json.loads((tmp_path / "p" / "text_prototypes.json").read_text())
    assert texts["strategy"] == "generated"
    for cid in CLASSES:
        assert len(texts["classes"][cid]) == 3
        assert all(e["text"].strip() for e in texts["classes"][cid])
    report = json.loads((tmp_path / "p" / "prototype_report.json").read_text())
    row = report["classes"]["n001"]["clusters"][0]
    assert row["prompt"] == texts["classes"]["n001"][0]["text"] and row["text"] == texts["classes"]["n001"][0]["caption"]


def test_generator_model_that_does_not_load_is_a_clear_error(tmp_path):
    with pytest.raises(VlcpError, match="generator_model"):
        KeywordSentenceGenerator.from_pretrained(tmp_path / "missing", local_files_only=True)
