"""``make bench-nlp``: accuracy and speed of each language backend on real Dutch text.

Accuracy: lemma and UPOS against the hand-annotated gold tokens
(``tests/fixtures/gold_nl_tokens.tsv``, :mod:`benchmarks.gold`) for blank + simplemma, the old
blank + lookup lemmas, Frog with and without its parser, and ``nl_core_news_lg/md`` when
installed. Speed: the ParlaMint debate in ``../shared`` when present, else the bundled sample,
repeated until there are at least ``BENCH_TOKENS`` (default 100,000) words for the spaCy
pipelines and ``BENCH_FROG_WORDS`` (default 30,000: two 2-hour workshops) for Frog, whose
wall and CPU seconds (its child processes') are reported. Run it on an otherwise idle machine;
it is a measurement, not a test.
"""

from __future__ import annotations

import csv
import os
import resource
import time
from pathlib import Path

import pandas as pd
import spacy

from benchmarks import REPO, SAMPLE
from benchmarks.gold import read_gold, score
from pipeline.core import yamlfile
from pipeline.language import frog
from pipeline.language.markers import MarkerSet, default_text, marker_table
from pipeline.language.parse import load_blank, load_lookup, load_pipeline


def dutch_texts() -> tuple[list[str], str]:
    """Real Dutch for benchmarks: the ParlaMint debate in ../shared, else the bundled sample."""
    debate = REPO.parent / "shared" / "data" / "parlamint-nl-toeslagen-2021-06-09" / "turns.tsv"
    if debate.is_file():
        with open(debate, encoding="utf-8", newline="") as handle:
            return [row["text"] for row in csv.DictReader(handle, delimiter="\t")], (
                "ParlaMint-NL 2021-06-09 (toeslagen)"
            )
    lines = (SAMPLE / "raw" / "burgers.txt").read_text(encoding="utf-8")
    return [line.split(":", 1)[-1] for line in lines.splitlines() if ":" in line], "bundled sample"


def bench_segments(n: int, *, speakers_per_group: int = 12) -> pd.DataFrame:
    """``n`` segments of real Dutch in two sessions (burgers, deskundigen), 12 s apart, each
    group with its own speakers: the shared input of the Label Studio and report benchmarks."""
    texts, _ = dutch_texts()
    rows = []
    for i in range(n):
        group = "burgers" if i < n // 2 else "deskundigen"
        offset = 0 if group == "burgers" else speakers_per_group
        rows.append(
            {
                "recording_id": group,
                "group": group,
                "segment_id": f"{group}-{i:05d}",
                "start": 12.0 * i,
                "end": 12.0 * i + 10,
                "overlap": 0.0,  # 2 s of silence between turns
                "speaker": f"P{i % speakers_per_group + offset + 1:02d}",
                "role": "participant",
                "text": texts[i % len(texts)],
                "source": "bench",
            }
        )
    return pd.DataFrame(rows)


def corpus(minimum: int) -> tuple[list[str], str]:
    texts, source = dutch_texts()
    words = sum(len(t.split()) for t in texts)
    copies = max(1, -(-minimum // max(words, 1)))
    return texts * copies, f"{source} x{copies}"


def bench(model: str, texts: list[str]) -> None:
    nlp, info = load_pipeline(model, "nl")
    nlp.pipe(texts[:20])  # warm up
    began = time.perf_counter()
    docs = list(nlp.pipe(texts, batch_size=256))
    parse = time.perf_counter() - began
    tokens = sum(len(doc) for doc in docs)
    data, lines = yamlfile.load_text(default_text("nl") or "")
    spec = yamlfile.parse(MarkerSet, Path("markers.nl.yaml"), data, lines)
    began = time.perf_counter()
    found = marker_table([str(i) for i in range(len(docs))], docs, spec, nlp)
    match = time.perf_counter() - began
    print(
        f"{info.pipeline:<44} {tokens:>8} tokens  parse {tokens / parse:>9,.0f} tok/s"
        f"  markers {tokens / match:>9,.0f} tok/s ({len(found)} matches)"
    )


def accuracy() -> None:
    """Lemma and UPOS accuracy of every available backend on the gold tokens."""
    gold = read_gold()
    texts = list(gold)
    debate = sum(1 for ts in gold.values() for t in ts if t.source.startswith("parlamint"))
    print(f"gold: {sum(len(t) for t in gold.values())} tokens ({debate} debate), {GOLD_NOTE}")
    rows = [
        ("blank + simplemma", load_blank("nl")[0]),
        ("blank + lookup (before)", load_lookup("nl")),
    ]
    for model in ("nl_core_news_lg", "nl_core_news_md"):
        if spacy.util.is_package(model):
            rows.append((model, load_pipeline(model, "nl")[0]))
    for name, nlp in rows:
        docs = dict(zip(texts, nlp.pipe(texts), strict=True))
        _accuracy_line(name, gold, docs)
    binary = frog.find_frog()
    if binary is None:
        print(f"frog: not on PATH ({frog.INSTALL})")
        return
    vocab = spacy.blank("nl").vocab
    for parser in (True, False):
        settings = frog.FrogSettings(binary, parser=parser)
        docs = dict(zip(texts, frog.frog_docs(texts, vocab, settings), strict=True))
        _accuracy_line(f"frog {'+ parser' if parser else 'no parser'}", gold, docs)


GOLD_NOTE = "lemmas compared case-insensitively"


def _accuracy_line(name: str, gold, docs) -> None:
    every, debate = score(gold, docs), score(gold, docs, only="parlamint")
    spoken_lemma = (every.lemma * every.tokens - debate.lemma * debate.tokens) / (
        every.tokens - debate.tokens
    )
    spoken_upos = (every.upos * every.tokens - debate.upos * debate.tokens) / (
        every.tokens - debate.tokens
    )
    print(
        f"  {name:<26} {every}  | debate lemma {debate.lemma:.3f} UPOS {debate.upos:.3f}"
        f" | spoken lemma {spoken_lemma:.3f} UPOS {spoken_upos:.3f}"
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_frog(texts: list[str], *, parser: bool) -> None:
    """Seconds (wall, and CPU of the Frog processes) for ``texts`` with or without parser."""
    binary = frog.find_frog()
    if binary is None:
        return
    vocab = spacy.blank("nl").vocab
    settings = frog.FrogSettings(binary, parser=parser)
    cpu, began = _children_cpu(), time.perf_counter()
    docs = list(frog.frog_docs(texts, vocab, settings))
    wall, cpu = time.perf_counter() - began, _children_cpu() - cpu
    tokens = sum(1 for doc in docs for t in doc if not t.is_space)
    words = sum(len(t.split()) for t in texts)
    print(
        f"frog {'+ parser' if parser else 'no parser':<10} {words:>7} words {tokens:>7} tokens"
        f"  wall {wall:>7.1f} s ({tokens / wall:>6.0f} tok/s)  Frog CPU {cpu:>7.1f} s"
        f" ({tokens / max(cpu, 1e-9):>6.0f} tok/CPU-s), {settings.threads} thread(s),"
        f" batches of {settings.batch_words} words"
    )


def main() -> None:
    accuracy()
    texts, source = corpus(int(os.environ.get("BENCH_TOKENS", "100000")))
    print(f"text: {source}; spaCy {spacy.__version__}; {os.cpu_count()} cores")
    bench("none-blank", texts)  # not an installed package: the blank + simplemma pipeline
    lookup = load_lookup("nl")
    began = time.perf_counter()
    tokens = sum(len(doc) for doc in lookup.pipe(texts, batch_size=256))
    print(f"{'blank + lookup (before)':<44} {tokens:>8} tokens  parse "
          f"{tokens / (time.perf_counter() - began):>9,.0f} tok/s")  # fmt: skip
    for model in ("nl_core_news_lg", "nl_core_news_md"):
        if spacy.util.is_package(model):
            bench(model, texts)
        else:
            print(f"{model} not installed: `python -m spacy download {model}`")
    wanted = int(os.environ.get("BENCH_FROG_WORDS", "30000"))
    frog_texts, frog_source = corpus(wanted)
    counts = [len(text.split()) for text in frog_texts]
    cut = next((i + 1 for i in range(len(counts)) if sum(counts[: i + 1]) >= wanted), len(counts))
    frog_texts = frog_texts[:cut]  # the first turns up to ``wanted`` words
    frog_words = sum(counts[:cut])
    print(f"frog text: {frog_source} ({frog_words} words)")
    for parser in (False, True):
        bench_frog(frog_texts, parser=parser)


if __name__ == "__main__":
    main()
