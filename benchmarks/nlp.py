"""``make bench-nlp``: tokens per second of the nlp stage on real Dutch text.

Text: the ParlaMint debate in ``../shared`` when present, else the bundled sample, repeated
until there are at least ``BENCH_TOKENS`` (default 100,000) tokens. Measures parsing with the
offline blank + lookup pipeline (and ``nl_core_news_md`` when installed) and marker matching.
Run it on an otherwise idle machine; it is a measurement, not a test.
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import pandas as pd
import spacy

from benchmarks import REPO, SAMPLE
from pipeline.core import yamlfile
from pipeline.language.markers import MarkerSet, default_text, marker_table
from pipeline.language.parse import load_pipeline


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


def main() -> None:
    texts, source = corpus(int(os.environ.get("BENCH_TOKENS", "100000")))
    print(f"text: {source}; spaCy {spacy.__version__}; {os.cpu_count()} cores")
    bench("none-blank", texts)  # not an installed package: the blank + lookup pipeline
    if spacy.util.is_package("nl_core_news_md"):
        bench("nl_core_news_md", texts)
    else:
        print("nl_core_news_md not installed: `python -m spacy download nl_core_news_md`")


if __name__ == "__main__":
    main()
