"""The ``topics`` stage: BERTopic candidate topics that analysts can trust and reproduce.

Round 1 finds what the talk is about before there is a codebook; round 2 (and later) is
*guided* by the round's codebook keywords and maps topics to codes, feeding ``cda suggest``.

Components are chosen by role in ``cda.yaml`` (BERTopic's own design), all offline by default:

- units: whole segments, or windows of N sentences within a speaker turn;
- embedding (:mod:`pipeline.language.embeddings`): by default e5 ⊕ TF-IDF + SVD over content
  lemmas (``combined``: on 177 hand-labelled units of a real debate it was more stable across
  seeds and closer to the themes than either alone), or e5 alone, TF-IDF + SVD alone (no model;
  better than an English MiniLM on Dutch), or a user's sentence-transformers model. e5 reads
  the units' words as spoken; TF-IDF and the c-TF-IDF keywords read their lemmas;
- reducer: UMAP with a fixed ``random_state``, or PCA; clusterer: HDBSCAN, or k-means when a
  number of topics is given;
- representation: c-TF-IDF keywords reranked KeyBERT-style against the topic's representative
  documents (default), plain c-TF-IDF, or MMR. MMR needs word embeddings that mean something
  on their own; with TF-IDF + SVD a single word projects poorly, and on a clear two-theme test
  MMR dropped "china" and "toeslag" from their own topics while the other two kept them.

Defaults by corpus size. A workshop has a few hundred units; on the sample (96 units) UMAP +
HDBSCAN gave the most coherent topics (mean NPMI -0.13) but put 45% of units in the outlier
topic and agreed poorly with itself across two seeds (ARI 0.24), while PCA + k-means (one
topic per ~15 units) gave no outliers and ARI 0.97 (NPMI -0.34). Analysts need topics they
can reproduce, so below ``small_corpus`` (500) units "auto" means PCA + k-means; above it,
UMAP (10 neighbours, fixed seed) + HDBSCAN (clusters of 5+), where density clustering pays
off. ``min_df`` is 1: with few topics a higher min_df drops exactly the topic-specific words.
Outliers (HDBSCAN) stay topic -1 unless ``outliers: reduce``; units with fewer than
``min_tokens`` content words are never modelled and get topic -2 (too short), so the outlier
share means what it says. Facilitator turns are excluded by default. ``quality.json`` reports
coherence and stability for whatever is chosen.

Examples: a topic's representative segments follow :mod:`pipeline.language.examples` (most central
first, spread over groups and speakers), scored by centrality, the cosine similarity of a
unit's embedding (as the embedder made it, before BERTopic's guided nudging) to its topic's
centroid. Cluster probability is not used: k-means gives every unit 1.0 and HDBSCAN gives 1.0 to
every core point, so it cannot say which of a topic's units are typical.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from pipeline.core.config import TopicsConfig
from pipeline.core.errors import CdaError
from pipeline.core.schemas import OUTLIER, TOO_SHORT, TOPICS
from pipeline.language.embeddings import (
    TOKEN_PATTERN,
    Backend,
    balanced_weights,
    centred,
    combine,
    encode_cached,
    encoder_for,
    resolve,
    tfidf_svd,
)
from pipeline.language.examples import centrality, pick
from pipeline.language.spoken import noise_mask, spoken_stopwords

# BERTopic warns on every outlier reduction that manual assignment must come last: it does.
logging.getLogger("BERTopic").setLevel(logging.ERROR)
__all__ = ["TOKEN_PATTERN", "Embedded", "TopicModel", "embed_units", "fit_topics"]


def documents(
    segments: pd.DataFrame, tokens: pd.DataFrame, cfg: TopicsConfig, *, language: str = "nl"
) -> pd.Series:
    """Content lemmas per unit (alphabetic, no stop words, fillers, hesitations or transcriber
    notes: :func:`pipeline.language.spoken.noise_mask`), space-joined.

    The index is ``(segment_id, unit)``: unit 0 for whole segments, else the window number
    of ``window_sentences`` sentences within the segment.
    """
    keep = segments if cfg.include_facilitator else segments[segments["role"] != "facilitator"]
    content = tokens[
        tokens["is_alpha"]
        & ~tokens["is_stop"]
        & (tokens["lemma"].str.len() > 2)
        & ~noise_mask(tokens, fillers=spoken_stopwords(language))
        & tokens["segment_id"].isin(keep["segment_id"])
    ].copy()
    if cfg.unit == "window":
        content["unit"] = content["sentence_index"] // cfg.window_sentences
    else:
        content["unit"] = 0
    lemmas = content.groupby(["segment_id", "unit"], sort=False)["lemma"].apply(" ".join)
    empty = keep.loc[~keep["segment_id"].isin(content["segment_id"]), "segment_id"]
    missing = pd.Series("", index=pd.MultiIndex.from_arrays([empty, [0] * len(empty)]))
    out = pd.concat([lemmas, missing])
    out.index.names = ["segment_id", "unit"]
    order = {sid: i for i, sid in enumerate(keep["segment_id"])}
    return out.sort_index(key=lambda idx: idx.map(order) if idx.name == "segment_id" else idx)


def unit_texts(segments: pd.DataFrame, tokens: pd.DataFrame, cfg: TopicsConfig) -> pd.Series:
    """Each unit's words as spoken (index as :func:`documents`), for neural embeddings: the
    segment's text, or for windows the text from the window's first token to its last."""
    if cfg.unit != "window":
        index = pd.MultiIndex.from_arrays(
            [segments["segment_id"], [0] * len(segments)], names=["segment_id", "unit"]
        )
        return pd.Series(segments["text"].to_numpy(), index=index)
    spans = tokens.assign(
        unit=tokens["sentence_index"] // cfg.window_sentences,
        end=tokens["start_char"] + tokens["text"].str.len(),
    )
    bounds = spans.groupby(["segment_id", "unit"], sort=False).agg(
        start=("start_char", "min"), end=("end", "max")
    )
    text = segments.set_index("segment_id")["text"]
    values = [
        text[sid][start:end]
        for (sid, _), start, end in zip(bounds.index, bounds["start"], bounds["end"], strict=True)
    ]
    return pd.Series(values, index=bounds.index)


def default_topic_count(n_docs: int) -> int:
    """About one topic per 15 units, between 2 and 12: enough resolution for a workshop."""
    return max(2, min(12, math.ceil(n_docs / 15)))


# components ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Embedded:
    """The units' embeddings, the BERTopic backend that embeds words and seeds into the same
    space, and what ran (``topics.json``)."""

    vectors: np.ndarray
    backend: object  # a bertopic BaseEmbedder
    info: Backend
    weights: tuple[float, ...] = ()  # combined: (e5, tfidf) block weights
    embedded: int = 0  # texts the encoder embedded (not found in the cache)


class _RoleEmbedder:
    """Embeds words and seeds for BERTopic in a neural (or combined) space.

    BERTopic embeds topic words (KeyBERT-style representation) and guided seed words with its
    embedding model and compares them with the units' embeddings, so both must be in the same
    space. Units are looked up (they were embedded as passages); words and seeds are embedded as
    ``query:`` texts (short texts looking for passages), through the same cache.
    """

    def __init__(self, encoder, lookup, *, svd, mean=None, weights=(), cache_dir=None) -> None:
        self.encoder, self.lookup, self.svd, self.mean = encoder, lookup, svd, mean
        self.weights, self.cache_dir = weights, cache_dir

    def embed(self, documents: list[str], verbose: bool = False) -> np.ndarray:
        missing = [d for d in dict.fromkeys(documents) if d not in self.lookup]
        if missing:
            neural, _ = encode_cached(missing, self.encoder, kind="query", cache_dir=self.cache_dir)
            if self.mean is not None:  # combined: in the units' centred e5 ⊕ TF-IDF space
                blocks = [centred(neural, self.mean), self.svd.transform(missing)]
                neural = combine(blocks, list(self.weights))
            self.lookup.update(zip(missing, neural, strict=True))
        return np.stack([self.lookup[d] for d in documents]) if documents else np.zeros((0, 1))


def _bertopic_backend(role: _RoleEmbedder):
    from bertopic.backend import BaseEmbedder

    class RoleBackend(BaseEmbedder):
        def embed(self, documents, verbose=False):
            return role.embed(list(documents), verbose)

    return RoleBackend()


def embed_units(
    docs: pd.Series,
    cfg: TopicsConfig,
    *,
    texts: pd.Series | None = None,
    cache_dir: Path | None = None,
) -> Embedded:
    """Embed the units with ``topics.embedding`` (see :mod:`pipeline.language.embeddings`).

    ``docs`` are the units' content lemmas (TF-IDF, and the c-TF-IDF keywords, read these);
    ``texts`` their words as spoken (what e5 reads; without them e5 reads the lemmas).
    """
    from bertopic.backend._sklearn import SklearnEmbedder

    info = resolve(cfg.embedding, role="topics", model=cfg.embedding_model)
    svd = tfidf_svd(cfg.svd_components, random_state=cfg.random_state)
    if info.name == "tfidf":
        backend = SklearnEmbedder(svd)
        return Embedded(np.asarray(backend.embed(docs.tolist()), dtype=float), backend, info)
    encoder = encoder_for(info)
    raw = (texts.reindex(docs.index).fillna("") if texts is not None else docs).tolist()
    neural, embedded = encode_cached(raw, encoder, kind="passage", cache_dir=cache_dir)
    weights: tuple[float, ...] = ()
    mean = None
    if info.name == "combined":
        mean = neural.mean(axis=0)
        semantic, lexical = centred(neural, mean), svd.fit_transform(docs.tolist())
        weights = tuple(balanced_weights([semantic, lexical]))
        vectors = combine([semantic, lexical], list(weights))
    else:
        vectors = neural.astype(float)
    lookup = dict(zip(docs.tolist(), vectors, strict=True))
    role = _RoleEmbedder(encoder, lookup, svd=svd, mean=mean, weights=weights, cache_dir=cache_dir)
    return Embedded(vectors, _bertopic_backend(role), info, weights, embedded)


class _SafePCA(TransformerMixin, BaseEstimator):
    """PCA that shrinks to the data: a tiny vocabulary leaves fewer embedding dimensions than
    ``n_components`` (plain PCA then refuses to fit)."""

    def __init__(self, n_components: int = 5, random_state: int = 42) -> None:
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, x, y=None):
        from sklearn.decomposition import PCA

        k = max(1, min(self.n_components, x.shape[0], x.shape[1]))
        self.pca_ = PCA(n_components=k, random_state=self.random_state).fit(x)
        return self

    def transform(self, x):
        return self.pca_.transform(x)


def reducer(cfg: TopicsConfig, n_docs: int, seed: int):
    kind = cfg.reducer
    if kind == "auto":
        kind = "pca" if n_docs < cfg.small_corpus else "umap"
    if kind == "pca":
        return _SafePCA(max(1, min(cfg.n_components, n_docs - 1)), random_state=seed)
    from umap import UMAP

    from pipeline.topics.kernels import cache_kernels

    cache_kernels()
    return UMAP(
        n_neighbors=max(2, min(cfg.n_neighbors, n_docs - 1)),
        n_components=max(2, min(cfg.n_components, n_docs - 2)),
        min_dist=0.0,
        metric="cosine",
        random_state=seed,
        n_jobs=1,  # a fixed random_state needs one thread anyway; say so instead of warning
        n_epochs=200,  # UMAP's own choice above 10,000 points; 500 adds time, not topics
        init="pca",  # deterministic and faster than spectral on thousands of units
    )


def clusterer(cfg: TopicsConfig, n_docs: int, seed: int):
    kind = cfg.clusterer
    if kind == "auto":
        kind = "kmeans" if cfg.n_topics or n_docs < cfg.small_corpus else "hdbscan"
    if kind == "kmeans":
        from sklearn.cluster import KMeans

        k = min(cfg.n_topics or default_topic_count(n_docs), n_docs - 1)
        return KMeans(n_clusters=k, n_init=10, random_state=seed)
    from hdbscan import HDBSCAN

    # Clusters of at least min_cluster_size, and of 0.5% of the units in large corpora, so
    # 5,000 units give dozens of themes rather than hundreds of near-duplicate micro-topics.
    size = max(cfg.min_cluster_size, n_docs // 200)
    return HDBSCAN(
        min_cluster_size=max(2, min(size, n_docs // 2)),
        metric="euclidean",
        cluster_selection_method="eom",
        prediction_data=True,
    )


def representation(cfg: TopicsConfig):
    from bertopic.representation import KeyBERTInspired, MaximalMarginalRelevance

    if cfg.representation == "mmr":
        return MaximalMarginalRelevance(diversity=cfg.diversity, top_n_words=cfg.top_words)
    if cfg.representation == "keybert":
        return KeyBERTInspired(top_n_words=cfg.top_words, random_state=cfg.random_state)
    return None


def build_model(
    cfg: TopicsConfig, n_docs: int, *, seed: int, seeds: list[list[str]] | None, embedder=None
):
    """BERTopic with the study's components; ``embedder`` (a BERTopic backend) embeds topic
    words and seeds in the units' space (the units' embeddings are passed to ``fit``)."""
    from bertopic import BERTopic
    from bertopic.vectorizers import ClassTfidfTransformer
    from sklearn.feature_extraction.text import CountVectorizer

    return BERTopic(
        embedding_model=embedder,
        umap_model=reducer(cfg, n_docs, seed),
        hdbscan_model=clusterer(cfg, n_docs, seed),
        vectorizer_model=CountVectorizer(min_df=1, token_pattern=TOKEN_PATTERN),
        ctfidf_model=ClassTfidfTransformer(reduce_frequent_words=True),
        representation_model=representation(cfg),
        top_n_words=cfg.top_words,
        seed_topic_list=seeds or None,
        calculate_probabilities=False,
    )


# fitting ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicModel:
    topics: pd.DataFrame
    doc_topics: pd.DataFrame
    docs: pd.Series
    """The unit documents that were modelled (index: segment_id, unit)."""
    embeddings: np.ndarray | None = None
    """The embedding of each modelled unit, as the embedder made it (rows align with docs)."""
    embedded: Embedded | None = None
    """How the units were embedded (backend, weights), reused by the stability check."""


def usable_docs(docs: pd.Series, cfg: TopicsConfig) -> pd.Series:
    lengths = docs.str.split().str.len().fillna(0)
    usable = docs[lengths >= cfg.min_tokens]
    if len(usable) < 4:
        raise CdaError(
            f"only {len(usable)} segment(s) have {cfg.min_tokens}+ content words",
            hint="import more text or lower topics.min_tokens in cda.yaml",
        )
    return usable


def assign(
    docs: pd.Series,
    cfg: TopicsConfig,
    *,
    seed: int,
    seeds: list[list[str]] | None = None,
    embedded: Embedded | None = None,
):
    """Fit BERTopic on ``docs``; return the fitted model, the topic of each doc and the docs'
    embeddings (``embedded``, else made here by :func:`embed_units` from the lemmas)."""
    if embedded is None:
        embedded = embed_units(docs, cfg)
    model = build_model(cfg, len(docs), seed=seed, seeds=seeds, embedder=embedded.backend)
    texts = docs.tolist()
    embeddings = np.asarray(embedded.vectors, dtype=float)
    with warnings.catch_warnings():
        # A kernel numba cannot keep on disk (pipeline/topics/kernels.py) is compiled as before.
        warnings.filterwarnings("ignore", message="Cannot cache compiled function")
        # BERTopic's guided modelling moves seeded documents' embeddings in place: give a copy.
        topics, _ = model.fit_transform(texts, embeddings=embeddings.copy())
    if cfg.outliers == "reduce" and OUTLIER in topics:
        topics = model.reduce_outliers(texts, topics, strategy="c-tf-idf", threshold=0.1)
        model.update_topics(
            texts,
            topics=topics,
            vectorizer_model=model.vectorizer_model,
            ctfidf_model=model.ctfidf_model,
            representation_model=model.representation_model,
        )
    return model, np.asarray(topics), embeddings


def fit_topics(
    docs: pd.Series,
    cfg: TopicsConfig,
    seeds: list[list[str]] | None = None,
    *,
    segments: pd.DataFrame | None = None,
    texts: pd.Series | None = None,
    cache_dir: Path | None = None,
) -> TopicModel:
    """Fit topics on unit documents (index ``(segment_id, unit)``).

    Units with fewer than ``min_tokens`` content words are not modelled: they get topic
    :data:`TOO_SHORT`, apart from the clusterer's outliers (:data:`OUTLIER`). Each unit's
    ``centrality`` is the cosine similarity of its embedding to its topic's centroid; a topic's
    representative segments follow :func:`pipeline.language.examples.pick` over it, spread over the
    groups and speakers of ``segments`` (without ``segments``: by centrality alone).
    ``texts`` are the units' words as spoken (:func:`unit_texts`), which neural embeddings read;
    ``cache_dir`` holds their cache.
    """
    usable = usable_docs(docs, cfg)
    embedded = embed_units(usable, cfg, texts=texts, cache_dir=cache_dir)
    model, topics, embeddings = assign(
        usable, cfg, seed=cfg.random_state, seeds=seeds, embedded=embedded
    )
    probs = model.probabilities_
    probability = np.asarray(probs, dtype=float) if probs is not None else np.ones(len(topics))
    probability = np.where(topics == OUTLIER, 0.0, np.nan_to_num(probability, nan=0.0))
    # Centrality, not probability, says which units are typical: with k-means every
    # probability is 1.0, and HDBSCAN gives 1.0 to every core point, so both tie en masse.
    central = np.where(topics == OUTLIER, np.nan, centrality(embeddings, topics))
    doc_topics = pd.DataFrame(
        {
            "segment_id": usable.index.get_level_values("segment_id"),
            "unit": usable.index.get_level_values("unit").astype(int),
            "topic": topics.astype(int),
            "probability": probability.round(4),
            "centrality": central.round(4),
        }
    )
    skipped = docs.index.difference(usable.index, sort=False)
    doc_topics = pd.concat(
        [
            doc_topics,
            pd.DataFrame(
                {
                    "segment_id": skipped.get_level_values("segment_id"),
                    "unit": skipped.get_level_values("unit").astype(int),
                    "topic": TOO_SHORT,
                    "probability": 0.0,
                    "centrality": np.nan,
                }
            ),
        ],
        ignore_index=True,
    )
    meta = _speakers(segments, doc_topics["segment_id"])
    rows = []
    for topic in sorted(t for t in set(topics.tolist()) if t != OUTLIER):
        # a topic with fewer distinct words than top_words gets '' fillers from BERTopic
        words = [w for w, _ in (model.get_topic(topic) or []) if w.strip()][: cfg.top_words]
        members = doc_topics[doc_topics["topic"] == topic]
        candidates = members.assign(score=members["centrality"]).join(meta, on="segment_id")
        rows.append(
            {
                "topic": int(topic),
                "label": f"{topic}_" + "_".join(words[:3]),
                "keywords": "; ".join(words),
                "size": len(members),
                "representative_segments": "; ".join(pick(candidates, n=cfg.representatives)),
                "code": None,
            }
        )
    for topic, label in ((OUTLIER, "-1_outliers"), (TOO_SHORT, "-2_too_short")):
        rows.append(
            {
                "topic": topic,
                "label": label,
                "keywords": "",
                "size": int((doc_topics["topic"] == topic).sum()),
                "representative_segments": "",
                "code": None,
            }
        )
    return TopicModel(
        pd.DataFrame(rows, columns=TOPICS.names),
        doc_topics.sort_values(["segment_id", "unit"], ignore_index=True),
        usable,
        embeddings,
        embedded,
    )


def _speakers(segments: pd.DataFrame | None, ids: pd.Series) -> pd.DataFrame:
    """Group and speaker per segment id, for spreading examples (one blank group without)."""
    if segments is None:
        return pd.DataFrame({"group": "", "speaker": ""}, index=pd.Index(ids.unique()))
    return segments.set_index("segment_id")[["group", "speaker"]]
