"""Language backends and the parse cache, shared by the nlp, suggest and topics stages.

Backends in order of quality, chosen by ``nlp.backend`` (``auto`` takes the first available):

1. ``spacy``: an installed trained spaCy pipeline for the study language (``nlp.model``, a
   package name or a path; by default ``<lang>_core_news_lg``, then ``_md``);
2. ``frog``: Frog (Dutch only), run as a separate program (:mod:`pipeline.language.frog`):
   tags, lemmas, morphology, entities and, with ``nlp.parser``, dependencies;
3. ``blank``: ``spacy.blank(language)`` + sentencizer + simplemma lemmas (no POS, entities or
   parses), which always runs offline; spaCy's lookup lemmas only where simplemma has no
   dictionary for the language.

A trained pipeline of another language is refused. ``data/interim/nlp.json`` records which
backend ran, its version, whether the parser ran and why, so the report can say what that
disables.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd
import spacy
from spacy.attrs import LEMMA, ORTH
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab, create_vocab

from pipeline.core.config import NlpConfig, StudyConfig
from pipeline.core.errors import CdaError
from pipeline.core.io import read_table, write_bytes
from pipeline.core.paths import Workspace
from pipeline.core.progress import track
from pipeline.core.schemas import SEGMENTS

log = logging.getLogger(__name__)
# spaCy logs "Created vocabulary" at INFO through its own handler; keep the CLI output clean.
logging.getLogger("spacy").setLevel(logging.WARNING)

ENV_BACKEND = "CDA_NLP_BACKEND"
POS, ENTITIES, PARSES = "part-of-speech tags", "named entities", "dependency parses"
BLANK_DISABLES = [POS, ENTITIES, PARSES]
# what a cached doc holds (DocBin's attributes), whichever backend made it
DOC_ATTRS = ["ORTH", "TAG", "POS", "MORPH", "LEMMA", "HEAD", "DEP", "ENT_IOB", "ENT_TYPE"]
DOC_ATTRS.append("SENT_START")


# terms kept in the terms cache before it keeps only the current ones
MAX_TERMS = 20000

PLACEHOLDER = re.compile(r"\[[A-Z][A-Z0-9_]*\]")


@Language.component("cda_lower_lemma")
def lower_lemma(doc: Doc) -> Doc:
    """Lower-case lemmas (a tagger lemmatises "China" as "China"), so markers, keyness and
    concordances count "China" and "china" as one word: ``(lemma or text).lower()``."""
    store = doc.vocab.strings
    memo = _memo(_LOWERED, store)
    hashes = []
    for lemma, text in doc.to_array([LEMMA, ORTH]).reshape(len(doc), 2).tolist():
        value = memo.get((lemma, text))
        if value is None:
            value = memo[lemma, text] = store.add((store[lemma] or store[text]).lower())
        hashes.append(value)
    return _set_lemmas(doc, hashes)


_LOWERED: dict = {}
_SIMPLEMMA: dict = {}


def _memo(table: dict, store) -> dict:
    """``table``, emptied unless its hashes are of ``store`` (a string hash is only valid in
    the store that holds its string) or when it has grown large."""
    if table.get("store") is not store or len(table) > 1 << 18:
        table.clear()
        table["store"] = store
    return table


def _set_lemmas(doc: Doc, hashes: list[int]) -> Doc:
    """Every token's lemma in one array write (the hashes' strings are in ``doc.vocab``)."""
    return doc.from_array([LEMMA], np.array(hashes, dtype=np.uint64).reshape(len(doc), 1))


@Language.factory("cda_simplemma", default_config={"language": "nl"})
def make_simplemma(nlp: Language, name: str, language: str) -> Callable[[Doc], Doc]:
    """simplemma's dictionary lemmas: context-free, so a word gets the same lemma in a
    sentence and in a marker or codebook term (which is lemmatised on its own). That includes
    names that are also words (the MP Snels becomes "snel"); only a tagger tells them apart."""
    import simplemma  # noqa: F401  (a missing install fails here, when the pipeline loads)

    def lemmatise(doc: Doc) -> Doc:
        store = doc.vocab.strings
        memo = _memo(_SIMPLEMMA, store)
        hashes = []
        for text in doc.to_array([ORTH]).reshape(len(doc)).tolist():
            value = memo.get((text, language))
            if value is None:
                lemma = simplemma_lemma(store[text], language)
                value = memo[text, language] = store.add(lemma)
            hashes.append(value)
        return _set_lemmas(doc, hashes)

    return lemmatise


@lru_cache(maxsize=1 << 17)
def simplemma_lemma(text: str, language: str) -> str:
    """simplemma's lemma of one token, as the ``cda_simplemma`` component sets it. It depends
    on the word alone, so it is worked out once per distinct word and language."""
    import simplemma

    if not any(ch.isalpha() for ch in text):
        return text
    lemma = simplemma.lemmatize(text, lang=language)
    if lemma == text and not simplemma.is_known(text, lang=language):
        # an emphatic accent (wél, mógen, Europése) hides a known word
        plain = _strip_accents(text)
        if plain != text and simplemma.is_known(plain, lang=language):
            lemma = simplemma.lemmatize(plain, lang=language)
    # separable verbs come as "over_brengen"; Frog and the text write "overbrengen"
    return lemma if "_" in text else lemma.replace("_", "")


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
    )


def keep_placeholders(nlp: Language, texts: list[str]) -> Language:
    """Register every placeholder that occurs in ``texts`` as a tokenizer special case (on a
    :class:`DeferredBlank`, once it is built)."""
    if isinstance(nlp, DeferredBlank):
        nlp.when_built(lambda built: keep_placeholders(built, texts))
        return nlp
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
    backend: str = "blank"  # spacy | frog | blank
    version: str = (
        ""  # the backend's: "frog 0.20 (...)", "nl_core_news_md 3.8.0", "simplemma 2.0.0"
    )
    parser: bool = False  # whether dependencies were parsed


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


def _installed(model: str) -> bool:
    return spacy.util.is_package(model) or (Path(model).expanduser() / "config.cfg").is_file()


def _meta(model: str) -> dict:
    path = Path(model).expanduser()
    if (path / "config.cfg").is_file():
        return spacy.util.get_model_meta(path) if (path / "meta.json").is_file() else {}
    return spacy.info(model) or {}


def _missing_features(pipes: list[str]) -> list[str]:
    """What a trained pipeline lacks, from its components."""
    missing = []
    if not {"tagger", "morphologizer"} & set(pipes):
        missing.append(POS)
    if "ner" not in pipes:
        missing.append(ENTITIES)
    if "parser" not in pipes:
        missing.append(PARSES)
    return missing


def load_trained(model: str, language: str, *, parser: bool = True) -> tuple[Language, NlpInfo]:
    """An installed spaCy pipeline (package or path), refused for another language."""
    meta = _meta(model)
    lang = meta.get("lang")
    if lang not in (language, "xx", None):  # xx: spaCy's multi-language pipelines
        raise CdaError(
            f"spaCy model {model} is for language '{lang}', the study's language is '{language}'",
            hint="set nlp.model in cda.yaml to a pipeline for that language, or remove it "
            "to use the language's default",
        )
    target = str(Path(model).expanduser()) if not spacy.util.is_package(model) else model
    nlp = spacy.load(target, exclude=[] if parser else ["parser"])
    if "senter" in nlp.disabled:
        nlp.enable_pipe("senter")
    if (
        not nlp.has_pipe("sentencizer")
        and not nlp.has_pipe("senter")
        and not nlp.has_pipe("parser")
    ):
        nlp.add_pipe("sentencizer")
    nlp.add_pipe("cda_lower_lemma", last=True)
    package = spacy.util.is_package(model)
    label = model if package else f"{meta.get('lang', language)}_{meta.get('name', 'pipeline')}"
    name = f"{label}-{nlp.meta.get('version', '?')}"
    info = NlpInfo(
        name,
        spacy.__version__,
        list(nlp.pipe_names),
        _missing_features(list(nlp.pipe_names)),
        requested=model,
        backend="spacy",
        version=f"{label} {nlp.meta.get('version', '?')}",
        parser=nlp.has_pipe("parser"),
    )
    return nlp, info


def load_blank(language: str, *, requested: str = "", note: str = "") -> tuple[Language, NlpInfo]:
    """The offline floor: blank + sentencizer + simplemma lemmas (spaCy's lookup tables for a
    language simplemma has no dictionary of)."""
    return build_blank(language), blank_info(language, requested=requested, note=note)


def _blank_lemmas(language: str) -> tuple[str, str, str]:
    """(the lemma component, its name in the pipeline's name, its version) for ``language``."""
    from simplemma.strategies.dictionaries.dictionary_factory import SUPPORTED_LANGUAGES

    if language in SUPPORTED_LANGUAGES:
        return "cda_simplemma", "simplemma", f"simplemma {_package_version('simplemma')}"
    version_ = f"spacy-lookups-data {_package_version('spacy-lookups-data')}"
    return "lemmatizer", "lookup-lemmatizer", version_


def blank_info(language: str, *, requested: str = "", note: str = "") -> NlpInfo:
    """What :func:`build_blank` builds, known without building it (so the fingerprint of the
    blank backend costs nothing: :class:`DeferredBlank`)."""
    component, lemmas, lemma_version = _blank_lemmas(language)
    return NlpInfo(
        f"blank:{language}+sentencizer+{lemmas}",
        spacy.__version__,
        ["sentencizer", component, "cda_lower_lemma"],
        list(BLANK_DISABLES),
        requested=requested,
        note=note,
        backend="blank",
        version=lemma_version,
    )


def _language_class(language: str) -> type[Language]:
    try:
        return spacy.util.get_lang_class(language)
    except ImportError as exc:
        raise CdaError(
            f"spaCy has no language '{language}'",
            hint="set 'language' in cda.yaml to an ISO code such as nl",
        ) from exc


def build_blank(language: str, vocab: Vocab | None = None) -> Language:
    """The blank pipeline of :func:`load_blank` (on ``vocab``: spaCy's own vocabulary of the
    language, as ``spacy.blank`` makes it, when None)."""
    _language_class(language)
    nlp = spacy.blank(language, vocab=True if vocab is None else vocab)
    nlp.add_pipe("sentencizer")
    component, _, _ = _blank_lemmas(language)
    if component == "cda_simplemma":
        nlp.add_pipe("cda_simplemma", config={"language": language})
    else:
        nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.add_pipe("cda_lower_lemma")
    try:
        nlp.initialize()
    except (ValueError, OSError) as exc:  # lookup tables missing for this language
        raise CdaError(
            f"no lemma lookup tables for '{language}' ({exc})",
            hint="pip install spacy-lookups-data",
        ) from exc
    return nlp


class DeferredBlank:
    """The blank pipeline, built on first use: its ``lang`` and ``vocab`` now, everything else
    (``pipe``, ``tokenizer`` ...) from the pipeline built on that same vocabulary when first
    asked for.

    Why: building it costs ~0.7 s (the tokenizer's ~4,700 exceptions) and ~0.5 s more for
    simplemma's dictionary at the first lemma, while docs rebuilt from ``tokens.parquet``
    (:func:`token_docs`) and terms read from the terms cache need only the vocabulary (its
    lexical flags: ``is_alpha``, ``is_stop``). So ``cda suggest`` with nothing new to
    lemmatise never builds it. The vocabulary is the one ``spacy.blank`` makes (the
    language's defaults), so every doc is the same as on the built pipeline.
    """

    def __init__(self, language: str) -> None:
        defaults = _language_class(language).Defaults
        self.lang = language
        self.vocab = create_vocab(language, defaults)
        self._nlp: Language | None = None
        self._hooks: list[Callable[[Language], object]] = []

    @property
    def built(self) -> bool:
        return self._nlp is not None

    def when_built(self, hook: Callable[[Language], object]) -> None:
        """Run ``hook`` on the pipeline once it is built (now, if it is)."""
        if self._nlp is not None:
            hook(self._nlp)
        else:
            self._hooks.append(hook)

    def __getattr__(self, name: str):
        if name.startswith("__") or name in ("_nlp", "_hooks", "lang", "vocab"):
            raise AttributeError(name)
        if self._nlp is None:
            self._nlp = build_blank(self.lang, self.vocab)
            log.debug("built the blank '%s' pipeline (asked for %s)", self.lang, name)
            for hook in self._hooks:
                hook(self._nlp)
        return getattr(self._nlp, name)


def load_lookup(language: str) -> Language:
    """blank + sentencizer + spaCy's lookup lemmas: the floor before simplemma, kept for
    ``make bench-nlp``'s comparison."""
    nlp = spacy.blank(language)
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.add_pipe("cda_lower_lemma")
    nlp.initialize()
    return nlp


def not_installed(model: str) -> str:
    return f"{model} is not installed; install it with `python -m spacy download {model}`"


def none_installed(candidates: list[str]) -> str:
    """Why ``auto`` passed over spaCy: none of the pipelines it tries is installed."""
    if len(candidates) == 1:
        return not_installed(candidates[0])
    return (
        f"no trained spaCy pipeline ({', '.join(candidates)}) is installed; install one with "
        f"`python -m spacy download {candidates[-1]}`"
    )


def load_pipeline(model: str, language: str, *, parser: bool = True) -> tuple[Language, NlpInfo]:
    """``model`` if installed, else the offline blank pipeline with simplemma lemmas: for
    callers that lemmatise terms (codebooks, markers) rather than the corpus."""
    if _installed(model):
        return load_trained(model, language, parser=parser)
    note = not_installed(model)
    log.info("%s; using blank '%s' with simplemma lemmas", note, language)
    return load_blank(language, requested=model, note=note)


# lemmatises marker and codebook terms (and code texts) into docs, as the corpus was
TermDocs = Callable[[list[str]], list[Doc]]


def pipe_terms(nlp: Language) -> TermDocs:
    """Terms lemmatised by ``nlp`` itself: right wherever ``nlp`` also parsed the corpus."""
    return lambda terms: list(nlp.pipe(terms))


@dataclass(frozen=True)
class Backend:
    """The chosen backend: ``nlp`` is the study's pipeline (its vocab holds every doc; for
    Frog it is the blank one), ``parse`` turns texts into docs and ``terms`` lemmatises
    marker and codebook terms with the same lemmatiser as the corpus. With Frog that is
    Frog: simplemma would give some terms another lemma than Frog gives the same word in a
    turn ("kloof" → "kloven"), and they would never match."""

    nlp: Language
    info: NlpInfo
    parse: Callable[[list[str]], Iterable[Doc]] = field(repr=False)
    terms: TermDocs = field(repr=False)

    def cached_terms(self, cache_dir: Path) -> TermDocs:
        """``terms`` through a cache keyed by the backend's fingerprint and each term's text.

        Why for every backend: with Frog a term costs a Frog start-up; with the blank
        pipeline the first term loads simplemma's dictionary (~0.5 s), which a rerun of
        ``cda suggest`` on docs rebuilt from ``tokens.parquet`` would pay for nothing else.
        A cached doc is the backend's own doc of that text (words, spaces, lemmas, tags), so
        the lemmas are exactly the backend's. A spaCy pipeline tokenises a term with a
        placeholder (``[PERSOON_1]``) by the special cases of this run's corpus
        (:func:`keep_placeholders`): such terms are lemmatised afresh, never cached.
        """
        key = fingerprint(self.info)  # the prefix keeps terms apart from the corpus
        live = self.info.backend != "frog"  # Frog tokenises placeholders itself

        def lemmatise(terms: list[str]) -> list[Doc]:
            fresh = {t for t in terms if live and PLACEHOLDER.search(t)}
            stored = [t for t in terms if t not in fresh]
            docs, _ = parse_cached(
                stored, self.nlp, cache_dir=cache_dir, key=key, parse=self.terms, prefix="terms"
            )
            found = dict(zip(stored, docs, strict=True))
            if fresh:
                found.update(zip(sorted(fresh), self.terms(sorted(fresh)), strict=True))
            return [found[t] for t in terms]

        return lemmatise


def _spacy_backend(nlp: Language, info: NlpInfo, batch_size: int) -> Backend:
    return Backend(nlp, info, lambda texts: nlp.pipe(texts, batch_size=batch_size), pipe_terms(nlp))


def load_backend(settings: NlpConfig, language: str, *, deferred: bool = False) -> Backend:
    """The best available backend that ``nlp.backend`` allows, and why it is the one.

    ``CDA_NLP_BACKEND`` (spacy, frog or blank) narrows ``auto`` for a whole machine or test
    run (the test suite pins blank, so only Frog's own tests pay Frog's start-up).
    ``deferred``: the blank backend's pipeline is a :class:`DeferredBlank`, built only if
    something is tokenised (for callers that may need only its vocabulary)."""
    choice = settings.backend
    forced = os.environ.get(ENV_BACKEND, "").strip()
    if choice == "auto" and forced:
        if forced not in ("auto", "spacy", "frog", "blank"):
            raise CdaError(
                f"{ENV_BACKEND}={forced!r} is not a backend",
                hint="set it to auto, spacy, frog or blank, or unset it",
            )
        choice = forced
    candidates = settings.candidates(language)
    if choice in ("auto", "spacy"):
        for model in candidates:
            if _installed(model):
                nlp, info = load_trained(model, language, parser=settings.parser)
                return _spacy_backend(nlp, info, settings.batch_size)
        if choice == "spacy":
            raise CdaError(
                f"nlp.backend is spacy, but {' and '.join(candidates)} "
                f"{'is' if len(candidates) == 1 else 'are'} not installed",
                hint=f"python -m spacy download {candidates[-1]}, or set nlp.model to an "
                "installed pipeline (a package name or a path), or nlp.backend: auto",
            )
    requested = candidates[-1]
    notes = [none_installed(candidates)] if choice == "auto" else [f"nlp.backend: {choice}"]
    if choice != settings.backend:
        notes = [f"{ENV_BACKEND}={choice}"]
    if choice in ("auto", "frog"):
        from pipeline.language import frog

        if language != "nl" and choice == "frog":
            raise CdaError(
                f"nlp.backend is frog, which parses Dutch only; the study's language is "
                f"'{language}'",
                hint="set nlp.backend: auto (or blank, or spacy with a pipeline for the language)",
            )
        binary = frog.find_frog(settings.frog) if language == "nl" else None
        if binary is not None:
            if choice == "auto":  # say why Frog, not that something is missing
                notes = [f"Frog is the best installed backend: {notes[0]}"]
            return _frog_backend(settings, binary, requested=requested, notes=notes)
        if choice == "frog":
            raise CdaError(
                f"nlp.backend is frog, but Frog ({settings.frog or 'frog'}) is not on PATH",
                hint=f"install it with {frog.INSTALL}, or set nlp.frog to its path, or "
                "nlp.backend: auto",
            )
        if language == "nl":
            notes.append(frog.MISSING)
            log.warning("%s", frog.MISSING)
    if deferred:
        info = blank_info(language, requested=requested, note="; ".join(notes))
        return _spacy_backend(DeferredBlank(language), info, settings.batch_size)
    nlp, info = load_blank(language, requested=requested, note="; ".join(notes))
    return _spacy_backend(nlp, info, settings.batch_size)


def _frog_backend(settings: NlpConfig, binary: str, *, requested: str, notes: list[str]) -> Backend:
    from pipeline.language import frog

    nlp, _ = load_blank("nl")
    options = frog.FrogSettings(
        binary, parser=settings.parser, batch_words=settings.frog_batch_words
    )
    components = ["tokeniser", "tagger", "lemmatiser", "morphology", "ner"]
    components += ["parser"] if settings.parser else []
    info = NlpInfo(
        f"frog:{'+'.join(components)}",
        spacy.__version__,
        components,
        [] if settings.parser else [PARSES],
        requested=requested,
        note="; ".join(notes),
        backend="frog",
        version=frog.frog_version(binary),
        parser=settings.parser,
    )

    def parse(texts: list[str]) -> Iterator[Doc]:
        return frog.frog_docs(texts, nlp.vocab, options)

    def terms(texts: list[str]) -> list[Doc]:
        # lemmas and tags only: Frog's lemmatiser does not read the parse
        return list(frog.frog_docs(texts, nlp.vocab, replace(options, parser=False)))

    return Backend(nlp, info, parse, terms)


def fingerprint(info: NlpInfo) -> str:
    """What a cached parse depends on: the backend and its version, its settings (parser on
    or off), spaCy, the lemma tables and, for Frog, the conversion's own version."""
    from pipeline.language.frog import CONVERSION

    parts = [
        info.pipeline,
        info.backend,
        info.version,
        f"parser={info.parser}",
        info.spacy_version,
        _package_version("spacy-lookups-data"),
        _package_version("simplemma"),
        ",".join(info.components),
        CONVERSION if info.backend == "frog" else "",
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def parse_cached(
    texts: list[str],
    nlp: Language,
    *,
    cache_dir: Path,
    key: str,
    batch_size: int = 256,
    parse: Callable[[list[str]], Iterable[Doc]] | None = None,
    prefix: str = "docs",
) -> tuple[list[Doc], int]:
    """Docs for ``texts``, parsing only texts the cache does not hold; returns (docs, parsed).

    The cache is one DocBin per pipeline fingerprint. A doc's key is the hash of its own
    text, computed when it is read, so the cache can never be misaligned with the texts. A
    codebook or marker change therefore rematches cached docs instead of reparsing the corpus.
    ``parse`` (default ``nlp.pipe``) makes docs on ``nlp.vocab``: the backend's, e.g. Frog's.

    ``prefix`` names the cache: ``docs`` holds the corpus (only the current texts are kept),
    ``terms`` the marker and codebook terms, kept across calls (each stage asks for its own
    terms) up to :data:`MAX_TERMS`.

    The file is rewritten only when what it should hold changed (a text parsed, one dropped,
    a damaged or old-format file): serialising it costs more than the parse of the blank
    pipeline, so a run with nothing new writes nothing.
    """
    cache = cache_dir / f"{prefix}-{key}.spacy"
    stored = _read_cache(cache, nlp) if cache.is_file() else Stored({}, clean=False)
    known = dict(stored.docs)
    keys = [text_key(text) for text in texts]
    todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in known}
    pending = list(todo.values())
    if not pending:
        made: Iterable[Doc] = []
    else:
        made = parse(pending) if parse else nlp.pipe(pending, batch_size=batch_size)
    parsed = track(made, description="nlp", total=len(todo))
    for k, doc in zip(todo, parsed, strict=True):
        known[k] = doc
    current = dict.fromkeys(keys)
    if prefix == "terms" and len(known) <= MAX_TERMS:
        current = {**dict.fromkeys(known), **current}
    if not stored.clean or set(current) != set(stored.docs):
        store = DocBin(attrs=DOC_ATTRS, docs=[known[k] for k in current])
        write_bytes(cache, store.to_bytes(), only_if_changed=True)
    for stale in cache_dir.glob(f"{prefix}-*.spacy"):
        if stale != cache:
            stale.unlink()
    return [known[k] for k in keys], len(todo)


@dataclass(frozen=True)
class Stored:
    """The docs a cache file holds by text hash; ``clean``: the file holds exactly these, in
    the current format (else it is rewritten even when nothing new is parsed)."""

    docs: dict[str, Doc]
    clean: bool


def _read_cache(cache: Path, nlp: Language) -> Stored:
    """The cached docs by text hash; a damaged cache is derived data, so it is rebuilt.

    Any failure to decode counts as damage (DocBin raises ValueError, TypeError, msgpack and
    zlib errors for truncated or foreign bytes). A cache written before the key was taken from
    the text carries each doc's key in its user data (which costs more to write and read than
    the parse itself): a doc whose text does not hash to that key is dropped, so a damaged
    cache can cost a reparse but never misalign docs and texts, and the file is rewritten.
    """
    try:
        store = DocBin().from_disk(cache)
        docs = list(store.get_docs(nlp.vocab))
    except Exception as exc:  # any unreadable cache is rebuilt, never fatal
        log.warning(
            "%s: the parse cache is unreadable (%s: %.80s); rebuilding it",
            cache,
            type(exc).__name__,
            exc,
        )
        return Stored({}, clean=False)
    legacy = any(data is not None for data in store.user_data)
    known = {}
    for doc in docs:
        key = text_key(doc.text)
        if legacy and doc.user_data.get("cda_key") != key:
            continue
        doc.user_data.pop("cda_key", None)
        known[key] = doc
    dropped = len(docs) - len(known)
    if dropped and legacy:
        log.warning("%s: %d cached doc(s) do not match their text; reparsing them", cache, dropped)
    return Stored(known, clean=not legacy and not dropped)


@dataclass(frozen=True)
class Parsed:
    """The pseudonymised segments with their spaCy docs, and the pipeline that made them."""

    segments: pd.DataFrame
    docs: list[Doc]
    nlp: Language
    info: NlpInfo
    parsed: int
    terms: TermDocs = field(repr=False)


def segment_docs(ws: Workspace, config: StudyConfig, *, from_tokens: bool = False) -> Parsed:
    """Docs for every segment, from the parse cache where possible (shared by nlp, suggest).

    ``from_tokens``: for callers that read only the text, the lemmas and the lexical flags
    (suggest's keywords, TF-IDF and embeddings), the docs are rebuilt from the nlp stage's
    ``tokens.parquet`` (words, spaces, lemmas: no tags, entities or parse) when it is
    current (:func:`token_docs`), so the parse cache is not read; else they come from it.
    There the blank backend's pipeline is a :class:`DeferredBlank`: built only if a text or
    a term the terms cache lacks must be tokenised.
    """
    segments = read_table(ws.segments, SEGMENTS)
    # from tokens: a blank pipeline is built only if a text or term must be tokenised
    backend = load_backend(config.nlp, config.language, deferred=from_tokens)
    nlp, info = backend.nlp, backend.info
    texts = segments["text"].tolist()
    keep_placeholders(nlp, texts)
    terms = backend.cached_terms(ws.interim / "nlp")
    if from_tokens:
        docs = token_docs(ws, segments, nlp, info)
        if docs is not None:
            return Parsed(segments, docs, nlp, info, 0, terms)
    docs, parsed = parse_cached(
        texts,
        nlp,
        cache_dir=ws.interim / "nlp",
        key=fingerprint(info),
        batch_size=config.nlp.batch_size,
        parse=backend.parse,
    )
    return Parsed(segments, docs, nlp, info, parsed, terms)


def token_docs(
    ws: Workspace, segments: pd.DataFrame, nlp: Language, info: NlpInfo
) -> list[Doc] | None:
    """Docs of ``segments`` rebuilt from ``tokens.parquet``: each token's text, its trailing
    space and its lemma, on ``nlp.vocab`` (so ``is_alpha`` and ``is_stop`` are the
    vocabulary's, as in the parsed doc). None (and the caller parses or reads the cache)
    unless the table is exactly the current backend's parse of these texts: ``nlp.json``
    records the same fingerprint, every segment has its tokens numbered 0..n-1 and they
    spell its text again, character for character. A segment with whitespace beyond single
    spaces has space tokens, which the table leaves out, so it fails that check too.
    """
    import json

    from pipeline.core.schemas import TOKENS

    record, path = ws.interim / "nlp.json", ws.tokens
    try:
        recorded = json.loads(record.read_text(encoding="utf-8")).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        recorded = None
    if recorded != fingerprint(info) or not path.is_file():
        log.info("tokens.parquet is not the current parse (run `cda nlp`): reading the cache")
        return None
    tokens = read_table(path, TOKENS)
    groups = tokens.groupby("segment_id", sort=False).indices
    words, indices, lemmas = (tokens[c].tolist() for c in ("text", "token_index", "lemma"))
    docs = []
    for sid, text in zip(segments["segment_id"], segments["text"], strict=True):
        rows = groups.get(sid)
        doc = _spelled(nlp, text, rows, words, indices, lemmas) if rows is not None else None
        if doc is None:
            log.info("tokens.parquet does not spell segment %s: reading the parse cache", sid)
            return None
        docs.append(doc)
    return docs


def _spelled(nlp: Language, text: str, rows, words, indices, lemmas) -> Doc | None:
    """The doc of ``text`` from its token rows, or None where they do not spell it."""
    own = [words[r] for r in rows]
    if [indices[r] for r in rows] != list(range(len(own))):
        return None
    spaces, at = [], 0
    for word in own:
        at += len(word)
        gap = text[at : at + 1] == " "
        spaces.append(gap)
        at += gap
    if "".join(w + " " * g for w, g in zip(own, spaces, strict=True)) != text:
        return None
    return Doc(nlp.vocab, words=own, spaces=spaces, lemmas=[lemmas[r] for r in rows])
