"""Name masking: which terms to mask, and where in the text each is used as a name.

Terms come from the speaker key (the name inside each label, its single words, real names) and
from ``data/private/names.csv``. Matching is case- and diacritic-insensitive and whole-word; a
longer term wins over its parts ("Thijs van 't Hof" over "Thijs").

Listed names (names.csv, ``real_name`` in the key) are masked wherever they occur. A term taken
from a label that is also an ordinary word of the language ("Kat", "Vos", "Snels") is masked
only where the text uses it as a name:

- lower case ("de kat", "ik denk") is the word: kept;
- capitalised, not at the start of a sentence ("mevrouw Kat", "de leden Kat, Idsinga") is the
  name: masked;
- capitalised at the start of a sentence is ambiguous: masked when this study's text writes the
  term capitalised mid-sentence at least as often as in lower case (the corpus uses it as a
  name), kept otherwise. "Daan zei ..." in a corpus that never writes "daan" is masked.

A possessive "s" stays after the placeholder ("Henks fiets" → "[P02]s fiets") unless name + "s" is
itself a word: "Ik lees" is not Lee's.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from pipeline.core.config import PseudonymiseConfig
from pipeline.core.schemas import TERM_SOURCES
from pipeline.core.transcript import UNKNOWN_SPEAKER
from pipeline.language.lexicon import Lexicon
from pipeline.language.names import fold, is_particle, label_name, nfc, norm, role_words

# where a term comes from, strongest first: a term found twice keeps the first source here
SOURCES = TERM_SOURCES
ALWAYS = frozenset({"names.csv", "real_name"})

_WORD = re.compile(r"\w+")
_SENTENCE_END = ".!?…"
_SKIP_BACK = "\"'“”‘’„«»()[]{}-–—*"


@dataclass(frozen=True)
class Term:
    """One thing to mask and how."""

    norm: str
    display: str
    source: str
    placeholder: str
    always: bool
    """Listed by the analyst: every use is masked, also as a word."""
    word: bool
    """Also an ordinary word of the language: masked only where used as a name."""
    possessive: bool
    """Name + "s" is no word, so "Henks" is the name with a possessive s."""
    pattern: re.Pattern[str] = field(repr=False, compare=False)
    first: str = ""
    offset: int = 0


@dataclass(frozen=True)
class Hit:
    start: int
    end: int
    term: Term


def capitalised(span: str) -> bool:
    """Every non-particle word of the span starts with a capital ("Van Dijk", "Kat", "KAT")."""
    words = [w for w in span.split() if not is_particle(w)] or span.split()
    return all(w[:1].isupper() for w in words)


def sentence_initial(text: str, start: int) -> bool:
    """Whether ``start`` begins a sentence: text start, or after . ! ? … (quotes/dashes skipped)."""
    i = start - 1
    while i >= 0 and (text[i].isspace() or text[i] in _SKIP_BACK):
        i -= 1
    return i < 0 or text[i] in _SENTENCE_END


@dataclass(frozen=True)
class Masker:
    """Finds and replaces terms; see the module docstring for the rules."""

    terms: tuple[Term, ...] = ()
    index: dict[str, tuple[Term, ...]] = field(default_factory=dict)
    name_initial: frozenset[str] = frozenset()
    """Word terms whose capitalised sentence-initial use is a name in this corpus."""
    language: str = "nl"

    def masks(self, term: Term, text: str, start: int, end: int) -> bool:
        """Whether this occurrence of ``term`` is used as a name."""
        if term.always or not term.word:
            return True
        if not capitalised(text[start:end]):
            return False
        return not sentence_initial(text, start) or term.norm in self.name_initial

    def find(self, text: str, *, decide: bool = True) -> tuple[list[Hit], list[Hit]]:
        """Occurrences masked, and occurrences of terms kept as ordinary words.

        ``decide=False`` returns every occurrence (for counting how the corpus uses a term).
        """
        if not self.terms:
            return [], []
        folded = fold(text)
        hits: list[Hit] = []
        kept: list[Hit] = []
        pos = 0
        for token in _WORD.finditer(folded):
            if token.start() < pos:
                continue
            word = token.group()
            candidates = self.index.get(word, ())
            if word.endswith("s"):
                candidates = tuple(
                    sorted(
                        candidates + self.index.get(word[:-1], ()),
                        key=lambda t: len(t.norm),
                        reverse=True,
                    )
                )
            rejected: Hit | None = None
            for term in candidates:
                start = token.start() - term.offset
                if start < pos:
                    continue
                match = term.pattern.match(folded, start)
                if match is None or (match.group("s") and not term.possessive):
                    continue
                if decide and not self.masks(term, text, match.start(), match.end()):
                    rejected = rejected or Hit(match.start(), match.end(), term)
                    continue
                hits.append(Hit(match.start(), match.end(), term))
                pos = match.end()
                break
            else:
                if rejected is not None:
                    kept.append(rejected)
        return hits, kept

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        return [(h.start, h.end, h.term.placeholder) for h in self.find(text)[0]]

    def apply(self, text: str) -> tuple[str, list[Hit], list[Hit]]:
        """The masked text (NFC), the hits replaced and the occurrences kept as words."""
        text = unicodedata.normalize("NFC", text)  # decomposed "Brûlé" must match too
        hits, kept = self.find(text)
        out, last = [], 0
        for hit in hits:
            out.append(text[last : hit.start])
            out.append(hit.term.placeholder)
            last = hit.end
        out.append(text[last:])
        return "".join(out), hits, kept


def _pattern(term_norm: str) -> re.Pattern[str]:
    body = r"\s+".join(re.escape(part) for part in term_norm.split())
    return re.compile(rf"(?<!\w){body}(?=(?P<s>s)?(?!\w))")


def _usage(masker: Masker, texts: Iterable[str]) -> frozenset[str]:
    """Word terms written capitalised mid-sentence at least as often as in lower case."""
    lower: Counter[str] = Counter()
    capital_mid: Counter[str] = Counter()
    for text in texts:
        text = unicodedata.normalize("NFC", text)
        for hit in masker.find(text, decide=False)[0]:
            if hit.term.always or not hit.term.word:
                continue
            if not capitalised(text[hit.start : hit.end]):
                lower[hit.term.norm] += 1
            elif not sentence_initial(text, hit.start):
                capital_mid[hit.term.norm] += 1
    words = {t.norm for t in masker.terms if t.word and not t.always}
    return frozenset(n for n in words if capital_mid[n] >= lower[n])


def build_masker(
    key: pd.DataFrame,
    names: pd.DataFrame,
    cfg: PseudonymiseConfig,
    *,
    lexicon: Lexicon,
    texts: Iterable[str] = (),
) -> Masker:
    """Collect the terms to mask from the speaker key and the names list; learn from ``texts``
    whether a term that is also a word is used as a name at sentence starts.

    A listed person whose name (or one word of it) belongs to exactly one speaker is replaced by
    that speaker's pseudonym, so "zoals Anouk zei" reads "zoals [P02] zei" and keeps its meaning.
    A word shared by two speakers cannot be attributed, but is still a name: it becomes [NAAM].
    """
    generic = re.compile(cfg.generic_label_pattern, re.IGNORECASE)
    roles = role_words(cfg.facilitator_labels)
    entries: dict[str, dict] = {}

    def add(value: str, source: str, pseudonym: str | None = None, kind: str | None = None):
        n = norm(value)
        if not n:
            return
        entry = entries.setdefault(
            n, {"display": nfc(value).strip(), "source": source, "owners": set(), "kind": None}
        )
        if SOURCES.index(source) < SOURCES.index(entry["source"]):
            entry["display"], entry["source"] = nfc(value).strip(), source
        entry.setdefault("sources", set()).add(source)
        if pseudonym:
            entry["owners"].add(pseudonym)
        if kind:
            entry["kind"] = kind

    for row in key.itertuples(index=False):
        if row.pseudonym == UNKNOWN_SPEAKER:
            continue
        values = [(row.label, "label")]
        if isinstance(row.real_name, str) and row.real_name.strip():
            values.append((row.real_name, "real_name"))
        for value, source in values:
            if not isinstance(value, str) or generic.match(nfc(value)):
                continue
            found = label_name(value, lexicon, role_words=roles if source == "label" else ())
            if source == "real_name":
                add(value, source, row.pseudonym)
            elif found.full:
                add(found.full, source, row.pseudonym)
            if cfg.mask_name_parts:
                for part in found.parts:
                    add(part, f"{source} part", row.pseudonym)
    for row in names.itertuples(index=False):
        add(row.name, "names.csv", kind=row.kind)

    terms = []
    for n, entry in entries.items():
        owners = entry["owners"]
        if len(owners) == 1:
            placeholder = f"[{next(iter(owners))}]"
        elif owners:
            placeholder = cfg.placeholders["person"]
        else:
            kind = entry["kind"] or "person"
            placeholder = cfg.placeholders.get(kind, cfg.placeholders["other"])
        tokens = [t for t in entry["display"].split() if not is_particle(t)] or [entry["display"]]
        first = _WORD.search(n)
        terms.append(
            Term(
                norm=n,
                display=entry["display"],
                source=entry["source"],
                placeholder=placeholder,
                always=bool(entry["sources"] & ALWAYS),
                word=all(lexicon.is_word(t) for t in tokens),
                possessive=not lexicon.is_word(entry["display"].split()[-1] + "s"),
                pattern=_pattern(n),
                first=first.group() if first else n,
                offset=first.start() if first else 0,
            )
        )
    terms.sort(key=lambda t: len(t.norm), reverse=True)
    index: dict[str, list[Term]] = {}
    for term in terms:
        index.setdefault(term.first, []).append(term)
    masker = Masker(
        tuple(terms), {k: tuple(v) for k, v in index.items()}, frozenset(), lexicon.language
    )
    return Masker(masker.terms, masker.index, _usage(masker, texts), lexicon.language)
