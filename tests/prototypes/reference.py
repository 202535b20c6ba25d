"""A deliberately naive implementation of the text-prototype rules, written straight from the
issue text, used as an oracle for the vectorised ``vlcp.prototypes.text_prototypes``."""
from __future__ import annotations

import re
from collections import Counter

WORD = re.compile(r"[^\W\d_]+")


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def reference_text_prototypes(captions, assignments, class_name, beta, top_k, stop_words):
    stop = {w.lower() for w in stop_words}
    toks = [words(c) for c in captions]
    n = len(captions)
    doc_freq = Counter(w for t in toks for w in set(t))
    nonrep = {w for w, d in doc_freq.items() if d / n > beta}
    name = set(words(class_name))
    out = []
    for cid in sorted(set(assignments)):
        idx = [i for i, a in enumerate(assignments) if a == cid]
        counts = Counter(w for i in idx for w in toks[i] if w not in stop and w not in name and w not in nonrep)
        rw = sorted(counts.items(), key=lambda wc: (-wc[1], wc[0]))[:top_k]
        weight = dict(rw)
        scores = [sum(weight.get(w, 0) for w in set(toks[i])) for i in idx]
        best = idx[scores.index(max(scores))]
        out.append({"cluster": cid, "index": best, "text": captions[best], "keywords": rw,
                    "nonrepresentative": sorted(nonrep - stop), "size": len(idx), "score": max(scores)})
    return out
