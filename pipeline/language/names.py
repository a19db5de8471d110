"""Speaker labels: the name inside a label, facilitator labels, and names inside recording ids.

A label such as "De heer Edgar Mulder (PVV)" or "Staatssecretaris Van Huffelen" mixes a name with
a title and an affiliation. Only the name may be masked in the text; masking "staatssecretaris"
or "(PVV)" would rewrite ordinary language (issue 15). So a label is reduced to its name first:
parenthesised parts go, then the language's titles and roles, then particles, initials and
function words, leaving the words that identify someone on their own.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.core.config import StudyConfig
from pipeline.core.errors import CdaError
from pipeline.core.io import read_csv
from pipeline.core.manifest import check_recording_id
from pipeline.core.paths import Workspace
from pipeline.core.schemas import NAMES
from pipeline.core.transcript import UNKNOWN_SPEAKER
from pipeline.language.fold import fold as fold_word
from pipeline.language.lexicon import Lexicon, load_lexicon

# Words inside names that identify nobody on their own ("Thijs van 't Hof", "Ursula von der
# Leyen", "Luis de la Fuente"); the same in every study language, since names travel.
_PARTICLES = "van der den de het 't ter ten te op in 's von vom zu zum zur la le les du des di da"
NAME_PARTICLES = frozenset([*_PARTICLES.split(), "del", "della", "dos", "das", "do", "d'", "l'"])

_AFFILIATION = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_EDGE_PUNCT = ',;:!?"“”„()[]{}«»'
_NUMBER = re.compile(r"^[#\d]+[.)]?$")
_ID_SPLIT = re.compile(r"[-_.\s\d]+")


def fold(text: str) -> str:
    """:func:`pipeline.language.fold.fold` character by character, keeping offsets aligned.

    ``Zoë`` and ``zoe`` fold to the same string, and position *i* in the folded text is
    position *i* in the original, so matches can be replaced in the original text. A character
    whose fold is longer ("ß" → "ss", "ﬁ" → "fi") is only lower-cased, so offsets never move.
    """
    out = []
    for char in text:
        base = fold_word(char)
        out.append(base if len(base) == 1 else char.lower())
    return "".join(out).replace("’", "'")


def is_particle(token: str) -> bool:
    """A name particle ("van", "de", "'t"), whatever its case or apostrophe."""
    return nfc(token).casefold().replace("’", "'") in NAME_PARTICLES


def norm(name: str) -> str:
    """The matching form of a name: NFC, folded, single spaces."""
    return " ".join(fold(unicodedata.normalize("NFC", name)).split())


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@dataclass(frozen=True)
class LabelName:
    """The name in a speaker label: as written (titles gone), and the words that identify."""

    full: str | None
    """"Inge van Dijk" for "Mevrouw Inge van Dijk (CDA)"; None when the label holds no name."""
    parts: tuple[str, ...]
    """("Inge", "Dijk"): each identifies the speaker alone."""


def _clean(token: str) -> str:
    return token.strip(_EDGE_PUNCT)


def _drop_not_names(tokens: list[str], lexicon: Lexicon, extra: frozenset[str]) -> list[str]:
    """Remove title/role sequences (longest first at each position) and facilitator words."""
    keys = [nfc(t).casefold().strip(".") for t in tokens]
    entries = sorted(lexicon.not_names, key=len, reverse=True)
    kept, i = [], 0
    while i < len(tokens):
        if keys[i] in extra:
            i += 1
            continue
        hit = next((e for e in entries if tuple(keys[i : i + len(e)]) == e), None)
        if hit:
            i += len(hit)
            continue
        kept.append(tokens[i])
        i += 1
    return kept


def _is_initial(token: str) -> bool:
    letters = token.replace(".", "")
    return len(letters) <= 1


def label_name(label: str, lexicon: Lexicon, *, role_words: Iterable[str] = ()) -> LabelName:
    """Reduce a speaker label to its name; ``role_words`` (facilitator labels) are no names."""
    text = _AFFILIATION.sub(" ", nfc(label))
    tokens = [t for t in (_clean(t) for t in text.split()) if t and not _NUMBER.match(t)]
    extra = frozenset(nfc(w).casefold() for w in role_words)
    tokens = _drop_not_names(tokens, lexicon, extra)
    # lower-case function words ("and", "of the") are language, not names
    tokens = [
        t for t in tokens if is_particle(t) or not (t[:1].islower() and lexicon.is_stop_word(t))
    ]
    naming = [
        t
        for t in tokens
        if not is_particle(t) and not _is_initial(t) and not lexicon.is_stop_word(t)
    ]
    if not naming:  # "The Chair", "De voorzitter", "Een deelnemer": no name at all
        return LabelName(None, ())
    while tokens and (is_particle(tokens[-1]) or _is_initial(tokens[-1])):
        tokens.pop()
    while is_particle(tokens[0]) and tokens[0][:1].islower():  # "Mme la présidente Dupont"
        tokens.pop(0)
    parts: list[str] = []
    for token in tokens:
        pieces = [token] + ([p for p in token.split("-") if p] if "-" in token else [])
        for piece in pieces:
            if is_particle(piece) or _is_initial(piece) or piece in parts:
                continue
            parts.append(piece)
    return LabelName(" ".join(tokens), tuple(parts))


# facilitators --------------------------------------------------------------------------------


def _core(label: str) -> str:
    """A label without parenthesised notes, folded: "Gespreksleider (Anouk)" → "gespreksleider"."""
    return norm(_AFFILIATION.sub(" ", label))


def is_facilitator(recording_id: str, label: str, facilitator_labels: Iterable[str]) -> bool:
    """Whether a label belongs to the facilitator under the study's ``facilitator_labels``.

    An entry matches case- and accent-insensitively, also followed by a number ("Interviewer 2",
    "MOD1", "FAC-3"). An entry "<recording_id>:<label>" matches that recording's label only, so a
    diarised ``SPEAKER_00`` can be marked as the facilitator of one recording.
    """
    core = _core(label)
    bare = re.sub(r"[\s_#.-]*\d+$", "", core).strip()
    for entry in facilitator_labels:
        rid, sep, qualified = entry.partition(":")
        if sep and rid.strip() == recording_id:
            if norm(qualified) == norm(label):
                return True
            continue
        if sep:
            continue
        wanted = norm(entry)
        if wanted and wanted in (core, bare):
            return True
    return False


def role_words(facilitator_labels: Iterable[str]) -> tuple[str, ...]:
    """The words of unqualified facilitator labels: roles, never names."""
    return tuple(w for e in facilitator_labels if ":" not in e for w in e.split())


# names inside recording ids and file names ---------------------------------------------------


def id_tokens(value: str) -> tuple[str, ...]:
    """An id or file name split at - _ . spaces and digits, folded: "Henk-Jansen-2": henk jansen."""
    return tuple(t for t in _ID_SPLIT.split(norm(value)) if t)


@dataclass(frozen=True)
class NameGuard:
    """Names that must not appear in a recording id or file name, as token sequences."""

    sequences: dict[tuple[str, ...], str]  # tokens -> where the name comes from

    @classmethod
    def build(
        cls,
        *,
        listed: Iterable[tuple[str, str]] = (),
        labels: Iterable[str] = (),
        real_names: Iterable[str] = (),
        lexicon: Lexicon,
        facilitator_labels: Iterable[str] = (),
    ) -> NameGuard:
        roles = role_words(facilitator_labels)
        sequences: dict[tuple[str, ...], str] = {}

        def add(tokens: tuple[str, ...], source: str) -> None:
            tokens = tuple(t for t in tokens if t)
            if tokens:
                sequences.setdefault(tokens, source)

        for name, kind in listed:
            add(id_tokens(name), "data/private/names.csv")
            if kind == "person":
                for token in id_tokens(name):
                    if token not in NAME_PARTICLES and len(token) > 1:
                        add((token,), "data/private/names.csv")
        for source, values in (("speaker label", labels), ("real name", real_names)):
            for value in values:
                found = label_name(value, lexicon, role_words=roles)
                for part in found.parts:
                    add(id_tokens(part), source)
        return cls(sequences)

    def hits(self, value: str) -> list[tuple[str, str]]:
        """(name tokens, source) of every guarded name inside ``value``'s id tokens."""
        tokens = id_tokens(value)
        found = []
        for seq, source in self.sequences.items():
            n = len(seq)
            if any(tokens[i : i + n] == seq for i in range(len(tokens) - n + 1)):
                found.append((" ".join(seq), source))
        return sorted(found)

    def check(self, value: str, *, what: str, hint: str) -> None:
        """Raise a :class:`CdaError` when ``value`` contains a guarded name."""
        hits = self.hits(value)
        if hits:
            named = ", ".join(f"'{name}' ({source})" for name, source in hits)
            raise CdaError(
                f"{what} '{value}' contains a name: {named}; ids and file names travel into "
                "every output, Label Studio included",
                hint=hint,
            )


def check_new_recording(
    ws: Workspace,
    config: StudyConfig,
    path: Path,
    *,
    recording_id: str,
    id_given: bool,
    labels: Iterable[str] = (),
) -> None:
    """Refuse a file whose id is no valid id (it becomes file names), or whose id or name holds
    a listed name or a name from its own labels.

    Runs before anything is copied or registered (``cda import``, ``cda ingest``).
    """
    check_recording_id(
        recording_id,
        what=f"{path}: recording id",
        hint="choose another --recording-id"
        if id_given
        else "rename the file or give --recording-id",
    )
    guard = build_guard(config, read_csv(ws.names, NAMES, required=False), labels)
    rename = (
        f"rename {path.name} before adding it (its name is kept in data/raw and "
        f"{ws.display(ws.manifest)})"
    )
    guard.check(
        recording_id,
        what=f"{path}: recording id",
        hint="choose another --recording-id" if id_given else f"{rename}; the id defaults to it",
    )
    guard.check(path.name, what=f"{path}: file name", hint=rename)


def build_guard(
    config: StudyConfig,
    names: pd.DataFrame,
    labels: Iterable[str],
    real_names: Iterable[str] = (),
) -> NameGuard:
    """The names ids must not hold: listed ones, and those in named (not machine) labels."""
    cfg = config.pseudonymise
    generic = re.compile(cfg.generic_label_pattern, re.IGNORECASE)
    named = {nfc(s) for s in labels if isinstance(s, str) and s.strip()}
    return NameGuard.build(
        listed=list(zip(names["name"], names["kind"], strict=True)),
        labels=sorted(s for s in named if s != UNKNOWN_SPEAKER and not generic.match(s)),
        real_names=[n for n in real_names if isinstance(n, str) and n.strip()],
        lexicon=load_lexicon(config.language, not_names=cfg.not_names),
        facilitator_labels=cfg.facilitator_labels,
    )
