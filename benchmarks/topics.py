"""``make bench-topics``: fit time, coherence and stability of the topics stage on 5,000 units.

Units are built from real Dutch text: runs of 2-4 consecutive sentences drawn (seeded) from
the ParlaMint debate in ``../shared`` (else the bundled sample). Above ``small_corpus`` units
the default components are UMAP + HDBSCAN. ``BENCH_UNITS`` changes the size, and
``BENCH_REDUCER`` / ``BENCH_CLUSTERER`` / ``BENCH_EMBEDDING`` the components. The timing runs
on tfidf unless ``BENCH_EMBEDDING`` says otherwise: e5 costs ~300 tokens per CPU-second, about
40 CPU-minutes for 5,000 units, once (then cached).

Then the quality of each embedding backend on hand-labelled units of the same debate
(:mod:`benchmarks.embeddings`); ``BENCH_QUALITY=0`` skips it.
"""

from __future__ import annotations

import os
import random
import time

import pandas as pd

from benchmarks.nlp import dutch_texts
from pipeline.core.config import StudyConfig, TopicsConfig
from pipeline.core.schemas import SEGMENTS
from pipeline.language.parse import load_pipeline
from pipeline.nlp import analyse
from pipeline.topics.model import documents, fit_topics
from pipeline.topics.outputs import quality


def sentences() -> tuple[list[str], str]:
    texts, source = dutch_texts()
    nlp, _ = load_pipeline("none-blank", "nl")
    found = [s.text for doc in nlp.pipe(texts) for s in doc.sents if len(s) > 3]
    return found, source


def units(pool: list[str], n: int, seed: int = 0) -> pd.DataFrame:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        start = rng.randrange(len(pool))
        text = " ".join(pool[start : start + rng.randint(2, 4)])
        rows.append(
            {
                "recording_id": "bench",
                "group": "g",
                "segment_id": f"bench-{i:05d}",
                "start": float(i),
                "end": float(i + 1),
                "overlap": 0.0,  # each turn starts as the previous ends
                "speaker": f"P{i % 12:02d}",
                "role": "participant",
                "text": text,
                "source": "bench",
            }
        )
    return pd.DataFrame(rows, columns=SEGMENTS.names)


def main() -> None:
    n = int(os.environ.get("BENCH_UNITS", "5000"))
    pool, source = sentences()
    segments = units(pool, n)
    nlp, _ = load_pipeline("none-blank", "nl")
    _, tokens = analyse(segments, nlp)
    cfg = TopicsConfig(
        reducer=os.environ.get("BENCH_REDUCER", "auto"),
        clusterer=os.environ.get("BENCH_CLUSTERER", "auto"),
        embedding=os.environ.get("BENCH_EMBEDDING", "tfidf"),
    )
    docs = documents(segments, tokens, cfg)
    began = time.perf_counter()
    fit_topics(docs, cfg)  # the first fit in a process also compiles numba code (UMAP)
    cold = time.perf_counter() - began
    began = time.perf_counter()
    model = fit_topics(docs, cfg)
    fit = time.perf_counter() - began
    study = StudyConfig(study="bench", groups=["g"], topics=cfg)
    began = time.perf_counter()
    scores = quality(model, study)
    refit = time.perf_counter() - began
    print(
        f"text: {source}, {len(pool)} sentences → {n} units of 2-4 sentences; "
        f"{os.cpu_count()} cores; embedding {cfg.embedding}, reducer {cfg.reducer}, "
        f"clusterer {cfg.clusterer}"
    )
    print(
        f"fit: {fit:.1f} s for {scores['units']} units → {scores['topics']} topics, "
        f"{scores['outlier_share']:.0%} outliers (first fit in this process, with numba "
        f"compilation: {cold:.1f} s)"
    )
    print(f"coherence (mean NPMI of top-10 words): {scores['coherence_npmi_mean']}")
    print(
        f"stability (ARI, seeds {scores['seeds']}): {scores['stability_ari']} "
        f"(second fit + coherence {refit:.1f} s)"
    )
    if os.environ.get("BENCH_QUALITY", "1") != "0":
        from benchmarks import embeddings

        print()
        embeddings.main()


if __name__ == "__main__":
    main()
