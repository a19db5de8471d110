"""What the topics stage writes next to ``topics.parquet``, and how codebooks guide round 2.

- ``topics_per_group.parquet`` and ``topics_over_time.parquet`` (tenths of each session);
- ``quality.json``: NPMI coherence of each topic's words over the units, and stability: the
  adjusted Rand index between the assignments of two seeds;
- ``figures/``: PNGs of topic sizes per group, topics over session time and a 2-D topic map;
- round 1: ``codebooks/<study>/round-1.candidates.yaml``, each topic a candidate code in the
  codebook format, for analysts to curate into ``round-1.yaml``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from spacy.language import Language

from pipeline.codebook import Codebook, load_round, study_dir
from pipeline.core.config import StudyConfig
from pipeline.core.io import write_table, write_text
from pipeline.core.paths import Workspace
from pipeline.core.schemas import OUTLIER, TOO_SHORT, TOPIC_GROUPS, TOPIC_TIMES
from pipeline.language.fold import fold
from pipeline.language.parse import TermDocs, pipe_terms
from pipeline.topics.model import TopicModel
from pipeline.topics.stability import second_seed_topics

BINS = 10


def npmi(topic_words: list[str], docs: list[set[str]]) -> float:
    """Mean normalised PMI over pairs of a topic's words, by co-occurrence in units.

    NPMI(i, j) = log(P(i,j) / (P(i) P(j))) / -log P(i,j); pairs that never co-occur score -1.
    """
    return npmi_topics([topic_words], [" ".join(d) for d in docs])[0]


def npmi_topics(topics: list[list[str]], docs: list[str]) -> list[float]:
    """:func:`npmi` of each topic's words over the units ``docs`` (space-separated words),
    from one sparse word-presence matrix: P(i) and P(i,j) are column sums and entries of its
    Gram matrix, the same counts the pairwise definition takes unit by unit."""
    from sklearn.feature_extraction.text import CountVectorizer

    vocabulary = sorted({w for words in topics for w in words})
    if not vocabulary:  # no topic has a pair of words
        return [float("nan")] * len(topics)
    index = {w: i for i, w in enumerate(vocabulary)}
    # a unit's words are its whitespace-separated tokens, as set(doc.split()) reads them
    vectoriser = CountVectorizer(analyzer=str.split, vocabulary=vocabulary, binary=True)
    present = vectoriser.transform(docs).astype(np.int64)
    n = present.shape[0]
    together = (present.T @ present).toarray()
    counts = np.diag(together)
    out = []
    for words in topics:
        if len(words) < 2:
            out.append(float("nan"))
            continue
        cols = np.array([index[w] for w in words])
        first, second = np.triu_indices(len(words), k=1)  # the order of combinations()
        a, b = cols[first], cols[second]
        pa, pb, pab = counts[a] / n, counts[b] / n, together[a, b] / n
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = np.log(pab / (pa * pb)) / -np.log(pab)
        scores = np.where(pab == 1, 1.0, scores)
        scores = np.where((pab == 0) | (pa == 0) | (pb == 0), -1.0, scores)
        out.append(float(np.mean(scores)))
    return out


def quality(model: TopicModel, config: StudyConfig, *, cache: Path | None = None) -> dict:
    """Coherence per topic and stability across two seeds (same data, same settings).

    ``cache``: where the second seed's topics are kept between runs
    (:func:`pipeline.topics.stability.second_seed_topics`); without it they are refitted.
    """
    from sklearn.metrics import adjusted_rand_score

    scored = [row for row in model.topics.itertuples() if row.topic >= 0 and row.keywords]
    npmis = npmi_topics([row.keywords.split("; ")[:10] for row in scored], model.docs.tolist())
    coherence = {int(row.topic): round(v, 4) for row, v in zip(scored, npmis, strict=True)}
    other = second_seed_topics(model, config.topics, cache=cache)
    first = model.doc_topics.set_index(["segment_id", "unit"])["topic"].reindex(model.docs.index)
    ari = adjusted_rand_score(first.to_numpy(), other)
    values = [v for v in coherence.values() if not math.isnan(v)]
    return {
        # modelled units only: too-short units (topic -2) are neither outliers nor topics
        "units": len(model.docs),
        "too_short": int((model.doc_topics["topic"] == TOO_SHORT).sum()),
        "min_tokens": config.topics.min_tokens,
        "topics": len(coherence),
        "outlier_share": round(float((first == OUTLIER).mean()), 4),
        "coherence_npmi": coherence,
        "coherence_npmi_mean": round(float(np.mean(values)), 4) if values else None,
        "stability_ari": round(float(ari), 4),
        "seeds": [config.topics.random_state, config.topics.stability_seed],
    }


def stability_cache(ws: Workspace, round_no: int) -> Path:
    """The stage's stored second-seed topics for a round (see :mod:`pipeline.topics.stability`)."""
    return ws.interim / "topics" / f"stability-round-{round_no}.json"


def run_info(model: TopicModel) -> dict:
    """What embedded the units (backend, model, version; combined: the block weights), for
    ``topics.json``, the CLI summary and the report's provenance."""
    embedded = model.embedded
    if embedded is None:
        return {"embedding": None}
    info = {"embedding": embedded.info.as_dict(), "units": len(model.docs)}
    if embedded.weights:
        info["weights"] = dict(zip(("e5", "tfidf"), embedded.weights, strict=True))
    info["embedded_now"] = embedded.embedded
    return info


def per_group(model: TopicModel, segments: pd.DataFrame) -> pd.DataFrame:
    merged = model.doc_topics.merge(segments[["segment_id", "group"]], on="segment_id")
    merged = merged[merged.set_index(["segment_id", "unit"]).index.isin(model.docs.index)]
    counts = merged.groupby(["topic", "group"]).size().rename("units").reset_index()
    totals = merged.groupby("group").size()
    counts["share"] = (counts["units"] / counts["group"].map(totals)).round(4)
    words = model.topics.set_index("topic")["keywords"]
    counts["keywords"] = counts["topic"].map(words).fillna("")
    return counts[TOPIC_GROUPS.names]


def over_time(model: TopicModel, segments: pd.DataFrame) -> pd.DataFrame:
    seg = segments[["segment_id", "recording_id", "start"]].copy()
    span = seg.groupby("recording_id")["start"].agg(["min", "max"])
    seg = seg.join(span, on="recording_id")
    width = (seg["max"] - seg["min"]).where(lambda w: w > 0)
    position = ((seg["start"] - seg["min"]) / width).fillna(0.0)
    seg["bin"] = np.minimum((position * BINS).astype(int), BINS - 1)
    merged = model.doc_topics.merge(seg[["segment_id", "recording_id", "bin"]], on="segment_id")
    out = merged.groupby(["topic", "recording_id", "bin"]).size().rename("units").reset_index()
    return out[TOPIC_TIMES.names]


def slug(words: list[str]) -> str:
    text = "-".join(words[:3]).lower()
    return re.sub(r"[^a-z0-9-]+", "", text) or "topic"


def candidates(model: TopicModel, config: StudyConfig) -> str:
    """Each topic as a candidate code, in the codebook format (valid as ``round-1.yaml``)."""
    codes = []
    for row in model.topics.itertuples():
        if row.topic < 0:  # outliers and too-short units are no candidate codes
            continue
        words = row.keywords.split("; ")
        codes.append(
            {
                "id": f"t{row.topic}-{slug(words)}",
                "label": ", ".join(words[:3]),
                "description": f"Kandidaat uit topic {row.topic} ({row.size} eenheden): "
                f"{', '.join(words)}. Herschrijf deze omschrijving na het lezen van de segmenten.",
                "keywords": words[:5],
                "segments": [s for s in row.representative_segments.split("; ") if s],
            }
        )
    data = {
        "study": config.study,
        "round": 1,
        "language": config.language,
        "state": "open",
        "research_questions": [],
        "codes": codes,
    }
    head = (
        "# Topic candidates from `cda topics` (round 1). Curate them into round-1.yaml:\n"
        "# rename, merge, describe, add research questions. Regenerated on every run.\n"
    )
    return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def figures(
    ws: Workspace, round_no: int, model: TopicModel, groups: pd.DataFrame, times: pd.DataFrame
) -> None:
    """Static PNGs for the report (no JavaScript, no CDN)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = ws.round_dir(round_no) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    labels = model.topics.set_index("topic")["label"]
    real = groups[groups["topic"] >= 0]

    table = real.pivot_table(index="topic", columns="group", values="units", fill_value=0)
    fig, ax = plt.subplots(figsize=(7, 0.45 * max(3, len(table)) + 1))
    table.rename(index=labels).plot.barh(ax=ax)
    ax.set_xlabel("units")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(folder / "topics_per_group.png", dpi=120)
    plt.close(fig)

    timeline = times[times["topic"] >= 0].groupby(["bin", "topic"])["units"].sum()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for topic, series in timeline.unstack(fill_value=0).items():
        ax.plot(series.index * 10, series.values, marker="o", label=labels.get(topic, topic))
    ax.set_xlabel("% of session")
    ax.set_ylabel("units")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    fig.savefig(folder / "topics_over_time.png", dpi=120)
    plt.close(fig)

    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    matrix = TfidfVectorizer(sublinear_tf=True).fit_transform(model.docs.tolist())
    points = TruncatedSVD(2, random_state=0).fit_transform(matrix)
    topics = model.doc_topics.set_index(["segment_id", "unit"])["topic"].reindex(model.docs.index)
    fig, ax = plt.subplots(figsize=(6, 5))
    for topic in sorted(set(topics)):
        mask = (topics == topic).to_numpy()
        ax.scatter(
            points[mask, 0],
            points[mask, 1],
            s=12,
            c="lightgrey" if topic == OUTLIER else None,
            label=labels.get(topic, topic),
        )
    ax.set_title("units in TF-IDF space (2-D), coloured by topic")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    fig.savefig(folder / "topic_map.png", dpi=120)
    plt.close(fig)


def write_outputs(
    ws: Workspace, config: StudyConfig, round_no: int, model: TopicModel, segments: pd.DataFrame
) -> dict:
    groups = per_group(model, segments)
    times = over_time(model, segments)
    write_table(groups, TOPIC_GROUPS, ws.round_dir(round_no) / "topics_per_group.parquet")
    write_table(times, TOPIC_TIMES, ws.round_dir(round_no) / "topics_over_time.parquet")
    scores = quality(model, config, cache=stability_cache(ws, round_no))
    write_text(ws.round_dir(round_no) / "quality.json", json.dumps(scores, indent=2) + "\n")
    write_text(
        ws.round_dir(round_no) / "topics.json",
        json.dumps(run_info(model), indent=2) + "\n",
        only_if_changed=True,
    )
    figures(ws, round_no, model, groups, times)
    if round_no == 1:
        write_text(study_dir(ws, config) / "round-1.candidates.yaml", candidates(model, config))
    return scores


# guided rounds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Guide:
    """A round's codebook as topic guidance: each code's seed lemmas, folded."""

    book: Codebook
    lemmas: dict[str, frozenset[str]]
    """code id → folded lemmas of its single-word keywords (what a topic word is compared to)."""


def code_lemmas(
    book: Codebook, nlp: Language, terms: TermDocs | None = None
) -> dict[str, frozenset[str]]:
    """Folded lemmas of each code's single-word keywords, lemmatised by the study's backend
    (``terms``; default ``nlp``), the one whose lemmas the topic words are.

    Topic words are content lemmas of the text, so a keyword is compared as a lemma too
    ("toeslagen" → toeslag, "Algoritmes" → algoritme), folded on both sides (efficiëntie =
    efficientie). Multi-word keywords name phrases, not topic words, and are left out.
    """
    lemmatise = terms or pipe_terms(nlp)
    out: dict[str, frozenset[str]] = {}
    for code in book.codes:
        words = [k.strip() for k in code.keywords if k.strip() and " " not in k.strip()]
        lemmas = {
            fold(token.lemma_ or token.text)
            for doc in (lemmatise(words) if words else [])
            for token in doc
            if token.is_alpha
        }
        if lemmas:
            out[code.id] = frozenset(lemmas)
    return out


def guide(ws: Workspace, config: StudyConfig, round_no: int) -> Guide:
    """The round's codebook with its codes' seed lemmas (see :func:`code_lemmas`)."""
    from pipeline.language.parse import load_backend

    book = load_round(ws, config, round_no).book
    backend = load_backend(config.nlp, config.language)
    return Guide(book, code_lemmas(book, backend.nlp, backend.cached_terms(ws.interim / "nlp")))


def seed_lists(lemmas: dict[str, frozenset[str]], docs: pd.Series) -> list[list[str]]:
    """BERTopic seed words per code: the words of ``docs`` whose fold is one of the code's
    lemmas (as spelled in the text, so BERTopic finds them); codes with none are left out."""
    vocabulary = sorted({w for doc in docs for w in doc.split()})
    by_fold: dict[str, list[str]] = {}
    for word in vocabulary:
        by_fold.setdefault(fold(word), []).append(word)
    seeds = [
        sorted(w for lemma in code for w in by_fold.get(lemma, [])) for code in lemmas.values()
    ]
    return [s for s in seeds if s]


def map_codes(model: TopicModel, lemmas: dict[str, frozenset[str]]) -> TopicModel:
    """Name each topic after the code whose seed lemmas overlap its words most (if any).

    Topic words are folded like the lemmas; a tie goes to the code listed first.
    """
    topics = model.topics.copy()
    order = {code: i for i, code in enumerate(lemmas)}
    for index, row in topics.iterrows():
        if row["topic"] < 0:
            continue
        words = {fold(w) for w in row["keywords"].split("; ") if w}
        overlap = {code: len(seeds & words) for code, seeds in lemmas.items()}
        best = max(overlap, key=lambda c: (overlap[c], -order[c]), default=None)
        if best is not None and overlap[best]:
            topics.at[index, "code"] = best
    return replace(model, topics=topics)
