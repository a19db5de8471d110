"""The ``nlp`` stage: sentences and tokens (lemma, POS where available) per segment, and the
grammar findings read from the tokens (``clauses.parquet``, :mod:`pipeline.language.grammar`).

Which spaCy pipeline parses, and the parse cache, are :mod:`pipeline.language.parse`'s (the
suggest and topics stages read the same docs); this stage writes the tables from them and the
discourse-marker matches (:mod:`pipeline.language.markers`), and records in
``data/interim/nlp.json`` which pipeline ran and why, so the report can say what that disables.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import pandas as pd
from spacy.language import Language
from spacy.tokens import Doc

from pipeline.core.config import StudyConfig
from pipeline.core.io import write_table, write_text
from pipeline.core.paths import Workspace
from pipeline.core.schemas import CLAUSES, MARKERS, SENTENCES, TOKENS
from pipeline.language.grammar import clauses
from pipeline.language.markers import load_markers, marker_table, unmatchable
from pipeline.language.parse import NlpInfo, fingerprint, keep_placeholders, segment_docs

log = logging.getLogger(__name__)


# Pseudonymisation placeholders ([P03], [NAAM], [PLAATS]) must stay one non-alphabetic token:
# split up, "plaats" and "naam" would turn into content words and topics. spaCy matches
# special cases even with punctuation attached ("[PLAATS],"), unlike token_match.


def tables(ids: list[str], docs: list[Doc]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sentences and tokens tables of parsed segments: every annotation the backend made
    (tags, morphology, entities, heads and relations), empty where it made none."""
    sent_rows, tok_rows = [], []
    for sid, doc in zip(ids, docs, strict=True):
        tagged = doc.has_annotation("TAG") or doc.has_annotation("POS")
        ner = doc.has_annotation("ENT_IOB")
        parsed = doc.has_annotation("DEP")
        for s_index, sent in enumerate(doc.sents):
            sent_rows.append((sid, s_index, sent.start_char, sent.end_char, sent.text))
            for tok in sent:
                if tok.is_space:
                    continue
                tok_rows.append(
                    (
                        sid,
                        tok.i,
                        s_index,
                        tok.text,
                        tok.lemma_ or tok.text.lower(),
                        tok.pos_ or None,
                        tok.is_stop,
                        tok.is_punct,
                        tok.is_alpha,
                        tok.idx,
                        (tok.tag_ or None) if tagged else None,
                        str(tok.morph) if tagged else None,
                        (tok.ent_iob_ or "O") if ner else None,
                        tok.ent_type_ if ner else None,
                        tok.head.i if parsed else None,
                        tok.dep_ if parsed else None,
                    )
                )
    sentences = pd.DataFrame(sent_rows, columns=SENTENCES.names)
    tokens = pd.DataFrame(tok_rows, columns=TOKENS.names)
    return sentences, tokens


def analyse(
    segments: pd.DataFrame, nlp: Language, *, batch_size: int = 256
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse segment texts in batches (no cache); return (sentences, tokens) tables."""
    texts = segments["text"].tolist()
    keep_placeholders(nlp, texts)
    docs = list(nlp.pipe(texts, batch_size=batch_size))
    return tables(segments["segment_id"].tolist(), docs)


@dataclass(frozen=True)
class NlpRun:
    info: NlpInfo
    parsed: int
    cached: int
    markers: int
    markers_note: str | None = None  # why no markers were matched, when none could be


def run_nlp(ws: Workspace, config: StudyConfig) -> NlpRun:
    """Parse (or reuse) every segment, then write sentences, tokens and marker matches."""
    markers_file = ws.root / config.nlp.markers
    # first, so a marker file of the wrong language stops the stage before any parsing
    spec, provenance = load_markers(
        markers_file, language=config.language, shown=ws.display(markers_file)
    )
    result = segment_docs(ws, config)
    segments, docs, nlp, info, parsed = (
        result.segments,
        result.docs,
        result.nlp,
        result.info,
        result.parsed,
    )
    texts = segments["text"].tolist()
    ids = segments["segment_id"].tolist()
    sentences, tokens = tables(ids, docs)
    # no marker set for the language: an empty table, and nlp.json says why
    markers = (
        marker_table(ids, docs, spec, nlp, result.terms) if spec is not None else MARKERS.empty()
    )
    # read from the tokens table only, so every backend's findings follow one rule set
    grammar, status = clauses(tokens, language=config.language)
    for frame, schema, path in (
        (sentences, SENTENCES, ws.sentences),
        (tokens, TOKENS, ws.tokens),
        (markers, MARKERS, ws.markers),
        (grammar, CLAUSES, ws.clauses),
    ):
        write_table(frame, schema, path, only_if_changed=True)
    # backend, version, parser: the provenance of every annotation
    # fingerprint: which parse the tables hold, so suggest can take its docs from them
    meta = {
        **info.__dict__,
        "fingerprint": fingerprint(info),
        "markers": provenance,
        "grammar": status.as_dict(),
    }
    lacking = unmatchable(spec, docs) if spec is not None else {}
    if lacking:  # patterns on tags no tagger gave: left out, and said so
        meta["markers_without_tags"] = lacking
    write_text(ws.interim / "nlp.json", json.dumps(meta, indent=2) + "\n", only_if_changed=True)
    return NlpRun(
        info, parsed, len(texts) - parsed, len(markers), provenance if spec is None else None
    )
