"""Hand-computed cases for each rule of text_prototypes (Algorithm 2, Eqs. 2-5)."""
import pytest

import vlcp.prototypes.text as text_module
from vlcp.prototypes import TextPrototype, default_stop_words, text_prototypes, tokenize

NO_STOP: list[str] = []


def one(captions, class_name="thing", beta=1.0, top_k=30, stop_words=NO_STOP, assignments=None):
    assignments = [0] * len(captions) if assignments is None else assignments
    return text_prototypes(captions, assignments, class_name, beta=beta, top_k=top_k, stop_words=stop_words)


# ---------------------------------------------------------------- tokens
def test_tokens_lowercase_letter_runs_digits_hyphens_underscores():
    assert tokenize("A 2-year-old, well-groomed Dog3 x2y snake_case!") == [
        "a", "year", "old", "well", "groomed", "dog", "x", "y", "snake", "case"]


def test_tokens_capitalised_and_accented_words_stay_whole():
    assert tokenize("Café NAÏVE Éclair façade Brown") == ["café", "naïve", "éclair", "façade", "brown"]
    assert tokenize("dog’s coat") == ["dog", "s", "coat"]


def class_tokens(caps):
    vocab, tok, row = text_module._tokenize_class(caps)
    assert vocab == sorted(vocab)
    out = [[] for _ in caps]
    for t, r in zip(tok.tolist(), row.tolist()):
        out[r].append(vocab[t])
    return out


@pytest.mark.parametrize("caps", [
    ["The 2-year-old DOG_s, well-groomed.", "Brown dog", "x\ty\nz", "123", "Dog"],   # ASCII only
    ["Une Café crème", "dog’s coat", "ΟΔΟΣ ΟΔΟΣ'Α", "İstanbul", "no\u00a0break", "3 Kelvin \u212a",
     "e\u0301clair", "🐕dog🐕", "ß STRASSE", "x"],                                          # non-ASCII
    ["nul\x00inside", "Café"],                                                           # NUL: slow path
    ["lone \ud800 surrogate", "dog"],
])
def test_class_tokeniser_gives_the_regex_tokens(caps):
    assert class_tokens(caps) == [tokenize(c) for c in caps]


def test_digits_and_hyphens_in_counts():
    [p] = one(["2-year-old dog", "year 2024 old-dog"], class_name="cat")
    assert p.keywords == [("dog", 2), ("old", 2), ("year", 2)]


# ---------------------------------------------------------------- Rw (Eq. 3): counts, ordering, ties
def test_counts_are_total_occurrences_and_ties_at_top_k_boundary_are_alphabetical():
    caps = ["zebra apple mango apple", "mango kiwi", "pear"]
    # counts: apple 2, mango 2, kiwi 1, pear 1, zebra 1 -> top 3: apple, mango, then kiwi (< pear < zebra)
    [p] = one(caps, top_k=3)
    assert p.keywords == [("apple", 2), ("mango", 2), ("kiwi", 1)]
    [p] = one(caps, top_k=4)
    assert p.keywords == [("apple", 2), ("mango", 2), ("kiwi", 1), ("pear", 1)]
    [p] = one(caps, top_k=100)
    assert [w for w, _ in p.keywords] == ["apple", "mango", "kiwi", "pear", "zebra"]


def test_keyword_boundary_decides_the_winner():
    # counts: b 3, a 2, c 2 -> top_k=2 keeps b and a (a < c), so the caption with "a" wins
    caps = ["b b c c", "b a a"]
    [p] = one(caps, top_k=2)
    assert p.keywords == [("b", 3), ("a", 2)]
    assert p.index == 1 and p.score == 5  # b (3) + a (2); caption 0 scores b only (3)
    [p] = one(caps, top_k=3)
    assert p.index == 0 and p.score == 5  # b + c = 5 ties b + a = 5 -> earlier caption


# ---------------------------------------------------------------- score (Eqs. 4-5)
def test_score_counts_distinct_words_once():
    caps = ["red red red red", "red blue"]
    # counts: red 5, blue 1. caption 0 -> 5 (red once), caption 1 -> 6
    [p] = one(caps)
    assert p.keywords == [("red", 5), ("blue", 1)]
    assert (p.index, p.score) == (1, 6)


def test_ties_in_score_go_to_the_earlier_caption():
    caps = ["red car", "blue car", "red blue"]  # every word count 2, every caption scores 4
    [p] = one(caps)
    assert (p.index, p.text, p.score) == (0, "red car", 4)
    caps = ["green", "red car", "blue car", "red blue"]  # green scores 1; the three others tie at 4
    [p] = one(caps)
    assert (p.index, p.score) == (1, 4)


def test_whole_token_match_not_substring():
    # official substring test would credit "tail" inside "details" and "dog" inside "hotdogs"
    caps = ["a tail", "a tail", "many details hotdogs here"]
    [p] = one(caps, stop_words=["a", "many", "here"])
    assert p.keywords == [("tail", 2), ("details", 1), ("hotdogs", 1)]
    assert p.index == 0 and p.score == 2


def test_capitalised_words_match_in_the_score():
    caps = ["Brown fur.", "a brown dog", "Brown BROWN"]
    [p] = one(caps, stop_words=["a"], class_name="dog")
    assert p.keywords == [("brown", 4), ("fur", 1)]
    assert (p.index, p.score) == (0, 5)


def test_accented_words_count_and_score():
    caps = ["Un café noir", "CAFÉ crème", "the naïve cafe"]
    [p] = one(caps, stop_words=["un", "the"])
    assert p.keywords == [("café", 2), ("cafe", 1), ("crème", 1), ("naïve", 1), ("noir", 1)]
    assert p.index == 0  # café (2) + noir (1) = 3 ties café + crème = 3 -> earlier


def test_all_zero_scores_return_the_first_caption_never_empty():
    caps = ["The dog.", "a DOG", "dog, the dog"]
    [p] = one(caps, class_name="dog", stop_words=default_stop_words())
    assert p.keywords == [] and p.score == 0
    assert (p.index, p.text) == (0, "The dog.")


def test_captions_without_letters_are_allowed():
    [p] = one(["123 456", "--"])
    assert p.keywords == [] and p.index == 0


# ---------------------------------------------------------------- stop words and class name
def test_default_stop_words_are_the_bundled_nltk_list():
    sw = default_stop_words()
    assert len(sw) == 153 and {"the", "is", "of", "and", "don", "t"} <= sw
    caps = ["the dog is on the grass", "a dog of the field"]
    [p] = text_prototypes(caps, [0, 0], "cat", beta=1.0, top_k=10)
    assert p.keywords == [("dog", 2), ("field", 1), ("grass", 1)]


def test_custom_stop_words_are_lowercased_and_replace_the_default():
    caps = ["the grass and THE field", "grass"]
    [p] = one(caps, stop_words=["The", "GRASS"])
    assert p.keywords == [("and", 1), ("field", 1)]


def test_class_name_tokens_are_removed_by_token_not_substring():
    caps = ["Saluki hounds sal gazelle", "a saluki HOUND hounds", "gazelle-hound"]
    [p] = one(caps, class_name="Saluki, gazelle hound", stop_words=["a"])
    # saluki, gazelle, hound go; "hounds" and "sal" stay (the official substring test drops both)
    assert p.keywords == [("hounds", 2), ("sal", 1)]


# ---------------------------------------------------------------- N (Eq. 2) and beta
def ten_captions():
    caps = []
    for i in range(10):
        words = ["dog"]
        if i < 7:
            words.append("white")   # in exactly 7 of 10
        if i < 8:
            words.append("long")    # in 8 of 10
        if i < 3:
            words.append("spotted")  # in 3 of 10
        words += ["the", "the"]      # stop word in all
        words.append(f"w{chr(97 + i)}")  # unique word per caption ("wa", "wb", ...)
        caps.append(" ".join(words))
    return caps


def test_beta_boundary_word_in_exactly_beta_of_captions_stays():
    caps = ten_captions()
    [p] = one(caps, beta=0.7, stop_words=["the"], class_name="cat")
    assert p.nonrepresentative == ["dog", "long"]   # 10/10 and 8/10 > 0.7; white (7/10) stays; "the" is a stop word
    assert dict(p.keywords)["white"] == 7
    assert "long" not in dict(p.keywords) and "dog" not in dict(p.keywords)


def test_beta_boundary_with_inexact_float():
    caps = ten_captions()
    [p] = one(caps, beta=0.3, stop_words=["the"], class_name="cat")
    assert "spotted" not in p.nonrepresentative and dict(p.keywords)["spotted"] == 3
    [p] = one(caps, beta=0.29, stop_words=["the"], class_name="cat")
    assert "spotted" in p.nonrepresentative


def test_beta_one_makes_n_empty_and_n_is_computed_over_the_whole_class():
    caps = ten_captions()
    [p] = one(caps, beta=1.0, stop_words=["the"])
    assert p.nonrepresentative == []
    # "white" is in 7/10 class captions but in every caption of cluster 0: N is class-wide
    assign = [0] * 7 + [1] * 3
    protos = text_prototypes(caps, assign, "cat", beta=0.75, top_k=5, stop_words=["the"])
    assert protos[0].nonrepresentative == ["dog", "long"]
    assert dict(protos[0].keywords)["white"] == 7


# ---------------------------------------------------------------- output shape
def test_one_result_per_cluster_present_in_increasing_id_order():
    caps = ["red fox", "blue whale", "red panda", "green frog", "blue jay"]
    protos = text_prototypes(caps, [9, 2, 9, 5, 2], "animal", beta=1.0, top_k=3, stop_words=[])
    assert [p.cluster for p in protos] == [2, 5, 9]
    assert [p.size for p in protos] == [2, 1, 2]
    assert [p.index for p in protos] == [1, 3, 0]
    assert all(isinstance(p, TextPrototype) for p in protos)
    p = protos[0]
    assert p.text == caps[p.index] and p.keywords == [("blue", 2), ("jay", 1), ("whale", 1)]
    assert p.to_dict()["keywords"] == [["blue", 2], ["jay", 1], ["whale", 1]]


def test_empty_input_gives_no_prototypes():
    assert text_prototypes([], [], "dog", beta=0.5, top_k=3) == []


# ---------------------------------------------------------------- argument errors
@pytest.mark.parametrize("beta", [0, 0.0, -0.1, 1.0001, 2, float("nan")])
def test_beta_outside_0_1_raises(beta):
    with pytest.raises(ValueError, match="beta"):
        text_prototypes(["a dog"], [0], "dog", beta=beta, top_k=3)


@pytest.mark.parametrize("top_k", [0, -1, 2.5])
def test_bad_top_k_raises(top_k):
    with pytest.raises(ValueError, match="top_k"):
        text_prototypes(["a dog"], [0], "dog", beta=0.5, top_k=top_k)


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="length"):
        text_prototypes(["a dog", "a cat"], [0], "dog", beta=0.5, top_k=3)


@pytest.mark.parametrize("empty", ["", "   ", "\n"])
def test_empty_caption_raises(empty):
    with pytest.raises(ValueError, match="caption 1 is empty"):
        text_prototypes(["a dog", empty], [0, 0], "dog", beta=0.5, top_k=3)


def test_bad_assignments_raise():
    with pytest.raises(ValueError, match="cluster ids"):
        text_prototypes(["a dog"], [-1], "dog", beta=0.5, top_k=3)
    with pytest.raises(ValueError, match="integer"):
        text_prototypes(["a dog"], [0.5], "dog", beta=0.5, top_k=3)


def test_module_docstring_states_the_deliberate_differences():
    doc = text_module.__doc__
    assert "substring" in doc and ">=" in doc and "class name" in doc and "empty" in doc
