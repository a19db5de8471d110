"""The ``nlp`` stage: sentences and tokens (lemma, POS where available) per segment.

A trained spaCy pipeline is used when installed (``nlp.model`` in cda.yaml, e.g.
``nl_core_news_md``); otherwise ``spacy.blank(language)`` with a sentencizer and the lookup
lemmatizer from ``spacy-lookups-data``, which runs offline but has no POS, entities or parses.
``data/interim/nlp.json`` records which one ran, so the report can say what that disables.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

import pandas as pd
import spacy
from spacy.language import Language
from spacy.symbols import ORTH

from pipeline.config import StudyConfig
from pipeline.errors import CdaError
from pipeline.io import read_table, write_table, write_text
from pipeline.paths import Workspace
from pipeline.progress import track
from pipeline.schemas import SEGMENTS, SENTENCES, TOKENS

log = logging.getLogger(__name__)
# spaCy logs "Created vocabulary" at INFO through its own handler; keep the CLI output clean.
logging.getLogger("spacy").setLevel(logging.WARNING)

BLANK_DISABLES = ["part-of-speech tags", "named entities", "dependency parses"]

# Pseudonymisation placeholders ([P03], [NAAM], [PLAATS]) must stay one non-alphabetic token:
# split up, "plaats" and "naam" would turn into content words and topics. spaCy matches
# special cases even with punctuation attached ("[PLAATS],"), unlike token_match.
PLACEHOLDER = re.compile(r"\[[A-Z][A-Z0-9_]*\]")


def keep_placeholders(nlp: Language, texts: list[str]) -> Language:
    """Register every placeholder that occurs in ``texts`` as a tokenizer special case."""
    for placeholder in sorted({m for text in texts for m in PLACEHOLDER.findall(text)}):
        nlp.tokenizer.add_special_case(placeholder, [{ORTH: placeholder}])
    return nlp


@dataclass(frozen=True)
class NlpInfo:
    """What actually ran: recorded for provenance."""

    pipeline: str
    spacy_version: str
    components: list[str]
    disabled_features: list[str]


def load_pipeline(model: str, language: str) -> tuple[Language, NlpInfo]:
    """Load ``model`` if installed, else the offline blank pipeline with lookup lemmas."""
    if spacy.util.is_package(model):
        nlp = (
            spacy.load(model, exclude=["parser"])
            if "parser" in spacy.info(model).get("pipeline", [])
            else spacy.load(model)
        )
        if "senter" in nlp.disabled:
            nlp.enable_pipe("senter")
        if not nlp.has_pipe("sentencizer") and not nlp.has_pipe("senter"):
            nlp.add_pipe("sentencizer")
        return nlp, NlpInfo(model, spacy.__version__, list(nlp.pipe_names), [])
    log.info(
        "spaCy model %s is not installed; using blank '%s' with lookup lemmas "
        "(install it with `python -m spacy download %s`)",
        model,
        language,
        model,
    )
    try:
        nlp = spacy.blank(language)
    except ImportError as exc:
        raise CdaError(
            f"spaCy has no language '{language}'",
            hint="set 'language' in cda.yaml to an ISO code such as nl",
        ) from exc
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    try:
        nlp.initialize()
    except (ValueError, OSError) as exc:  # lookup tables missing for this language
        raise CdaError(
            f"no lemma lookup tables for '{language}' ({exc})",
            hint="pip install spacy-lookups-data",
        ) from exc
    name = f"blank:{language}+sentencizer+lookup-lemmatizer"
    return nlp, NlpInfo(name, spacy.__version__, list(nlp.pipe_names), BLANK_DISABLES)


def analyse(
    segments: pd.DataFrame, nlp: Language, *, batch_size: int = 256
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse segment texts in batches; return (sentences, tokens) tables."""
    sent_rows, tok_rows = [], []
    texts = segments["text"].tolist()
    keep_placeholders(nlp, texts)
    ids = segments["segment_id"].tolist()
    docs = track(nlp.pipe(texts, batch_size=batch_size), description="nlp", total=len(texts))
    for sid, doc in zip(ids, docs, strict=True):
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
                        (tok.lemma_ or tok.text).lower(),
                        tok.pos_ or None,
                        tok.is_stop,
                        tok.is_punct,
                        tok.is_alpha,
                        tok.idx,
                    )
                )
    sentences = pd.DataFrame(sent_rows, columns=SENTENCES.names)
    tokens = pd.DataFrame(tok_rows, columns=TOKENS.names)
    return sentences, tokens


def run_nlp(ws: Workspace, config: StudyConfig) -> NlpInfo:
    segments = read_table(ws.segments, SEGMENTS)
    nlp, info = load_pipeline(config.nlp.model, config.language)
    sentences, tokens = analyse(segments, nlp, batch_size=config.nlp.batch_size)
    write_table(sentences, SENTENCES, ws.sentences)
    write_table(tokens, TOKENS, ws.tokens)
    write_text(ws.interim / "nlp.json", json.dumps(info.__dict__, indent=2) + "\n")
    return info
