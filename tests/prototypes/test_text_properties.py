"""Property tests (hypothesis) for text_prototypes."""
from hypothesis import given, settings
from hypothesis import strategies as st

from vlcp.prototypes import text_prototypes

from .reference import reference_text_prototypes

WORDS = ["dog", "Dog", "DOG", "brown", "Brown", "grass", "the", "a", "is", "saluki", "hound", "hounds",
         "café", "Café", "naïve", "tail", "details", "run", "running", "2-year-old", "well-groomed",
         "x2y", "snake_case", "white", "long"]
SEPS = [" ", ", ", ". ", "\n", "-", "’", "\u00a0", "\x00"]
STOP = ["the", "a", "is"]

caption = st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPS)), min_size=1, max_size=8).map(
    lambda ws: "".join(w + s for w, s in ws))


@st.composite
def cases(draw):
    n = draw(st.integers(1, 14))
    caps = draw(st.lists(caption, min_size=n, max_size=n))
    ids = draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    beta = draw(st.sampled_from([0.1, 0.25, 0.3, 0.5, 0.7, 1.0]) | st.floats(0.01, 1.0))
    top_k = draw(st.integers(1, 6))
    name = draw(st.sampled_from(["Saluki, gazelle hound", "dog", "brown bear", "Café"]))
    return caps, ids, name, beta, top_k


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=8))
def test_class_tokeniser_matches_the_regex_on_any_text(caps):
    from vlcp.prototypes.text import _tokenize_class, tokenize

    vocab, tok, row = _tokenize_class(caps)
    got = [[] for _ in caps]
    for t, r in zip(tok.tolist(), row.tolist()):
        got[r].append(vocab[t])
    assert got == [tokenize(c) for c in caps]
    assert vocab == sorted(set(vocab))


def key(p):
    return (p.index, p.text, p.keywords, p.nonrepresentative, p.size, p.score)


@settings(max_examples=150, deadline=None)
@given(cases())
def test_matches_the_naive_reference(case):
    caps, ids, name, beta, top_k = case
    got = text_prototypes(caps, ids, name, beta=beta, top_k=top_k, stop_words=STOP)
    want = reference_text_prototypes(caps, ids, name, beta, top_k, STOP)
    assert [p.cluster for p in got] == [w["cluster"] for w in want]
    for p, w in zip(got, want):
        assert key(p) == (w["index"], w["text"], w["keywords"], w["nonrepresentative"], w["size"], w["score"])


@settings(max_examples=100, deadline=None)
@given(cases())
def test_chosen_caption_belongs_to_its_cluster(case):
    caps, ids, name, beta, top_k = case
    protos = text_prototypes(caps, ids, name, beta=beta, top_k=top_k)
    assert [p.cluster for p in protos] == sorted(set(ids))
    for p in protos:
        assert ids[p.index] == p.cluster
        assert caps[p.index] == p.text and p.text.strip()
        assert p.size == ids.count(p.cluster)
        assert len(p.keywords) <= top_k
        # the winner scores at least as much as every member, and strictly more than earlier members
        weight = dict(p.keywords)
        from .reference import words
        score = lambda i: sum(weight.get(w, 0) for w in set(words(caps[i])))
        members = [i for i, a in enumerate(ids) if a == p.cluster]
        assert score(p.index) == p.score == max(score(i) for i in members)
        assert all(score(i) < p.score for i in members if i < p.index)


@settings(max_examples=100, deadline=None)
@given(cases(), st.lists(st.integers(1, 50), min_size=5, max_size=5))
def test_independent_of_cluster_numbering_beyond_order(case, gaps):
    caps, ids, name, beta, top_k = case
    # an order-preserving renumbering: 0..4 -> increasing arbitrary ids
    new_id = {}
    acc = -1
    for c, g in zip(range(5), gaps):
        acc += g
        new_id[c] = acc
    a = text_prototypes(caps, ids, name, beta=beta, top_k=top_k)
    b = text_prototypes(caps, [new_id[i] for i in ids], name, beta=beta, top_k=top_k)
    assert [new_id[p.cluster] for p in a] == [p.cluster for p in b]
    assert [key(p) for p in a] == [key(p) for p in b]


@settings(max_examples=50, deadline=None)
@given(cases())
def test_two_runs_give_identical_output(case):
    caps, ids, name, beta, top_k = case
    a = text_prototypes(caps, ids, name, beta=beta, top_k=top_k)
    b = text_prototypes(list(caps), list(ids), name, beta=beta, top_k=top_k)
    assert a == b
    assert [p.to_dict() for p in a] == [p.to_dict() for p in b]
