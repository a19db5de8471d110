"""What counts as an ordinary word of a language, for the name masker.

Three sources, all offline:

- ``pipeline/resources/not_names.<lang>.txt`` (plus ``pseudonymise.not_names`` in cda.yaml):
  titles, roles and forms of address ("mevrouw", "staatssecretaris", "chair"). A label word on
  this list is never a name part.
- spaCy's stop words for the language (``spacy.lang.<lang>.stop_words``): function words. Written
  in lower case in a label ("Mr Smith and Mrs Jones") they are never name parts; capitalised
  ("Theresa May", "Ben de Vries") they are names that are also words, masked only where used as
  a name (see :mod:`pipeline.pseudonymise`). Dropping them outright would leak "May" and "Ben".
- simplemma's per-language dictionaries (MIT, maintained, pure Python): is a name part also a
  common word ("Kat", "Vos", "Snels")? ``simplemma.is_known`` folds case and its dictionaries
  hold some first names ("daan", "ellen"); that is harmless because a dictionary word is still
  masked wherever the text uses it as a name. wordfreq was rejected: unmaintained since 2024,
  and its frequencies count names (henk, jansen) as words.
"""

from __future__ import annotations

import importlib
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

from pipeline.core.errors import CdaError


def base_language(code: str) -> str:
    """``nl``, ``en-GB`` or ``en_US`` → the two- or three-letter base code, lower case."""
    return code.replace("_", "-").split("-")[0].strip().lower()


def _key(word: str) -> str:
    """Comparison form of a label word: NFC, case-folded, surrounding dots dropped."""
    return unicodedata.normalize("NFC", word).casefold().strip(".")


@cache
def _bundled_not_names(lang: str) -> tuple[tuple[str, ...], ...] | None:
    try:
        text = (
            resources.files("pipeline")
            .joinpath(f"resources/not_names.{lang}.txt")
            .read_text(encoding="utf-8")
        )
    except FileNotFoundError:
        return None
    entries = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            entries.append(tuple(_key(w) for w in line.split()))
    return tuple(entries)


@cache
def _stop_words(lang: str) -> frozenset[str] | None:
    try:
        module = importlib.import_module(f"spacy.lang.{lang}.stop_words")
    except ImportError:
        return None
    return frozenset(_key(w) for w in module.STOP_WORDS)


@cache
def _has_dictionary(lang: str) -> bool:
    from simplemma.strategies.dictionaries.dictionary_factory import SUPPORTED_LANGUAGES

    return lang in SUPPORTED_LANGUAGES


@cache
def _known(word: str, lang: str) -> bool:
    import simplemma

    return simplemma.is_known(word, lang=lang)


@dataclass(frozen=True)
class Lexicon:
    """The ordinary words of one language, as far as the masker needs them."""

    language: str
    not_names: tuple[tuple[str, ...], ...]
    stop_words: frozenset[str]
    has_dictionary: bool
    has_not_names: bool
    has_stop_words: bool

    def is_word(self, word: str) -> bool:
        """Whether ``word`` (any case) is a common word of the language: dictionary or stop word."""
        key = _key(word)
        if not key:
            return False
        if key in self.stop_words:
            return True
        lower = unicodedata.normalize("NFC", word).lower()
        return self.has_dictionary and _known(lower, self.language)

    def is_stop_word(self, word: str) -> bool:
        return _key(word) in self.stop_words

    def notices(self) -> list[str]:
        """What this language lacks, in words for the analyst (empty when nothing is missing)."""
        out = []
        if not self.has_dictionary:
            out.append(
                f"no word list for language '{self.language}' (simplemma): every label-derived "
                "name part is masked in any case, also where it is an ordinary word"
            )
        if not self.has_not_names:
            out.append(
                f"no bundled title list for language '{self.language}' "
                f"(pipeline/resources/not_names.{self.language}.txt): list titles and roles used "
                "in speaker labels under pseudonymise.not_names in cda.yaml"
            )
        if not self.has_stop_words:
            out.append(f"no spaCy stop words for language '{self.language}'")
        return out


def load_lexicon(language: str, *, not_names: tuple[str, ...] | list[str] = ()) -> Lexicon:
    """The lexicon of ``language`` with the study's extra ``not_names`` (any language)."""
    lang = base_language(language)
    if not lang:
        raise CdaError(f"empty language code '{language}'", hint="set language: nl (or en, ...)")
    bundled = _bundled_not_names(lang)
    stop = _stop_words(lang)
    extra = tuple(tuple(_key(w) for w in entry.split()) for entry in not_names if entry.strip())
    return Lexicon(
        language=lang,
        not_names=(bundled or ()) + extra,
        stop_words=stop or frozenset(),
        has_dictionary=_has_dictionary(lang),
        has_not_names=bundled is not None,
        has_stop_words=stop is not None,
    )
