"""The ``pseudonymise`` stage: speaker pseudonyms and masking of listed names.

Reads the private import tables, writes ``data/interim/segments.parquet`` and ``words.parquet``
in which no original speaker label or listed name survives. The key (label to pseudonym, role,
optional real name) lives in ``data/private/speakers.csv``; it only grows, so a participant keeps
their pseudonym across reruns and new recordings. Reports never read ``data/private``.

Machine labels (``SPEAKER_00``) are per recording; a named label (``Anouk``) that appears in
several recordings of the study gets the same pseudonym everywhere.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import pandas as pd

from pipeline.config import PseudonymiseConfig, StudyConfig
from pipeline.io import read_csv, read_table, write_csv, write_table
from pipeline.paths import Workspace
from pipeline.schemas import NAMES, REPLACEMENTS, SEGMENTS, SPEAKER_KEY, WORDS
from pipeline.transcript import UNKNOWN_SPEAKER


def fold(text: str) -> str:
    """Lower-case and strip diacritics character by character, keeping offsets aligned.

    ``Zoë`` and ``zoe`` fold to the same string, and position *i* in the folded text is
    position *i* in the original, so matches can be replaced in the original text.
    """
    out = []
    for char in text:
        base = unicodedata.normalize("NFD", char)[0].lower()
        out.append(base if len(base) == 1 else char)
    return "".join(out).replace("’", "'")


def _norm(name: str) -> str:
    return " ".join(fold(unicodedata.normalize("NFC", name)).split())


# Words inside names that identify nobody on their own ("Thijs van 't Hof", "Dr. Vos").
NAME_PARTICLES = frozenset(
    {
        "van",
        "der",
        "den",
        "het",
        "ter",
        "ten",
        "von",
        "dr.",
        "mr.",
        "ir.",
        "prof",
        "prof.",
        "mevrouw",
        "meneer",
        "heer",
        "dhr.",
        "mevr.",
    }
)


# speaker key ---------------------------------------------------------------------------------


def _next_number(key: pd.DataFrame, prefix: str) -> int:
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+)$")
    numbers = [int(m.group(1)) for p in key["pseudonym"] if (m := pattern.match(str(p)))]
    return max(numbers, default=0) + 1


def update_key(segments: pd.DataFrame, key: pd.DataFrame, cfg: PseudonymiseConfig) -> pd.DataFrame:
    """Return the key extended with every (recording, label) not yet in it; never renumber."""
    key = key.copy()
    generic = re.compile(cfg.generic_label_pattern, re.IGNORECASE)
    facilitators = {label.casefold() for label in cfg.facilitator_labels}
    known = {(r, lbl) for r, lbl in zip(key["recording_id"], key["label"], strict=True)}
    pairs = segments[["recording_id", "speaker"]].drop_duplicates()
    new_rows = []
    for rid, label in pairs.itertuples(index=False):
        if (rid, label) in known:
            continue
        if label == UNKNOWN_SPEAKER:
            pseudonym, role = UNKNOWN_SPEAKER, "unknown"
        else:
            same = key[key["label"] == label] if not generic.match(label) else key.iloc[0:0]
            if not same.empty:
                pseudonym, role = same["pseudonym"].iloc[0], same["role"].iloc[0]
            else:
                role = "facilitator" if label.casefold() in facilitators else "participant"
                prefix = cfg.facilitator_prefix if role == "facilitator" else cfg.participant_prefix
                pseudonym = f"{prefix}{_next_number(key, prefix):02d}"
        row = {
            "recording_id": rid,
            "label": label,
            "pseudonym": pseudonym,
            "role": role,
            "real_name": None,
        }
        new_rows.append(row)
        key = pd.concat([key, pd.DataFrame([row])], ignore_index=True)
        known.add((rid, label))
    return key


# name masking --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Masker:
    """Replaces listed names (case- and diacritic-insensitive, whole words) by placeholders."""

    pattern: re.Pattern[str] | None
    placeholders: dict[str, str]

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        if self.pattern is None:
            return []
        return [
            (m.start("name"), m.end("name"), self.placeholders[_norm(m.group("name"))])
            for m in self.pattern.finditer(fold(text))
        ]

    def mask(self, text: str) -> tuple[str, list[str]]:
        """Return the masked text and the placeholders used (one per replacement)."""
        text = unicodedata.normalize("NFC", text)  # decomposed "Brûlé" must match too
        out, last, used = [], 0, []
        for start, end, placeholder in self.spans(text):
            out.append(text[last:start])
            out.append(placeholder)
            used.append(placeholder)
            last = end
        out.append(text[last:])
        return "".join(out), used


def build_masker(key: pd.DataFrame, names: pd.DataFrame, cfg: PseudonymiseConfig) -> Masker:
    """Collect what to mask: named speaker labels, real names in the key, the study's names list.

    A listed person whose name (or one word of it) belongs to exactly one speaker is replaced by
    that speaker's pseudonym, so "zoals Anouk zei" reads "zoals [P02] zei" and keeps its meaning.
    """
    generic = re.compile(cfg.generic_label_pattern, re.IGNORECASE)
    facilitators = {label.casefold() for label in cfg.facilitator_labels}
    placeholders: dict[str, str] = {}
    owners: dict[str, set[str]] = {}
    for row in key.itertuples(index=False):
        if row.pseudonym == UNKNOWN_SPEAKER:
            continue
        for value in (row.label, row.real_name):
            if not isinstance(value, str) or generic.match(value):
                continue
            if value.casefold() in facilitators:
                continue  # a role word such as "Gespreksleider" is not a name
            placeholders[_norm(value)] = f"[{row.pseudonym}]"
            for part in _norm(value).split():
                if len(part) > 2:
                    owners.setdefault(part, set()).add(row.pseudonym)
    if cfg.mask_name_parts:
        # "Anouk de Vries" speaks: "Anouk" and "Vries" alone identify her too. A part shared by
        # two speakers cannot be attributed, but is still a name: it becomes [NAAM].
        for part, owner in owners.items():
            if part in NAME_PARTICLES or part in placeholders:
                continue
            unique = len(owner) == 1
            placeholders[part] = f"[{next(iter(owner))}]" if unique else cfg.placeholders["person"]
    for row in names.itertuples(index=False):
        norm = _norm(row.name)
        if norm in placeholders:
            continue
        owner = owners.get(norm, set())
        if row.kind == "person" and len(owner) == 1:
            placeholders[norm] = f"[{next(iter(owner))}]"
        else:
            placeholders[norm] = cfg.placeholders.get(row.kind, cfg.placeholders["other"])
    if not placeholders:
        return Masker(None, {})
    alternatives = sorted(placeholders, key=len, reverse=True)
    body = "|".join(r"\s+".join(re.escape(part) for part in alt.split()) for alt in alternatives)
    # A Dutch possessive "s" ("Henks fiets") stays after the placeholder: "[P02]s fiets".
    pattern = re.compile(rf"(?<!\w)(?P<name>{body})(?=s?(?!\w))")
    return Masker(pattern, placeholders)


def _mask_words(words: pd.DataFrame, masker: Masker) -> pd.DataFrame:
    """Mask word rows per segment; a multi-word name becomes one placeholder word."""
    if words.empty or masker.pattern is None:
        return words
    rows = []
    for _, group in words.sort_values(["segment_id", "word_index"]).groupby(
        "segment_id", sort=False
    ):
        records = group.to_dict("records")
        offsets, pos = [], 0
        for rec in records:
            rec["word"] = unicodedata.normalize("NFC", rec["word"])  # as in Masker.mask
            offsets.append((pos, pos + len(rec["word"])))
            pos += len(rec["word"]) + 1
        spans = masker.spans(" ".join(r["word"] for r in records))
        out: list[dict] = []
        for rec, (start, end) in zip(records, offsets, strict=True):
            hit = next((s for s in spans if start < s[1] and end > s[0]), None)
            if hit is None:
                out.append(dict(rec))
            elif out and out[-1].get("_span") == hit:
                out[-1]["end"] = rec["end"]  # extend the placeholder over the whole name
            else:
                out.append({**rec, "word": hit[2], "_span": hit})
        for index, rec in enumerate(out):
            rec.pop("_span", None)
            rec["word_index"] = index
        rows.extend(out)
    return pd.DataFrame(rows, columns=WORDS.names)


# stage ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PseudonymiseResult:
    segments: pd.DataFrame
    words: pd.DataFrame
    key: pd.DataFrame
    replacements: pd.DataFrame


def pseudonymise_tables(
    segments: pd.DataFrame,
    words: pd.DataFrame,
    key: pd.DataFrame,
    names: pd.DataFrame,
    cfg: PseudonymiseConfig,
) -> PseudonymiseResult:
    """Pure function: pseudonymise speakers and mask names; inputs are not modified."""
    key = update_key(segments, key, cfg)
    lookup = {(r.recording_id, r.label): (r.pseudonym, r.role) for r in key.itertuples()}
    masker = build_masker(key, names, cfg)
    out = segments.copy()
    mapped = [lookup[(r, s)] for r, s in zip(out["recording_id"], out["speaker"], strict=True)]
    out["speaker"] = [m[0] for m in mapped]
    out["role"] = [m[1] for m in mapped]
    texts, counts = [], []
    for rid, text in zip(out["recording_id"], out["text"], strict=True):
        masked, used = masker.mask(text)
        texts.append(masked)
        counts.extend((rid, placeholder) for placeholder in used)
    out["text"] = texts
    rec_of = dict(zip(segments["segment_id"], segments["recording_id"], strict=True))
    new_words = _mask_words(words, masker)
    if not new_words.empty:
        new_words = new_words.copy()
        new_words["speaker"] = [
            lookup.get((rec_of[sid], spk), (UNKNOWN_SPEAKER,))[0] if isinstance(spk, str) else None
            for sid, spk in zip(new_words["segment_id"], new_words["speaker"], strict=True)
        ]
    tally = pd.DataFrame(counts, columns=["recording_id", "placeholder"])
    replacements = (
        tally.value_counts()
        .rename("replacements")
        .reset_index()
        .sort_values(["recording_id", "placeholder"], ignore_index=True)
    )
    return PseudonymiseResult(out, new_words, key, replacements)


def pseudonymise(ws: Workspace, config: StudyConfig) -> PseudonymiseResult:
    """Run the stage on a workspace; writes interim tables, the key and replacement counts."""
    segments = read_table(ws.imported_segments, SEGMENTS)
    words = read_table(ws.imported_words, WORDS)
    key = read_csv(ws.speaker_key, SPEAKER_KEY, required=False)
    names = read_csv(ws.names, NAMES, required=False)
    result = pseudonymise_tables(segments, words, key, names, config.pseudonymise)
    write_csv(result.key, SPEAKER_KEY, ws.speaker_key, only_if_changed=True)
    write_table(result.segments, SEGMENTS, ws.segments)
    write_table(result.words, WORDS, ws.words)
    write_csv(result.replacements, REPLACEMENTS, ws.replacements)
    return result
