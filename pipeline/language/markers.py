"""Discourse markers: an editable, versioned YAML file compiled to spaCy matchers.

CDA reads *how* things are said: who is "we" and who is "them", what must or may happen, how
firmly claims are made, who is held responsible. The marker lists are the analyst's, not
ours, so they live in ``codebooks/markers.yaml`` (seeded from ``resources/markers.<language>.
yaml``, bundled for nl and en), validated with line numbers, and matched on lemmas so inflected
forms count (folded, so a spelling with or without diacritics counts too). Markers are words of
one language: a file whose ``language`` is not the study's is refused, and a study in a
language without a marker set gets no markers (and the report says so) rather than another
language's.
"""

from __future__ import annotations

import hashlib
import logging
from bisect import bisect_right
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from spacy.attrs import LEMMA, ORTH
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from pipeline.core import yamlfile
from pipeline.core.errors import CdaError
from pipeline.core.schemas import MARKERS
from pipeline.language.fold import fold
from pipeline.language.parse import TermDocs, pipe_terms

log = logging.getLogger(__name__)


def bundled_name(language: str) -> str:
    """Where the bundled marker set of ``language`` would be, inside the package."""
    return f"resources/markers.{language}.yaml"


class Marker(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    terms: list[str] = Field(default_factory=list)
    patterns: list[list[dict[str, Any]]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something_to_match(self) -> Marker:
        if not self.terms and not self.patterns:
            raise ValueError("a marker needs 'terms' or 'patterns'")
        if any(not term.strip() for term in self.terms):
            raise ValueError("empty term")
        return self


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    markers: list[Marker] = Field(min_length=1)

    @field_validator("markers")
    @classmethod
    def _unique(cls, markers: list[Marker]) -> list[Marker]:
        seen: set[str] = set()
        for marker in markers:
            if marker.id in seen:
                raise ValueError(f"duplicate marker id '{marker.id}'")
            seen.add(marker.id)
        return markers


class MarkerSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    language: str
    categories: dict[str, Category] = Field(min_length=1)


def default_text(language: str) -> str | None:
    """The bundled marker file of ``language``, or None when none ships for it."""
    resource = resources.files("pipeline").joinpath(bundled_name(language))
    return resource.read_text(encoding="utf-8") if resource.is_file() else None


def no_markers_note(language: str) -> str:
    """What provenance says when a study's language has no marker set."""
    return (
        f"no discourse markers for language '{language}' (no workspace marker file and none "
        "bundled); write codebooks/markers.yaml with `language: " + language + "` to add them"
    )


def load_markers(
    path: Path, *, language: str, shown: str | None = None
) -> tuple[MarkerSet | None, str]:
    """The workspace's marker file, else the bundled set of ``language``, else none.

    Returns the set (None when ``language`` has none) and a provenance label (file as
    ``shown``, version, content hash; or why there are no markers). A workspace file written
    for another language is refused: its words would be counted in text they do not belong to.
    """
    where = shown or str(path)
    if path.is_file():
        data, lines = yamlfile.load(path)
        spec = yamlfile.parse(MarkerSet, path, data, lines)
        text = path.read_text(encoding="utf-8")
        if spec.language.strip().lower() != language.strip().lower():
            line = yamlfile.line_of(("language",), lines)
            bundled = default_text(language) is not None
            raise CdaError(
                f"{where}:{line}: marker file is for language '{spec.language}', "
                f"the study's language is '{language}'",
                hint=(
                    f"delete it and run `cda init` to get the bundled '{language}' set"
                    if bundled
                    else f"write markers for '{language}' (and set `language: {language}`), "
                    "or delete the file to run without discourse markers"
                ),
            )
    else:
        text = default_text(language)
        if text is None:
            log.info("no %s and no bundled markers for '%s': markers skipped", where, language)
            return None, no_markers_note(language)
        log.info("no %s; using the bundled marker list (run `cda init` to get a copy)", where)
        name = bundled_name(language)
        data, lines = yamlfile.load_text(text, f"<bundled {name}>")
        spec = yamlfile.parse(MarkerSet, Path(f"<bundled {name}>"), data, lines)
        where = f"bundled {name}"
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return spec, f"{where} v{spec.version} ({digest})"


def build_matchers(
    entries: dict[str, tuple[list[str], list[list[dict[str, Any]]]]],
    nlp: Language,
    terms: TermDocs | None = None,
) -> tuple[PhraseMatcher, Matcher]:
    """Matchers for ``{key: (terms, patterns)}``: terms are lemmatised by ``terms`` (the
    backend's lemmatiser, :attr:`pipeline.language.parse.Parsed.terms`; default ``nlp``
    itself), so a term and the same word in a turn get one lemma; matched on folded lemmas
    (:func:`folded`: lower case, no diacritics, so "efficientie" finds "efficiëntie" and
    back); patterns are raw spaCy Matcher patterns, matched on the doc
    as parsed. Shared by markers and codes; run both with :func:`find`."""
    phrases = PhraseMatcher(nlp.vocab, attr="ORTH")
    matcher = Matcher(nlp.vocab, validate=True)
    lemmatise = terms or pipe_terms(nlp)
    listed = list(dict.fromkeys(t for words, _ in entries.values() for t in words))
    docs = dict(zip(listed, lemmatise(listed), strict=True)) if listed else {}
    for key, (words, patterns) in entries.items():
        if words:
            phrases.add(key, [folded(docs[w]) for w in words])
        if patterns:
            try:
                matcher.add(key, patterns)
            except ValueError as exc:
                raise CdaError(
                    f"'{key}': invalid spaCy pattern ({str(exc).splitlines()[0]})",
                    hint="see https://spacy.io/usage/rule-based-matching#matcher",
                ) from None
    return phrases, matcher


_FOLDED: dict[tuple[int, int], str] = {}
"""(lemma hash, text hash) -> the folded word :func:`folded` puts in its shadow doc."""


def folded(doc: Doc) -> Doc:
    """A shadow of ``doc`` whose words are its tokens' folded lemmas, token for token, so a
    match's token offsets are valid in ``doc``. ``doc`` itself (often from the parse cache) is
    left untouched. Read from the token array, each distinct (lemma, text) folded once: a
    word is ``fold(lemma or text) or text``."""
    store = doc.vocab.strings
    if len(_FOLDED) > 1 << 18:
        _FOLDED.clear()
    words = []
    for lemma, text in doc.to_array([LEMMA, ORTH]).reshape(len(doc), 2).tolist():
        word = _FOLDED.get((lemma, text))
        if word is None:
            word = fold(store[lemma or text]) or store[text]
            _FOLDED[(lemma, text)] = word
        words.append(word)
    return Doc(doc.vocab, words=words)


def find(doc: Doc, phrases: PhraseMatcher, matcher: Matcher) -> list[tuple[int, int, int]]:
    """``(match_id, start, end)`` of both matchers in ``doc`` (terms on its folded lemmas)."""
    hits = list(phrases(folded(doc))) if len(phrases) else []
    return hits + (list(matcher(doc)) if len(matcher) else [])


# pattern keys that need an annotation the blank pipeline lacks (spaCy refuses to match them
# on a doc without it): the doc annotation each one needs
ANNOTATED = {"POS": "POS", "TAG": "TAG", "MORPH": "MORPH", "DEP": "DEP", "ENT_TYPE": "ENT_IOB",
             "ENT_IOB": "ENT_IOB", "ENT_ID": "ENT_IOB"}  # fmt: skip


def pattern_needs(pattern: list[dict[str, Any]]) -> set[str]:
    """The doc annotations (POS, TAG, MORPH, DEP, ENT_IOB) a Matcher pattern matches on."""
    return {
        ANNOTATED[key.upper()] for token in pattern for key in token if key.upper() in ANNOTATED
    }


def unmatchable(spec: MarkerSet, docs: list[Doc]) -> dict[str, list[str]]:
    """``{category/marker: [annotation, ...]}``: patterns that need tags (``{lemma: moeten,
    pos: AUX}``) the docs do not have, because no tagger, NER or parser ran. Those patterns
    are left out (the marker's terms and other patterns still match) and nlp.json lists them,
    so a marker never silently counts less than it says."""
    present = {a for a in set(ANNOTATED.values()) if any(d.has_annotation(a) for d in docs)}
    missing: dict[str, list[str]] = {}
    for category, body in spec.categories.items():
        for marker in body.markers:
            lacking = {a for p in marker.patterns for a in pattern_needs(p)} - present
            if lacking:
                missing[f"{category}/{marker.id}"] = sorted(lacking)
    return missing


def compile_markers(
    spec: MarkerSet,
    nlp: Language,
    *,
    skip: frozenset[str] = frozenset(),
    terms: TermDocs | None = None,
) -> tuple[PhraseMatcher, Matcher]:
    """Matchers of every marker; ``skip``: annotations the docs lack, whose patterns are left
    out (:func:`unmatchable`)."""
    entries = {
        f"{category}/{marker.id}": (
            marker.terms,
            [p for p in marker.patterns if not pattern_needs(p) & skip],
        )
        for category, body in spec.categories.items()
        for marker in body.markers
    }
    return build_matchers(entries, nlp, terms)


def match_doc(doc: Doc, phrases: PhraseMatcher, matcher: Matcher) -> list[tuple[str, Span]]:
    """(category/marker, span) pairs; overlapping matches of one category keep the longest."""
    found: dict[str, list[Span]] = {}
    for match_id, start, end in find(doc, phrases, matcher):
        key = doc.vocab.strings[match_id]
        found.setdefault(key.split("/")[0], []).append(Span(doc, start, end, label=key))
    spans = [span for group in found.values() for span in filter_spans(group)]
    return sorted(((span.label_, span) for span in spans), key=lambda m: (m[1].start, m[0]))


def marker_table(
    segment_ids: list[str],
    docs: list[Doc],
    spec: MarkerSet,
    nlp: Language,
    terms: TermDocs | None = None,
) -> pd.DataFrame:
    lacking = unmatchable(spec, docs)
    for key, needs in lacking.items():
        log.warning("%s: patterns on %s left out (no tagger ran)", key, ", ".join(needs))
    skip = frozenset(a for needs in lacking.values() for a in needs)
    phrases, matcher = compile_markers(spec, nlp, skip=skip, terms=terms)
    rows = []
    for sid, doc in zip(segment_ids, docs, strict=True):
        matches = match_doc(doc, phrases, matcher)
        if not matches:
            continue
        starts = [sent.start for sent in doc.sents]  # sentences partition the doc
        for key, span in matches:
            category, marker = key.split("/")
            rows.append(
                {
                    "segment_id": sid,
                    "category": category,
                    "marker": marker,
                    "text": span.text,
                    "lemma": " ".join(tok.lemma_ for tok in span),
                    "sentence_index": bisect_right(starts, span.start) - 1,
                    "start_char": span.start_char,
                    "end_char": span.end_char,
                }
            )
    return pd.DataFrame(rows, columns=MARKERS.names) if rows else MARKERS.empty()
