"""spaCy pipelines and the parse cache, shared by the nlp, suggest and topics stages.

A trained spaCy pipeline is used when installed (``nlp.model`` in cda.yaml, by default the
study language's: ``nl_core_news_md``, ``en_core_web_md``, ...); otherwise
``spacy.blank(language)`` with a sentencizer and the lookup lemmatizer from
``spacy-lookups-data``, which runs offline but has no POS, entities or parses. A trained
pipeline of another language is refused. ``data/interim/nlp.json`` records which one ran and
why, so the report can say what that disables.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd
import spacy
from spacy.language import Language
from spacy.symbols import ORTH
from spacy.tokens import Doc, DocBin

from pipeline.core.config import StudyConfig
from pipeline.core.errors import CdaError
from pipeline.core.io import read_table, write_bytes
from pipeline.core.paths import Workspace
from pipeline.core.progress import track
from pipeline.core.schemas import SEGMENTS

log = logging.getLogger(__name__)
# spaCy logs "Created vocabulary" at INFO through its own handler; keep the CLI output clean.
logging.getLogger("spacy").setLevel(logging.WARNING)

BLANK_DISABLES = ["part-of-speech tags", "named entities", "dependency parses"]


PLACEHOLDER = re.compile(r"\[[A-Z][A-Z0-9_]*\]")


@Language.component("cda_lower_lemma")
def lower_lemma(doc: Doc) -> Doc:
    """Lower-case lemmas (a tagger lemmatises "China" as "China"), so markers, keyness and
    concordances count "China" and "china" as one word."""
    for token in doc:
        token.lemma_ = (token.lemma_ or token.text).lower()
    return doc


def keep_placeholders(nlp: Language, texts: list[str]) -> Language:
    """Register every placeholder that occurs in ``texts`` as a tokenizer special case."""
    for placeholder in sorted({m for text in texts for m in PLACEHOLDER.findall(text)}):
        nlp.tokenizer.add_special_case(placeholder, [{ORTH: placeholder}])
    return nlp


@dataclass(frozen=True)
class NlpInfo:
    """What actually ran, and why: recorded for provenance."""

    pipeline: str
    spacy_version: str
    components: list[str]
    disabled_features: list[str]
    requested: str = ""  # the model asked for (nlp.model, or the language's default)
    note: str = ""  # why ``pipeline`` ran instead, when it is not ``requested``


def _trained_language(model: str) -> str | None:
    lang = spacy.info(model).get("lang")
    return str(lang) if lang else None


def load_pipeline(model: str, language: str) -> tuple[Language, NlpInfo]:
    """Load ``model`` if installed, else the offline blank pipeline with lookup lemmas."""
    if spacy.util.is_package(model):
        lang = _trained_language(model)
        if lang not in (language, "xx", None):  # xx: spaCy's multi-language pipelines
            raise CdaError(
                f"spaCy model {model} is for language '{lang}', the study's language is "
                f"'{language}'",
                hint="set nlp.model in cda.yaml to a pipeline for that language, or remove it "
                "to use the language's default",
            )
        nlp = (
            spacy.load(model, exclude=["parser"])
            if "parser" in spacy.info(model).get("pipeline", [])
            else spacy.load(model)
        )
        if "senter" in nlp.disabled:
            nlp.enable_pipe("senter")
        if not nlp.has_pipe("sentencizer") and not nlp.has_pipe("senter"):
            nlp.add_pipe("sentencizer")
        nlp.add_pipe("cda_lower_lemma", last=True)
        name = f"{model}-{nlp.meta.get('version', '?')}"
        return nlp, NlpInfo(name, spacy.__version__, list(nlp.pipe_names), [], requested=model)
    note = f"{model} is not installed; install it with `python -m spacy download {model}`"
    log.info("%s; using blank '%s' with lookup lemmas", note, language)
    try:
        nlp = spacy.blank(language)
    except ImportError as exc:
        raise CdaError(
            f"spaCy has no language '{language}'",
            hint="set 'language' in cda.yaml to an ISO code such as nl",
        ) from exc
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.add_pipe("cda_lower_lemma")
    try:
        nlp.initialize()
    except (ValueError, OSError) as exc:  # lookup tables missing for this language
        raise CdaError(
            f"no lemma lookup tables for '{language}' ({exc})",
            hint="pip install spacy-lookups-data",
        ) from exc
    name = f"blank:{language}+sentencizer+lookup-lemmatizer"
    info = NlpInfo(
        name, spacy.__version__, list(nlp.pipe_names), BLANK_DISABLES, requested=model, note=note
    )
    return nlp, info


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


def fingerprint(info: NlpInfo) -> str:
    """What a cached parse depends on: the pipeline, spaCy and the lemma tables."""
    parts = [
        info.pipeline,
        info.spacy_version,
        _package_version("spacy-lookups-data"),
        ",".join(info.components),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def parse_cached(
    texts: list[str], nlp: Language, *, cache_dir: Path, key: str, batch_size: int = 256
) -> tuple[list[Doc], int]:
    """Docs for ``texts``, parsing only texts the cache does not hold; returns (docs, parsed).

    The cache is one DocBin per pipeline fingerprint; each doc carries its text hash, so the
    cache can never be misaligned with the texts. A codebook or marker change therefore
    rematches cached docs instead of reparsing the corpus.
    """
    cache = cache_dir / f"docs-{key}.spacy"
    known = _read_cache(cache, nlp) if cache.is_file() else {}
    keys = [text_key(text) for text in texts]
    todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in known}
    parsed = track(
        nlp.pipe(list(todo.values()), batch_size=batch_size), description="nlp", total=len(todo)
    )
    for k, doc in zip(todo, parsed, strict=True):
        doc.user_data["cda_key"] = k
        known[k] = doc
    current = dict.fromkeys(keys)
    store = DocBin(store_user_data=True, docs=[known[k] for k in current])
    write_bytes(cache, store.to_bytes(), only_if_changed=True)
    for stale in cache_dir.glob("docs-*.spacy"):
        if stale != cache:
            stale.unlink()
    return [known[k] for k in keys], len(todo)


def _read_cache(cache: Path, nlp: Language) -> dict[str, Doc]:
    """The cached docs by text hash; a damaged cache is derived data, so it is rebuilt.

    Any failure to decode counts as damage (DocBin raises ValueError, TypeError, msgpack and
    zlib errors for truncated or foreign bytes). A doc whose text does not hash to its key is
    dropped too, so a damaged cache can cost a reparse but never misalign docs and texts.
    """
    try:
        docs = list(DocBin().from_disk(cache).get_docs(nlp.vocab))
    except Exception as exc:  # any unreadable cache is rebuilt, never fatal
        log.warning(
            "%s: the parse cache is unreadable (%s: %.80s); rebuilding it",
            cache,
            type(exc).__name__,
            exc,
        )
        return {}
    known = {}
    for doc in docs:
        cached_key = doc.user_data.get("cda_key")
        if isinstance(cached_key, str) and cached_key == text_key(doc.text):
            known[cached_key] = doc
    if len(known) < len(docs):
        log.warning(
            "%s: %d cached doc(s) do not match their text; reparsing them",
            cache,
            len(docs) - len(known),
        )
    return known


@dataclass(frozen=True)
class Parsed:
    """The pseudonymised segments with their spaCy docs, and the pipeline that made them."""

    segments: pd.DataFrame
    docs: list[Doc]
    nlp: Language
    info: NlpInfo
    parsed: int


def segment_docs(ws: Workspace, config: StudyConfig) -> Parsed:
    """Docs for every segment, from the parse cache where possible (shared by nlp, suggest)."""
    segments = read_table(ws.segments, SEGMENTS)
    nlp, info = load_pipeline(config.nlp.model_for(config.language), config.language)
    texts = segments["text"].tolist()
    keep_placeholders(nlp, texts)
    docs, parsed = parse_cached(
        texts,
        nlp,
        cache_dir=ws.interim / "nlp",
        key=fingerprint(info),
        batch_size=config.nlp.batch_size,
    )
    return Parsed(segments, docs, nlp, info, parsed)
