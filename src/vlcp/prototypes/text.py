"""Text prototypes (paper Sec. 3.3.2, Algorithm 2, Eqs. 2-5): one representative caption per cluster.

For one class, given its inlier captions and their cluster ids:

* **Tokens** — each caption is lowercased and split into maximal runs of letters
  (regex ``[^\\W\\d_]+``: Unicode letters, so accented words stay whole; digits, ``_``,
  hyphens and punctuation separate words).
* **N** (Eq. 2, non-representative words) — words whose document frequency in the class
  (the number of the class's captions that contain the word) divided by the number of captions
  is *strictly* greater than ``beta``. A word in exactly ``beta`` of the captions stays.
* **Cluster counts** — total occurrences of each token over the cluster's captions, leaving
  out stop words, the tokens of the class name, and N.
* **Rw** (Eq. 3) — the ``top_k`` words by count; equal counts are ordered alphabetically
  (Python string order, i.e. by code point).
* **Score** (Eqs. 4-5) — for each caption of the cluster, the sum of the Rw counts of the
  distinct Rw words among its tokens (whole-token match).
* The highest score wins; ties go to the earlier caption, which the caller makes the more
  central one (members nearest the image prototype first). The result is never empty: when
  every score is 0 the first caption wins.

Deliberate differences from the official code (``gen_prototype.py`` of the paper's repository):

1. **Whole-token matching in the score.** The official score tests ``keyword in caption`` on
   the raw caption, a *substring* test: "tail" also matches "details", and a keyword never
   matches a capitalised occurrence ("Brown" at a sentence start). Its running maximum also
   starts at 0 with an empty best caption, so a cluster whose captions all score 0 gets the
   empty string as its prompt. Here the score counts whole tokens of the lowercased caption,
   and the first (most central) caption is returned when every score is 0.
2. **Class-name words removed by token.** The official code drops every word that is a
   *substring* of the class name string (for "Saluki, gazelle hound" that also drops
   "sal", "hou", "a", ...). Here only the class name's own tokens are dropped.
3. **Strict threshold.** The official code puts a word in N when its document frequency is
   ``>= beta * len(class)``; Eq. 2 of the paper says ``>``, which is what is done here.

(The tokeniser differs too, as specified above: the official code keeps NLTK ``word_tokenize``
tokens that are ``isalpha()``, so "well-groomed" or "2-year-old" vanish; here they give
"well", "groomed", "year", "old". No NLTK download is needed.)

Stop words default to NLTK's English list, shipped in ``vlcp/resources/stopwords_en.txt``
(nothing is downloaded). ``TextPrototype.nonrepresentative`` lists N less the stop words.

The implementation is vectorised: a class is tokenised at once (joined, lowercased where
non-ASCII, encoded, ``bytes.translate``-d and split, which gives exactly the regex's tokens;
see ``_tokenize_class``), words get integer ids in alphabetical order (so sorting by count,
then id, orders ties alphabetically), and document frequencies, cluster counts, Rw and the
scores are numpy sorts, ``unique`` and ``bincount`` over the class's tokens.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import chain
from typing import Iterable, Sequence

import numpy as np

__all__ = ["TextPrototype", "text_prototypes", "tokenize", "default_stop_words", "load_stop_words"]

TOKEN_PATTERN = r"[^\W\d_]+"
_TOKEN = re.compile(TOKEN_PATTERN)


def tokenize(text: str) -> list[str]:
    """The words of ``text``: lowercased, maximal runs of letters."""
    return _TOKEN.findall(text.lower())


# Byte table for the fast tokeniser: ASCII letters are kept (A-Z lowercased), bytes >= 0x80 are
# kept (pieces of non-ASCII characters, resolved by the regex afterwards), the NUL separator is
# kept, and every other byte becomes a space. For ASCII text ``[^\W\d_]`` is exactly ``[A-Za-z]``,
# so splitting the translated bytes on spaces gives the regex's tokens.
_SEP = "\x00"
_TABLE = bytes(b if (97 <= b <= 122 or b >= 128 or b == 0) else (b | 0x20 if 65 <= b <= 90 else 32)
               for b in range(256))


def _tokenize_class(captions: Sequence[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Tokenise a class at once: ``(vocab, tok, row)`` with ``vocab`` sorted, ``tok`` the word id
    of every token in reading order and ``row`` the caption it came from.

    Gives exactly ``[tokenize(c) for c in captions]`` (the tests check it against the regex), but
    does the per-token work in C: the captions are joined with NUL separators, lowercased,
    encoded, translated with ``_TABLE`` and split once (non-ASCII captions are lowercased first,
    which is the same as lowercasing caption by caption: a separator breaks every case context). Raw tokens holding non-ASCII bytes (few,
    and only once each per class) are re-split with the regex, which also drops non-letters
    such as ``’`` or a no-break space.
    """
    n = len(captions)
    # Lowercase only the non-ASCII captions (``isascii`` is O(1)); _TABLE lowercases the others.
    joined = f" {_SEP} ".join([c if c.isascii() else c.lower() for c in captions])
    if joined.count(_SEP) != n - 1:  # a caption holds NUL itself: tokenise caption by caption
        return _from_lists([[t.encode("utf-8") for t in tokenize(c)] for c in captions])
    raw = joined.encode("utf-8", "surrogatepass").translate(_TABLE).split()
    raw_vocab = list(set(raw))
    raw_id = dict(zip(raw_vocab, range(len(raw_vocab))))
    raw_tok = np.fromiter(map(raw_id.__getitem__, raw), dtype=np.int64, count=len(raw))
    del raw
    # Raw tokens are ASCII words except the separator and those holding non-ASCII bytes; find
    # the latter without a Python loop over the vocabulary.
    pieces: list[tuple[bytes, ...]] = [(w,) for w in raw_vocab]
    sep_id = raw_id.get(_SEP.encode())
    if sep_id is not None:
        pieces[sep_id] = ()
    if not joined.isascii():
        lens = np.fromiter(map(len, raw_vocab), dtype=np.int64, count=len(raw_vocab))
        high = np.flatnonzero(np.frombuffer(b"".join(raw_vocab), dtype=np.uint8) >= 128)
        for i in np.unique(np.searchsorted(np.cumsum(lens), high, side="right")).tolist():
            pieces[i] = tuple(t.encode("utf-8") for t in _TOKEN.findall(raw_vocab[i].decode("utf-8", "surrogatepass")))
    del raw_id
    vocab_b = sorted({t for p in pieces for t in p})  # UTF-8 byte order is code-point order
    word_id = dict(zip(vocab_b, range(len(vocab_b))))
    lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    flat_ids = np.fromiter((word_id[t] for p in pieces for t in p), dtype=np.int64, count=int(lengths.sum()))
    starts = np.cumsum(lengths) - lengths
    row_raw = np.cumsum(raw_tok == sep_id) if sep_id is not None else np.zeros(len(raw_tok), dtype=np.int64)
    tok_len = lengths[raw_tok]
    if tok_len.max(initial=0) <= 1:  # the usual case: one word per raw token (separators drop out)
        keep = tok_len == 1
        tok = flat_ids[starts[raw_tok[keep]]]
        row = row_raw[keep]
    else:
        rep = np.repeat(np.arange(len(raw_tok)), tok_len)
        within = np.arange(len(rep)) - np.repeat(np.cumsum(tok_len) - tok_len, tok_len)
        tok = flat_ids[starts[raw_tok[rep]] + within]
        row = row_raw[rep]
    return [w.decode("utf-8") for w in vocab_b], tok, row


def _from_lists(toks: list[list[bytes]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    lens = np.fromiter(map(len, toks), dtype=np.int64, count=len(toks))
    flat = list(chain.from_iterable(toks))
    vocab_b = sorted(set(flat))
    word_id = dict(zip(vocab_b, range(len(vocab_b))))
    tok = np.fromiter(map(word_id.__getitem__, flat), dtype=np.int64, count=len(flat))
    row = np.repeat(np.arange(len(toks), dtype=np.int64), lens)
    return [w.decode("utf-8") for w in vocab_b], tok, row


@lru_cache(maxsize=1)
def default_stop_words() -> frozenset[str]:
    """NLTK's English stop-word list (153 words, MIT), shipped in ``vlcp/resources``."""
    text = resources.files("vlcp").joinpath("resources/stopwords_en.txt").read_text("utf-8")
    return frozenset(w.strip().lower() for w in text.splitlines() if w.strip())


def load_stop_words(path: str) -> frozenset[str]:
    """Stop words from a text file, one per line (blank lines and ``#`` comments ignored)."""
    with open(path, encoding="utf-8") as f:
        return frozenset(w.strip().lower() for w in f if w.strip() and not w.lstrip().startswith("#"))


@dataclass(frozen=True)
class TextPrototype:
    """The text prototype of one cluster.

    ``index`` is the chosen caption's position in the ``captions`` passed to
    :func:`text_prototypes`; ``keywords`` is Rw (Eq. 3) as ``(word, count)`` best first;
    ``nonrepresentative`` is the class's N (Eq. 2) less stop words, sorted; ``score`` is the
    chosen caption's score (Eq. 4).
    """

    cluster: int
    index: int
    text: str
    keywords: list[tuple[str, int]]
    nonrepresentative: list[str]
    size: int
    score: int = 0

    def to_dict(self) -> dict:
        return {"cluster": self.cluster, "index": self.index, "text": self.text,
                "keywords": [[w, c] for w, c in self.keywords],
                "nonrepresentative": list(self.nonrepresentative), "size": self.size, "score": self.score}


def _check_inputs(captions: Sequence[str], assignments: Sequence[int], beta: float, top_k: int) -> np.ndarray:
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.floating, np.integer)):
        raise ValueError(f"beta must be a number in (0, 1], got {beta!r}")
    if not (0.0 < float(beta) <= 1.0):
        raise ValueError(f"beta must be in (0, 1], got {beta!r}")
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)):
        raise ValueError(f"top_k must be an integer >= 1, got {top_k!r}")
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k!r}")
    if len(captions) != len(assignments):
        raise ValueError(f"captions and assignments differ in length: {len(captions)} captions, "
                         f"{len(assignments)} assignments")
    for i, c in enumerate(captions):
        if not isinstance(c, str):
            raise ValueError(f"caption {i} is not a string ({type(c).__name__})")
        if not c.strip():
            raise ValueError(f"caption {i} is empty")
    labels = np.asarray(assignments)
    if labels.size == 0:
        return np.zeros(0, dtype=np.int64)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"assignments must be a flat sequence of integer cluster ids, got dtype {labels.dtype}")
    if labels.min() < 0:
        raise ValueError(f"assignments must be cluster ids >= 0, got {int(labels.min())}")
    return labels.astype(np.int64, copy=False)


def _word_flags(vocab: list[str], stop: frozenset[str], class_name: str) -> tuple[np.ndarray, np.ndarray]:
    """(is_stop, in_name): per word id, whether it is a stop word / a word of the class name."""
    n_words = len(vocab)
    word_id = dict(zip(vocab, range(n_words)))
    is_stop = np.zeros(n_words, dtype=bool)
    is_stop[[i for i in map(word_id.get, stop) if i is not None]] = True
    in_name = np.zeros(n_words, dtype=bool)
    in_name[[i for i in map(word_id.get, tokenize(class_name)) if i is not None]] = True
    return is_stop, in_name


def _distinct_pairs(row: np.ndarray, tok: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(caption, word) of each distinct pair of the tokens, sorted by caption then word."""
    key = np.sort(row * stride + tok)
    if len(key):
        first = np.empty(len(key), dtype=bool)
        first[0] = True
        np.not_equal(key[1:], key[:-1], out=first[1:])
        key = key[first]
    return np.divmod(key, stride)


def _cluster_counts(ck: np.ndarray, m: int, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cluster, word, count) triples sorted by (cluster, word) from the keys ``cluster * stride + word``."""
    if m * stride <= 1 << 22:
        dense = np.bincount(ck, minlength=m * stride)
        ckey = np.flatnonzero(dense)
        ccount = dense[ckey]
    else:
        ckey, ccount = np.unique(ck, return_counts=True)
    ccl, cword = np.divmod(ckey, stride)
    return ccl, cword, ccount


def _top_words(ccl: np.ndarray, cword: np.ndarray, ccount: np.ndarray, top_k: int, m: int) -> tuple:
    """Rw (Eq. 3): per cluster the ``top_k`` words by count, descending; equal counts by word id, i.e.
    alphabetically. Returns (cluster, word, count, bounds): cluster c's words are ``bounds[c]:bounds[c + 1]``."""
    order = np.lexsort((cword, -ccount, ccl))
    ccl, cword, ccount = ccl[order], cword[order], ccount[order]
    rank = np.arange(len(ccl)) - np.searchsorted(ccl, ccl)
    top = rank < top_k
    rw_cl, rw_word, rw_count = ccl[top], cword[top], ccount[top]
    return rw_cl, rw_word, rw_count, np.searchsorted(rw_cl, np.arange(m + 1))


def _caption_scores(rw: tuple, cpos: np.ndarray, prow: np.ndarray, ptok: np.ndarray, stride: int,
                    n: int) -> np.ndarray:
    """Scores (Eqs. 4-5): each distinct Rw word of a caption adds its cluster count."""
    rw_cl, rw_word, rw_count, _ = rw
    rw_key = rw_cl * stride + rw_word
    by_key = np.argsort(rw_key)
    rw_key, rw_weight = rw_key[by_key], rw_count[by_key]
    query = cpos[prow] * stride + ptok
    at = np.minimum(np.searchsorted(rw_key, query), max(len(rw_key) - 1, 0))
    hit = rw_key[at] == query if len(rw_key) else np.zeros(len(query), dtype=bool)
    return np.bincount(prow[hit], weights=rw_weight[at[hit]], minlength=n).astype(np.int64)


def _winners(captions: list[str], vocab: list[str], present: np.ndarray, cpos: np.ndarray, scores: np.ndarray,
             rw: tuple, nonrep_words: list[str]) -> list[TextPrototype]:
    """Winner per cluster: highest score, then the earliest caption."""
    n, m = len(captions), len(present)
    _, rw_word, rw_count, rw_bounds = rw
    best = np.lexsort((np.arange(n), -scores, cpos))
    best = best[np.searchsorted(cpos[best], np.arange(m))]
    sizes = np.bincount(cpos, minlength=m)
    out = []
    for c in range(m):
        s, e = rw_bounds[c], rw_bounds[c + 1]
        i = int(best[c])
        out.append(TextPrototype(cluster=int(present[c]), index=i, text=captions[i],
                                 keywords=[(vocab[w], int(k)) for w, k in zip(rw_word[s:e].tolist(), rw_count[s:e].tolist())],
                                 nonrepresentative=list(nonrep_words), size=int(sizes[c]), score=int(scores[i])))
    return out


def text_prototypes(captions: Sequence[str], assignments: Sequence[int], class_name: str, *,
                    beta: float, top_k: int, stop_words: Iterable[str] | None = None) -> list[TextPrototype]:
    """Algorithm 2 for one class: one :class:`TextPrototype` per cluster id present, by increasing id.

    ``captions`` are the class's inlier captions, ``assignments`` their cluster ids; within a
    cluster the caller passes members nearest-to-centre first (ties in score go to the earlier
    caption). ``beta`` is the non-representative threshold of Eq. 2 (in (0, 1]), ``top_k`` the
    size of Rw (Eq. 3). ``stop_words=None`` uses the bundled NLTK English list.
    Raises ``ValueError`` for a ``beta`` outside (0, 1], ``top_k < 1``, mismatched lengths or
    an empty caption.
    """
    captions = list(captions)
    labels = _check_inputs(captions, assignments, beta, top_k)
    n = len(captions)
    if n == 0:
        return []
    stop = default_stop_words() if stop_words is None else frozenset(str(w).lower() for w in stop_words)

    # Tokenise once; word ids follow alphabetical order, so sorting by count, then id, orders
    # equal counts alphabetically.
    vocab, tok, row = _tokenize_class(captions)
    stride = max(len(vocab), 1)
    is_stop, in_name = _word_flags(vocab, stop, class_name)
    # Stop words play no further part (never counted, never listed in N): drop their tokens.
    keep = ~is_stop[tok]
    tok, row = tok[keep], row[keep]

    # Document frequency over the class (Eq. 2) from the distinct (caption, word) pairs.
    prow, ptok = _distinct_pairs(row, tok, stride)
    df = np.bincount(ptok, minlength=len(vocab))
    nonrep = (df / n) > float(beta)
    nonrep_words = [vocab[i] for i in np.flatnonzero(nonrep).tolist()]

    # Cluster counts (Eq. 3's f_c): total occurrences per cluster of the words that are neither
    # stop words, class-name words nor in N; clusters compacted to 0..m-1 in increasing id order.
    present, cpos = np.unique(labels, return_inverse=True)
    cpos = cpos.reshape(-1)
    kept = ~(nonrep | in_name)[tok]
    counts = _cluster_counts(cpos[row[kept]] * stride + tok[kept], len(present), stride)
    rw = _top_words(*counts, top_k, len(present))
    scores = _caption_scores(rw, cpos, prow, ptok, stride, n)
    return _winners(captions, vocab, present, cpos, scores, rw, nonrep_words)
