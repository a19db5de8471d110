"""Topics stage (``cda topics``): BERTopic candidates for open coding, guided in later rounds.

:mod:`~pipeline.topics.model` fits; :mod:`~pipeline.topics.outputs` writes the tables and
figures around a fitted model. This module wires them (model never imports outputs).
"""

from __future__ import annotations

from pipeline.core.config import StudyConfig
from pipeline.core.io import read_table, write_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import DOC_TOPICS, SEGMENTS, TOKENS, TOPICS
from pipeline.language.embeddings import cache_dir
from pipeline.topics.model import TopicModel, documents, fit_topics, unit_texts, usable_docs
from pipeline.topics.outputs import guide, map_codes, seed_lists, write_outputs

__all__ = ["TopicModel", "run_topics"]


def run_topics(ws: Workspace, config: StudyConfig, *, round_no: int = 1) -> TopicModel:
    segments = read_table(ws.segments, SEGMENTS)
    tokens = read_table(ws.tokens, TOKENS)
    docs = documents(segments, tokens, config.topics, language=config.language)
    guidance, seeds = None, None
    if round_no > 1:
        guidance = guide(ws, config, round_no)
        seeds = seed_lists(guidance.lemmas, usable_docs(docs, config.topics))
    model = fit_topics(
        docs,
        config.topics,
        seeds=seeds,
        segments=segments,
        texts=unit_texts(segments, tokens, config.topics),
        cache_dir=cache_dir(ws),
    )
    if guidance is not None:
        model = map_codes(model, guidance.lemmas)
    write_table(model.topics, TOPICS, ws.topics(round_no))
    write_table(model.doc_topics, DOC_TOPICS, ws.doc_topics(round_no))
    write_outputs(ws, config, round_no, model, segments)
    return model
