"""The ``topics`` stage (round 1): candidate topics to seed open coding.

This first version is deliberately small and fully offline: TF-IDF over content lemmas from the
nlp stage, factorised with NMF (``nndsvda`` initialisation, so the same input gives the same
topics). Facilitator turns are excluded by default, because their questions would otherwise
become topics of their own. Segments with too few content words are reported as outliers
(topic -1) rather than forced into a topic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd
from sklearn.decomposition import NMF
from sklearn.feature_extraction.text import TfidfVectorizer

from pipeline.config import StudyConfig, TopicsConfig
from pipeline.errors import CdaError
from pipeline.io import read_table, write_table
from pipeline.paths import Workspace
from pipeline.schemas import DOC_TOPICS, SEGMENTS, TOKENS, TOPICS

OUTLIER = -1


@cache
def spoken_stopwords() -> frozenset[str]:
    """Fillers and light verbs of spoken Dutch (``resources/stopwords_nl_spoken.txt``)."""
    text = (
        resources.files("pipeline")
        .joinpath("resources/stopwords_nl_spoken.txt")
        .read_text(encoding="utf-8")
    )
    return frozenset(w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#"))


def documents(segments: pd.DataFrame, tokens: pd.DataFrame, cfg: TopicsConfig) -> pd.Series:
    """Content lemmas per segment (alphabetic, no stop words or fillers), space-joined."""
    keep = segments if cfg.include_facilitator else segments[segments["role"] != "facilitator"]
    content = tokens[
        tokens["is_alpha"]
        & ~tokens["is_stop"]
        & (tokens["lemma"].str.len() > 2)
        & ~tokens["lemma"].isin(spoken_stopwords())
        & ~tokens["text"].str.lower().isin(spoken_stopwords())
    ]
    lemmas = content.groupby("segment_id")["lemma"].apply(" ".join)
    return lemmas.reindex(keep["segment_id"]).fillna("")


def default_topic_count(n_docs: int) -> int:
    """About one topic per 15 units, between 2 and 12: enough resolution for a workshop."""
    return max(2, min(12, math.ceil(n_docs / 15)))


@dataclass(frozen=True)
class TopicModel:
    topics: pd.DataFrame
    doc_topics: pd.DataFrame


def fit_topics(docs: pd.Series, cfg: TopicsConfig) -> TopicModel:
    """Fit NMF topics on ``docs`` (index: segment ids)."""
    lengths = docs.str.split().str.len().fillna(0)
    usable = docs[lengths >= cfg.min_tokens]
    if len(usable) < 4:
        raise CdaError(
            f"only {len(usable)} segment(s) have {cfg.min_tokens}+ content words",
            hint="import more text or lower topics.min_tokens in cda.yaml",
        )
    n_topics = min(cfg.n_topics or default_topic_count(len(usable)), len(usable) - 1)
    vectorizer = TfidfVectorizer(
        min_df=1, max_df=0.5 if len(usable) >= 20 else 1.0, sublinear_tf=True
    )
    matrix = vectorizer.fit_transform(usable.tolist())
    model = NMF(
        n_components=n_topics,
        init="nndsvda",
        random_state=cfg.random_state,
        max_iter=2000,
        tol=1e-4,
    )
    weights = model.fit_transform(matrix)
    vocab = np.array(vectorizer.get_feature_names_out())
    totals = weights.sum(axis=1)
    assigned = np.where(totals > 0, weights.argmax(axis=1), OUTLIER)
    share = np.divide(weights.max(axis=1), totals, out=np.zeros_like(totals), where=totals > 0)
    doc_topics = pd.DataFrame(
        {"segment_id": usable.index, "topic": assigned, "probability": share.round(4)}
    )
    skipped = docs.index.difference(usable.index, sort=False)
    doc_topics = pd.concat(
        [doc_topics, pd.DataFrame({"segment_id": skipped, "topic": OUTLIER, "probability": 0.0})],
        ignore_index=True,
    )
    rows = []
    for topic in range(n_topics):
        terms = vocab[np.argsort(model.components_[topic])[::-1][: cfg.top_words]]
        members = np.flatnonzero(assigned == topic)
        best = members[np.argsort(weights[members, topic])[::-1][: cfg.representatives]]
        rows.append(
            {
                "topic": topic,
                "label": f"{topic}_" + "_".join(terms[:3]),
                "keywords": "; ".join(terms),
                "size": len(members),
                "representative_segments": "; ".join(usable.index[best]),
            }
        )
    n_outliers = int((doc_topics["topic"] == OUTLIER).sum())
    rows.append(
        {
            "topic": OUTLIER,
            "label": "-1_outliers",
            "keywords": "",
            "size": n_outliers,
            "representative_segments": "",
        }
    )
    return TopicModel(
        pd.DataFrame(rows, columns=TOPICS.names),
        doc_topics.sort_values("segment_id", ignore_index=True),
    )


def run_topics(ws: Workspace, config: StudyConfig, *, round_no: int = 1) -> TopicModel:
    segments = read_table(ws.segments, SEGMENTS)
    tokens = read_table(ws.tokens, TOKENS)
    model = fit_topics(documents(segments, tokens, config.topics), config.topics)
    write_table(model.topics, TOPICS, ws.topics(round_no))
    write_table(model.doc_topics, DOC_TOPICS, ws.doc_topics(round_no))
    return model
