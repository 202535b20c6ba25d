"""Benchmark: ``vlcp.prototypes.text_prototypes`` over an ImageNet-1K-sized caption corpus.

Corpus (synthetic, generated class by class from a fixed seed, never all in memory): 1,000
classes x 1,300 captions of ~60 words (LLaVA-like: a class-name opening, stop words, a Zipfian
vocabulary, class-wide words that land in N, cluster-specific words, capitals and punctuation),
10 clusters per class.

Two implementations run in two worker processes on the same corpus, class by class in
alternation (so both see the same load on a shared machine):

* ``vlcp`` — ``vlcp.prototypes.text_prototypes`` (vectorised);
* ``port`` — a plain port of the official code's loops (per-caption document-frequency dict,
  ``>=`` threshold, per-cluster second tokenisation, word filter with substring test against
  the class name and list membership for N, ``Counter.most_common``, substring scoring).
  It uses the same regex tokeniser as vlcp instead of NLTK's ``word_tokenize`` (not
  installed here, and slower), so the comparison is about the algorithm, not the tokeniser.

Only the calls are timed (corpus generation is excluded). Peak memory is each worker's peak
resident set (``ru_maxrss``: interpreter + numpy + one class's corpus + the call; its value
before the loop is shown beside it), and the tracemalloc peak of a single call on one class.

Usage (from the repository root)::

    nice .venv/bin/python benchmarks/text_prototypes.py [--classes 1000] [--captions 1300]
        [--words 60] [--clusters 10] [--impl both|vlcp|port] [--markdown FILE]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import resource
import time
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

BETA, TOP_K = 0.7, 30  # the paper's Table 6 / official run-script values (PrototypesConfig defaults)

_SYL = ["ba", "co", "de", "fi", "gu", "ha", "jo", "ki", "lu", "ma", "ne", "po", "ra", "si", "tu", "ve",
        "wo", "xa", "yu", "ze", "bri", "cla", "dro", "fle", "gri", "pla", "sto", "tri", "nd", "st"]
_REAL = ("dog cat bird white black brown grey large small long short slender sleek fluffy tail ears eyes head "
         "legs body coat fur grass grassy field road water tree sitting standing running lying looking "
         "posture shape color colour appearance distinctive features markings pattern curved pointed "
         "elegant graceful alert relaxed attentive predominantly possibly appears background image photo "
         "green blue red yellow orange pink dark light bright shiny smooth rough round flat wide narrow "
         "café naïve façade résumé rôle").split()


def _vocabulary(size: int = 6000) -> list[str]:
    rng = np.random.default_rng(12345)
    words = list(dict.fromkeys(_REAL))
    seen = set(words)
    while len(words) < size:
        w = "".join(rng.choice(_SYL, rng.integers(2, 5)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


class Corpus:
    """Deterministic captions of class ``c``: ``captions(c) -> (captions, assignments, class_name)``."""

    def __init__(self, n_captions: int, n_words: int, n_clusters: int) -> None:
        self.n_captions, self.n_words, self.n_clusters = n_captions, n_words, n_clusters
        self.vocab = np.array(_vocabulary(), dtype=object)
        stop = [w.strip() for w in (Path(__file__).resolve().parents[1] / "src/vlcp/resources/stopwords_en.txt")
                .read_text("utf-8").splitlines() if w.strip()]
        self.stop = np.array(stop[:60], dtype=object)
        p = 1.0 / np.arange(1, len(self.vocab) + 1) ** 1.05
        self.cdf = np.cumsum(p / p.sum())
        ps = 1.0 / np.arange(1, len(self.stop) + 1)
        self.stop_cdf = np.cumsum(ps / ps.sum())

    def captions(self, c: int) -> tuple[list[str], list[int], str]:
        rng = np.random.default_rng(c)
        n, L, k = self.n_captions, self.n_words, self.n_clusters
        name_words = [w.capitalize() for w in self.vocab[rng.integers(200, len(self.vocab), 2)]]
        class_name = f"{name_words[0]}, {name_words[1].lower()} hound"
        common = self.vocab[rng.integers(0, 300, 4)]                         # class-wide words -> N
        cluster_words = self.vocab[rng.integers(100, 3000, (k, 6))]
        assign = np.sort(rng.integers(0, k, n))
        lengths = rng.integers(L - 22, L, n)
        body = self.vocab[np.minimum(np.searchsorted(self.cdf, rng.random((n, L + 12))), len(self.vocab) - 1)]
        stops = self.stop[np.minimum(np.searchsorted(self.stop_cdf, rng.random((n, L + 12))), len(self.stop) - 1)]
        use_stop = rng.random((n, L + 12)) < 0.4
        words = np.where(use_stop, stops, body)
        cl = rng.random((n, L + 12)) < 0.08
        words[cl] = cluster_words[np.repeat(assign, L + 12).reshape(n, -1)[cl], rng.integers(0, 6, cl.sum())]
        punct = rng.random((n, L + 12))
        out = []
        for i in range(n):
            row = words[i, : lengths[i]].tolist()
            for j in np.flatnonzero(punct[i, : lengths[i]] < 0.06):
                row[j] = row[j] + ","
            for j in np.flatnonzero(punct[i, : lengths[i]] > 0.95):
                row[j] = row[j] + "."
                if j + 1 < len(row):
                    row[j + 1] = row[j + 1].capitalize()
            present = [w for w in common if rng.random() < 0.85]
            out.append(f"The {class_name} in the image is a 2-year-old {' '.join(present)} dog. " + " ".join(row) + ".")
        return out, assign.tolist(), class_name


# ---------------------------------------------------------------- the plain port of the official loops
def official_port(captions: list[str], assignments: list[int], class_name: str, beta: float, top_k: int,
                  stop_words: set[str]) -> list[str]:
    """The official text-prototype loops, as described (see the module docstring); returns one text per cluster."""
    from vlcp.prototypes.text import tokenize

    per_cluster: dict[int, list[str]] = defaultdict(list)
    for cap, a in zip(captions, assignments):
        per_cluster[a].append(cap)
    doc_freq: dict[str, int] = defaultdict(int)
    for a in sorted(per_cluster):
        for sentence in per_cluster[a]:
            for word in set(tokenize(sentence)):
                doc_freq[word] += 1
    threshold = beta * len(captions)
    common = [w for w, c in doc_freq.items() if c >= threshold and w not in stop_words]
    name = class_name.lower()
    chosen = []
    for a in sorted(per_cluster):
        descriptions = per_cluster[a]
        all_words: list[str] = []
        for sentence in descriptions:
            all_words.extend(tokenize(sentence))
        filtered = [w for w in all_words if w.isalpha() and w not in stop_words and w not in name and w not in common]
        pairs = Counter(filtered).most_common(top_k)
        best, best_score = "", 0
        for sentence in descriptions:
            score = sum(weight for w, weight in pairs if w in sentence)
            if score > best_score:
                best, best_score = sentence, score
        chosen.append(best)
    return chosen


# ---------------------------------------------------------------- workers: one process per implementation
def _worker(impl: str, n_captions: int, n_words: int, n_clusters: int, conn) -> None:
    """Serve ``class id -> (seconds, chosen texts)``; ``None`` ends with the memory figures."""
    from vlcp.prototypes.text import default_stop_words, text_prototypes

    corpus = Corpus(n_captions, n_words, n_clusters)
    stop = set(default_stop_words())

    def call(caps, assign, name):
        if impl == "vlcp":
            return [p.text for p in text_prototypes(caps, assign, name, beta=BETA, top_k=TOP_K)]
        return official_port(caps, assign, name, BETA, TOP_K, stop)

    call(*corpus.captions(0))  # warm up (imports, caches)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    gen = 0.0
    while (c := conn.recv()) is not None:
        t0 = time.perf_counter()
        caps, assign, name = corpus.captions(c)
        t1, c1 = time.perf_counter(), time.process_time()
        texts = call(caps, assign, name)
        t2, c2 = time.perf_counter(), time.process_time()
        gen += t1 - t0
        conn.send((t2 - t1, c2 - c1, texts))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    caps, assign, name = corpus.captions(0)
    tracemalloc.start()
    call(caps, assign, name)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    conn.send({"peak_rss_mb": rss, "rss_before_mb": rss0, "call_peak_mb": peak / 2**20, "generation_seconds": gen})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--captions", type=int, default=1300)
    ap.add_argument("--words", type=int, default=60)
    ap.add_argument("--clusters", type=int, default=10)
    ap.add_argument("--impl", choices=["both", "vlcp", "port"], default="both")
    ap.add_argument("--markdown", type=Path, help="also write the results as Markdown here")
    args = ap.parse_args()

    impls = ["vlcp", "port"] if args.impl == "both" else [args.impl]
    ctx = mp.get_context("spawn")
    conns, procs = {}, {}
    for impl in impls:
        parent, child = ctx.Pipe()
        procs[impl] = ctx.Process(target=_worker, args=(impl, args.captions, args.words, args.clusters, child))
        procs[impl].start()
        conns[impl] = parent
    seconds = {impl: 0.0 for impl in impls}
    cpu = {impl: 0.0 for impl in impls}
    chosen: dict[str, list] = {impl: [] for impl in impls}
    for c in range(args.classes):  # alternate class by class, so both see the same machine load
        for impl in (impls if c % 2 == 0 else impls[::-1]):
            conns[impl].send(c)
            dt, dc, texts = conns[impl].recv()
            seconds[impl] += dt
            cpu[impl] += dc
            chosen[impl].append(texts)
    res = {}
    for impl in impls:
        conns[impl].send(None)
        res[impl] = dict(conns[impl].recv(), seconds=seconds[impl], cpu=cpu[impl])
        procs[impl].join()

    corpus = Corpus(args.captions, args.words, args.clusters)
    caps, _, _ = corpus.captions(0)
    mean_words = np.mean([len(c.split()) for c in caps])
    non_ascii = np.mean([not c.isascii() for c in caps])
    load = os.getloadavg()
    lines = [f"corpus: {args.classes} classes x {args.captions} captions (~{mean_words:.0f} words, "
             f"{100 * non_ascii:.0f}% of captions non-ASCII), {args.clusters} clusters/class, beta={BETA}, top_k={TOP_K}",
             f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average at the end "
             f"{load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}, Python {platform.python_version()}, numpy {np.__version__}",
             "",
             "| implementation | time in calls (s) | per class (ms) | CPU time in calls (s) | peak RSS of its process (MB) "
             "| RSS before the loop (MB) | tracemalloc peak of one call (MB) |",
             "|---|---|---|---|---|---|---|"]
    for impl, r in res.items():
        label = "vlcp `text_prototypes`" if impl == "vlcp" else "plain port of the official loops"
        lines.append(f"| {label} | {r['seconds']:.1f} | {1000 * r['seconds'] / args.classes:.1f} | {r['cpu']:.1f} | "
                     f"{r['peak_rss_mb']:.0f} | {r['rss_before_mb']:.0f} | {r['call_peak_mb']:.1f} |")
    if len(res) == 2:
        same = sum(x == y for ca, cb in zip(chosen["vlcp"], chosen["port"]) for x, y in zip(ca, cb))
        total = sum(len(ca) for ca in chosen["vlcp"])
        lines += ["", f"speed-up: {res['port']['seconds'] / res['vlcp']['seconds']:.2f}x wall-clock, "
                      f"{res['port']['cpu'] / res['vlcp']['cpu']:.2f}x CPU time; same caption chosen in "
                      f"{same}/{total} clusters ({100 * same / total:.1f}%; they differ on purpose: whole-token vs "
                      f"substring matching, class-name words by token vs substring, > vs >= beta)"]
    lines += ["", f"(corpus generation, not timed: {next(iter(res.values()))['generation_seconds']:.1f} s per process)"]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
