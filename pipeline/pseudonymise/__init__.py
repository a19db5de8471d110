"""The ``pseudonymise`` stage: speaker pseudonyms and masking of names.

Reads the private import tables, writes ``data/interim/segments.parquet`` and ``words.parquet``
in which no original speaker label or listed name survives. The key (label to pseudonym, role,
optional real name) lives in ``data/private/speakers.csv``. Pseudonyms are stable: a speaker keeps
theirs across reruns and new recordings. Roles follow the current ``facilitator_labels`` on every
run (a speaker whose role changes keeps the pseudonym, so its prefix may no longer match the role;
the ``role`` column is what the analysis reads). Reports never read ``data/private``.

Machine labels (``SPEAKER_00``) are per recording; a named label (``Anouk``) that appears in
several recordings of the study gets the same pseudonym everywhere. Labels are compared in NFC,
so a label saved decomposed (NFD) is the same speaker.

What is masked, and how, is :mod:`~.masking`; every masked term is counted in the private
review table ``data/private/pseudonymise.csv`` (:func:`review`), the per-placeholder counts the
report shows in ``data/interim/pseudonymise.csv``.

Transcript corrections (``data/interim/corrections.parquet``, from ``cda ls pull --transcripts``)
are applied here, on top of the imported transcript, which stays as it was: a corrected segment
keeps its id, so only the later stages see its new text and speaker.
"""

from __future__ import annotations

import csv
import re
import statistics
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from pipeline.core.config import PseudonymiseConfig, StudyConfig
from pipeline.core.errors import CdaError
from pipeline.core.io import read_csv, read_table, write_csv, write_table
from pipeline.core.manifest import read_manifest
from pipeline.core.paths import Workspace
from pipeline.core.schemas import (
    CORRECTIONS,
    MASKED_TERMS,
    NAMES,
    REPLACEMENTS,
    SEGMENTS,
    SPEAKER_KEY,
    WORDS,
)
from pipeline.core.timing import overlaps
from pipeline.core.transcript import UNKNOWN_SPEAKER, in_turn_order
from pipeline.language.lexicon import base_language, load_lexicon
from pipeline.language.names import NameGuard, build_guard, is_facilitator, nfc
from pipeline.pseudonymise.masking import Masker, build_masker, capitalised
from pipeline.pseudonymise.persons import KEY_FILE, PERSON, PersonMerge, check, unify

# speaker key ---------------------------------------------------------------------------------


def _role(recording_id: str, label: str, pseudonym: str, cfg: PseudonymiseConfig) -> str:
    if pseudonym == UNKNOWN_SPEAKER or label == UNKNOWN_SPEAKER:
        return "unknown"
    facilitator = is_facilitator(recording_id, label, cfg.facilitator_labels)
    return "facilitator" if facilitator else "participant"


def update_key(
    segments: pd.DataFrame,
    key: pd.DataFrame,
    cfg: PseudonymiseConfig,
    *,
    where: str = KEY_FILE,
    merges: list[PersonMerge] | None = None,
) -> pd.DataFrame:
    """The key with every new (recording, label) added and every role as the config says now.

    Pseudonyms are never renumbered, except that the rows of one ``person`` get one pseudonym
    (:mod:`~.persons`; the changed rows are appended to ``merges``); a new speaker's prefix
    follows its role when it is first seen. Existing rows keep their label as written (NFD
    included); lookups compare in NFC. A key whose pseudonyms do not each stand for one person
    is refused, naming ``where`` and the row.
    """
    key = key.copy().reset_index(drop=True)
    if PERSON not in key.columns:
        key[PERSON] = None
    key, merged = unify(key, cfg, where=where)
    if merges is not None:
        merges.extend(merged)
    generic = re.compile(cfg.generic_label_pattern, re.IGNORECASE)
    known = {(r, nfc(lbl)) for r, lbl in zip(key["recording_id"], key["label"], strict=True)}
    named: dict[str, tuple[str, str | None]] = {}
    for row in key.itertuples(index=False):
        label = nfc(row.label)
        if not generic.match(label) and row.pseudonym != UNKNOWN_SPEAKER:
            named.setdefault(label, (row.pseudonym, getattr(row, PERSON)))
    numbers: dict[str, int] = {}

    def next_number(prefix: str) -> int:
        if prefix not in numbers:
            pattern = re.compile(rf"^{re.escape(prefix)}(\d+)$")
            used = [int(m.group(1)) for p in key["pseudonym"] if (m := pattern.match(str(p)))]
            numbers[prefix] = max(used, default=0)
        numbers[prefix] += 1
        return numbers[prefix]

    new_rows = []
    pairs = segments[["recording_id", "speaker"]].drop_duplicates()
    for rid, raw in pairs.itertuples(index=False):
        label = nfc(raw)
        if (rid, label) in known:
            continue
        person = None
        if label == UNKNOWN_SPEAKER:
            pseudonym = UNKNOWN_SPEAKER
        elif not generic.match(label) and label in named:
            pseudonym, person = named[label]  # the same named speaker, so the same person
        else:
            facilitator = is_facilitator(rid, label, cfg.facilitator_labels)
            prefix = cfg.facilitator_prefix if facilitator else cfg.participant_prefix
            pseudonym = f"{prefix}{next_number(prefix):02d}"
            if not generic.match(label):
                named[label] = (pseudonym, None)
        new_rows.append(
            {
                "recording_id": rid,
                "label": label,
                "pseudonym": pseudonym,
                "real_name": None,
                PERSON: person,
            }
        )
        known.add((rid, label))
    if new_rows:
        added = pd.DataFrame(new_rows).assign(role="participant")[SPEAKER_KEY.names]
        key = pd.concat([key, added], ignore_index=True) if len(key) else added
    key["role"] = [
        _role(r, nfc(lbl), p, cfg)
        for r, lbl, p in zip(key["recording_id"], key["label"], key["pseudonym"], strict=True)
    ]
    groups = dict(zip(segments["recording_id"], segments["group"], strict=True))
    check(key, groups, cfg, where=where)
    return key[SPEAKER_KEY.names]


@dataclass(frozen=True)
class RoleChange:
    recording_id: str
    label: str
    pseudonym: str
    before: str
    after: str


def role_changes(before: pd.DataFrame, after: pd.DataFrame) -> list[RoleChange]:
    """Speakers already in the key whose role the current config changed."""
    old = {(r.recording_id, r.label): r.role for r in before.itertuples(index=False)}
    return [
        RoleChange(r.recording_id, r.label, r.pseudonym, old[(r.recording_id, r.label)], r.role)
        for r in after.itertuples(index=False)
        if (r.recording_id, r.label) in old and old[(r.recording_id, r.label)] != r.role
    ]


# words ---------------------------------------------------------------------------------------


def _either(a: object, b: object) -> bool | None:
    """A placeholder's overlap: true if any word of the name was in overlap, unknown if any
    was unknown and none was."""
    known = [bool(v) for v in (a, b) if v is not None and not pd.isna(v)]
    if any(known):
        return True
    return False if len(known) == 2 else None


def _mask_words(words: pd.DataFrame, maskers: dict[str, Masker]) -> pd.DataFrame:
    """Mask word rows per segment; a multi-word name becomes one placeholder word."""
    if words.empty or not any(m.terms for m in maskers.values()):
        return words
    rows = []
    for sid, group in words.sort_values(["segment_id", "word_index"]).groupby(
        "segment_id", sort=False
    ):
        records = group.to_dict("records")
        masker = maskers.get(sid)
        offsets, pos = [], 0
        for rec in records:
            rec["word"] = nfc(rec["word"])  # as in Masker.apply
            offsets.append((pos, pos + len(rec["word"])))
            pos += len(rec["word"]) + 1
        spans = masker.spans(" ".join(r["word"] for r in records)) if masker else []
        out: list[dict] = []
        for rec, (start, end) in zip(records, offsets, strict=True):
            hit = next((s for s in spans if start < s[1] and end > s[0]), None)
            if hit is None:
                out.append(dict(rec))
            elif out and out[-1].get("_span") == hit:
                out[-1]["end"] = rec["end"]  # extend the placeholder over the whole name
                out[-1]["overlap"] = _either(out[-1].get("overlap"), rec.get("overlap"))
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
    terms: pd.DataFrame
    """The private review table (MASKED_TERMS): every masked term with its counts."""
    role_changes: tuple[RoleChange, ...] = ()
    person_merges: tuple[PersonMerge, ...] = ()
    """Key rows whose pseudonym became their person's (the ``person`` column)."""
    no_facilitator: tuple[str, ...] = ()
    """Recordings in which no speaker matched ``facilitator_labels``."""
    notices: tuple[str, ...] = ()
    """What a study language lacks (word list, title list), for the CLI to say."""
    corrected: tuple[str, ...] = ()
    """Segments whose text and speaker come from transcript corrections (corrections.parquet)."""
    stale_corrections: tuple[str, ...] = ()
    """Corrected segments whose pseudonymised transcript text is no longer the text the
    corrector was shown (re-imported, or a name list changed): applied, but to be checked."""


def pseudonymise_tables(
    segments: pd.DataFrame,
    words: pd.DataFrame,
    key: pd.DataFrame,
    names: pd.DataFrame,
    cfg: PseudonymiseConfig,
    *,
    language: str = "nl",
    languages: dict[str, str] | None = None,
    key_file: str = KEY_FILE,
    corrections: pd.DataFrame | None = None,
    corrections_file: str = "corrections.parquet",
) -> PseudonymiseResult:
    """Pure function: pseudonymise speakers and mask names; inputs are not modified.

    ``language`` is the study's; ``languages`` overrides it per recording (the manifest column).
    ``key_file`` is how messages about the key name it. ``corrections`` (CORRECTIONS, from
    ``cda ls pull --transcripts``) replace the text and speaker of their segments after the
    speakers are pseudonymised: a corrector worked on the pseudonymised text, so the corrected
    text is masked again (a name typed in is masked and counted like any other) and its
    speaker must be a pseudonym of the recording. Corrected start and end times replace the
    segment's (:func:`_corrected_times`); segment ids and order never change.
    """
    segments = segments.assign(speaker=[nfc(s) for s in segments["speaker"]])
    merges: list[PersonMerge] = []
    new_key = update_key(segments, key, cfg, where=key_file, merges=merges)
    lookup: dict[tuple[str, str], tuple[str, str]] = {}
    for r in new_key.itertuples(index=False):
        lookup.setdefault((r.recording_id, nfc(r.label)), (r.pseudonym, r.role))

    lang_of = {
        rid: base_language((languages or {}).get(rid) or language)
        for rid in segments["recording_id"].unique()
    }
    maskers: dict[str, Masker] = {}
    notices: list[str] = []
    for lang in sorted(set(lang_of.values())):
        lexicon = load_lexicon(lang, not_names=cfg.not_names)
        notices.extend(lexicon.notices())
        in_lang = segments["recording_id"].map(lang_of) == lang
        maskers[lang] = build_masker(
            new_key, names, cfg, lexicon=lexicon, texts=segments.loc[in_lang, "text"]
        )

    out = segments.copy()
    mapped = [lookup[(r, s)] for r, s in zip(out["recording_id"], out["speaker"], strict=True)]
    out["speaker"] = [m[0] for m in mapped]
    out["role"] = [m[1] for m in mapped]
    fixes = _check_corrections(corrections, out, new_key, corrections_file)
    stale: list[str] = []  # corrected segments whose transcript changed since they were shown
    texts = []
    masked: Counter[tuple[str, str]] = Counter()
    kept: Counter[tuple[str, str]] = Counter()
    lowercase: Counter[tuple[str, str]] = Counter()
    kept_capitalised: Counter[tuple[str, str]] = Counter()
    placeholders: Counter[tuple[str, str]] = Counter()
    term_of: dict[tuple[str, str], object] = {}
    for rid, text in zip(out["recording_id"], out["text"], strict=True):
        text = nfc(text)  # the offsets of the hits are in the NFC text
        new_text, hits, left = maskers[lang_of[rid]].apply(text)
        texts.append(new_text)
        for hit in hits:
            masked[(rid, hit.term.norm)] += 1
            lowercase[(rid, hit.term.norm)] += not capitalised(text[hit.start : hit.end])
            placeholders[(rid, hit.term.placeholder)] += 1
            term_of[(rid, hit.term.norm)] = hit.term
        for hit in left:
            kept[(rid, hit.term.norm)] += 1
            kept_capitalised[(rid, hit.term.norm)] += capitalised(text[hit.start : hit.end])
            term_of[(rid, hit.term.norm)] = hit.term
    for i, (sid, rid) in enumerate(zip(out["segment_id"], out["recording_id"], strict=True)):
        if sid not in fixes:
            continue
        text, shown = fixes[sid][0], fixes[sid][3]
        if " ".join(texts[i].split()) != " ".join(shown.split()):
            stale.append(sid)
        new_text, hits, _ = maskers[lang_of[rid]].apply(text)
        texts[i] = new_text
        for hit in hits:  # a name the corrector typed: masked and counted
            masked[(rid, hit.term.norm)] += 1
            placeholders[(rid, hit.term.placeholder)] += 1
            term_of[(rid, hit.term.norm)] = hit.term
    out["text"] = texts
    respoken: set[str] = set()
    if fixes:
        fixed = out["segment_id"].isin(fixes)
        respoken = {
            sid for sid, spk in zip(out["segment_id"], out["speaker"], strict=True)
            if sid in fixes and fixes[sid][1] != spk
        }  # fmt: skip
        out.loc[fixed, "speaker"] = [fixes[s][1] for s in out.loc[fixed, "segment_id"]]
        out.loc[fixed, "role"] = [fixes[s][2] for s in out.loc[fixed, "segment_id"]]
        out = _corrected_times(out, fixes, respoken, corrections_file)

    rec_of = dict(zip(segments["segment_id"], segments["recording_id"], strict=True))
    by_segment = {sid: maskers[lang_of[rid]] for sid, rid in rec_of.items()}
    new_words = _mask_words(words, by_segment)
    if not new_words.empty:
        new_words = new_words.copy()
        new_words["speaker"] = [
            lookup.get((rec_of[sid], nfc(spk)), (UNKNOWN_SPEAKER,))[0]
            if isinstance(spk, str)
            else None
            for sid, spk in zip(new_words["segment_id"], new_words["speaker"], strict=True)
        ]
        # a corrected text is no longer the words the recogniser timed: they would contradict
        # it, so they go (the machine's words stay in the import's table)
        retyped = {s for s, fix in fixes.items() if " ".join(fix[0].split()) != " ".join(
            fix[3].split())}  # fmt: skip
        new_words = new_words[~new_words["segment_id"].isin(retyped)].reset_index(drop=True)
        moved_to = new_words["segment_id"].isin(respoken)  # the corrector's speaker, throughout
        new_words.loc[moved_to, "speaker"] = [
            fixes[s][1] for s in new_words.loc[moved_to, "segment_id"]
        ]

    replacements = pd.DataFrame(
        [(rid, p, n) for (rid, p), n in sorted(placeholders.items())],
        columns=REPLACEMENTS.names,
    )
    term_rows = [
        {
            "recording_id": rid,
            "term": term.display,
            "source": term.source,
            "placeholder": term.placeholder,
            "count": masked[(rid, n)],
            "kept": kept[(rid, n)],
            "lowercase": lowercase[(rid, n)],
            "kept_capitalised": kept_capitalised[(rid, n)],
            "dictionary_word": term.word,
            "language": lang_of[rid],
        }
        for (rid, n), term in sorted(term_of.items(), key=lambda kv: kv[0])
    ]
    terms = pd.DataFrame(term_rows, columns=MASKED_TERMS.names) if term_rows else None
    with_facilitator = set(out.loc[out["role"] == "facilitator", "recording_id"])
    no_facilitator = tuple(r for r in out["recording_id"].unique() if r not in with_facilitator)
    return PseudonymiseResult(
        out,
        new_words,
        new_key,
        replacements,
        MASKED_TERMS.empty() if terms is None else terms,
        role_changes=tuple(role_changes(key, new_key)),
        person_merges=tuple(merges),
        no_facilitator=no_facilitator,
        notices=tuple(dict.fromkeys(notices)),
        corrected=tuple(sid for sid in out["segment_id"] if sid in fixes),
        stale_corrections=tuple(stale),
    )


def _corrected_times(
    out: pd.DataFrame, fixes: dict[str, tuple], respoken: set[str], where: str
) -> pd.DataFrame:
    """``out`` with corrected start and end, and overlap measured again where times changed.

    An imported transcript's overlap comes from its turns' times, so a recording with a
    corrected time has it recomputed by the import's rule. A machine transcript's comes from
    the diariser's turns (:mod:`pipeline.importers.diarised`); where a corrector changed a
    segment's times or speaker, the diariser was wrong there, so that segment's overlap
    becomes unknown rather than a figure the correction contradicts. Turns keep their order:
    a start moved before the previous turn's start, or past the next one's, is refused.
    """
    out = out.copy()
    moved = [s for s, fix in fixes.items() if fix[4] is not None]
    if moved:
        rows = out["segment_id"].isin(moved)
        out.loc[rows, "start"] = [fixes[s][4] for s in out.loc[rows, "segment_id"]]
        out.loc[rows, "end"] = [fixes[s][5] for s in out.loc[rows, "segment_id"]]
    for rid in out.loc[out["segment_id"].isin(fixes), "recording_id"].unique():
        part = in_turn_order(out[out["recording_id"] == rid])
        _check_order(part, set(moved), where)
        machine = part["source"].str.startswith("transcribe:").all()
        if machine:
            changed = set(part["segment_id"]) & (set(moved) | respoken)
            out.loc[out["segment_id"].isin(changed), "overlap"] = float("nan")
        elif set(part["segment_id"]) & set(moved):
            values = overlaps(zip(part["start"].tolist(), part["end"].tolist(), strict=True))
            out.loc[part.index, "overlap"] = [float("nan") if v is None else v for v in values]
    return out


def _check_order(part: pd.DataFrame, moved: set[str], where: str) -> None:
    """A recording's turns, in turn order, must start in time order where a time moved."""
    previous = None
    for row in part.itertuples(index=False):
        if pd.isna(row.start):
            continue
        if (
            previous is not None
            and row.start < previous.start
            and (row.segment_id in moved or previous.segment_id in moved)
        ):
            raise CdaError(
                f"{where}: {row.segment_id} would start at {row.start:.3f}s, before "
                f"{previous.segment_id} ({previous.start:.3f}s), the turn before it",
                hint="turns keep their order (a segment cannot be moved past another, split or "
                "merged): correct the times in Label Studio and pull again",
            )
        previous = row


def _check_corrections(
    corrections: pd.DataFrame | None, segments: pd.DataFrame, key: pd.DataFrame, where: str
) -> dict[str, tuple]:
    """segment id → (corrected text, pseudonym, role, text shown, start, end), start and end
    None where the times were not corrected; refused, naming the row, when a correction's
    segment is gone or its speaker is not a pseudonym of that recording."""
    if corrections is None or corrections.empty:
        return {}
    recording_of = dict(zip(segments["segment_id"], segments["recording_id"], strict=True))
    roles = {(r.recording_id, r.pseudonym): r.role for r in key.itertuples(index=False)}
    fixes = {}
    for row_no, row in enumerate(corrections.itertuples(index=False), start=1):
        rid = recording_of.get(row.segment_id)
        if rid is None or rid != row.recording_id:
            raise CdaError(
                f"{where}: row {row_no}: segment {row.segment_id} is not in recording "
                f"{row.recording_id} of the imported transcript",
                hint="the recording was imported again with other segments: correct it anew "
                f"(`cda ls push --transcripts`), or delete {where} to drop all corrections",
            )
        role = roles.get((rid, nfc(row.speaker)))
        if role is None:
            raise CdaError(
                f"{where}: row {row_no}: speaker {row.speaker!r} of {row.segment_id} is not a "
                f"pseudonym of {rid}",
                hint="choose one of the recording's pseudonyms in Label Studio and pull again",
            )
        start, end = (None, None) if pd.isna(row.start) else (float(row.start), float(row.end))
        fixes[row.segment_id] = (
            nfc(row.text), nfc(row.speaker), role, nfc(row.original_text), start, end,
        )  # fmt: skip
    return fixes


# review --------------------------------------------------------------------------------------

OFTEN_FLOOR = 20
OFTEN_FACTOR = 5


@dataclass(frozen=True)
class ReviewWarning:
    """One masked term an analyst should check, in words."""

    term: str
    count: int
    message: str

    def __str__(self) -> str:
        return self.message


def review(terms: pd.DataFrame) -> list[ReviewWarning]:
    """Masked terms an analyst should look at before coding, most-masked first.

    Over the whole study (the recordings summed), a term is flagged when it is

    - masked unusually often: more than max(20, 5 × the median count of the masked terms)
      times. A name is mentioned now and then; a title or common word on every other line;
    - taken from a label and also a word of the language: masked only where used as a name,
      which a rule can get wrong (a capitalised word at a sentence start). Such a term is
      flagged even when it was never masked, if it was kept capitalised at a sentence start:
      "Rose, what do you think?" in a text that also says "prices rose" may be the name left
      in the text;
    - listed (names.csv, real name), also a word, and masked in lower case: maybe the word.
    """
    if terms.empty:
        return []
    columns = ["count", "kept", "lowercase", "kept_capitalised"]
    totals = terms.groupby(["term", "source", "dictionary_word", "language"], as_index=False)[
        columns
    ].sum()
    totals = totals[(totals["count"] > 0) | (totals["kept_capitalised"] > 0)]
    if totals.empty:
        return []
    masked = totals.loc[totals["count"] > 0, "count"]
    limit = max(OFTEN_FLOOR, OFTEN_FACTOR * (statistics.median(masked) if len(masked) else 0))
    out = []
    order = totals.sort_values(
        ["count", "kept_capitalised", "term"], ascending=[False, False, True]
    )
    for row in order.itertuples():
        listed = row.source in ("names.csv", "real_name")
        head = f"'{row.term}' ({row.source}"
        if row.count > limit:
            advice = (
                "if it is not a name, remove it from data/private/names.csv"
                if listed
                else "if it is a title or role, add it to pseudonymise.not_names in cda.yaml"
            )
            out.append(
                ReviewWarning(
                    row.term,
                    int(row.count),
                    f"{head}): masked {row.count}×, more than max({OFTEN_FLOOR}, "
                    f"{OFTEN_FACTOR} × median) = {limit:g}; {advice}",
                )
            )
        if row.dictionary_word and not listed:
            out.append(
                ReviewWarning(
                    row.term,
                    int(row.count),
                    f"{head}, also a '{row.language}' word): masked {row.count}× where used as "
                    f"a name, kept {row.kept}× as a word"
                    + (
                        f" ({row.kept_capitalised}× capitalised at a sentence start: "
                        "check that it is not the name)"
                        if row.kept_capitalised
                        else ""
                    )
                    + "; if it is never a name here, add it to pseudonymise.not_names, to mask "
                    "every use list it in data/private/names.csv",
                )
            )
        elif row.dictionary_word and row.lowercase:
            out.append(
                ReviewWarning(
                    row.term,
                    int(row.count),
                    f"{head}, also a '{row.language}' word): masked {row.lowercase}× in lower "
                    "case, where it may be the word; remove it from data/private/names.csv if "
                    "the word should stay",
                )
            )
    return out


def check_recording_names(
    ws: Workspace, manifest: pd.DataFrame, segments: pd.DataFrame, guard: NameGuard
) -> None:
    """Refuse recording ids and file names holding a name (the manifest may have been edited)."""
    hint = (
        "rename it: change the recording_id in data/recordings.csv (and the file name in data/raw "
        "with its path), then rerun `cda import`"
    )
    for row_no, row in enumerate(manifest.itertuples(index=False), start=2):
        where = f"{ws.display(ws.manifest)}:{row_no}:"
        guard.check(row.recording_id, what=f"{where} recording id", hint=hint)
        for column in ("media", "transcript"):
            value = getattr(row, column)
            if isinstance(value, str) and value:
                guard.check(Path(value).name, what=f"{where} {column} file name", hint=hint)
    for rid in sorted(set(segments["recording_id"]) - set(manifest["recording_id"])):
        guard.check(rid, what="imported recording id", hint=hint)


def _header(path: Path) -> list[str]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return [c.strip() for c in next(csv.reader(handle), [])]


def write_key(key: pd.DataFrame, path: Path) -> bool:
    """Write the speaker key; without the ``person`` column while the file has none and no row
    needs one, so a study that never uses it keeps its key byte for byte."""
    if key[PERSON].notna().any() or PERSON in _header(path) or not path.exists():
        return write_csv(key, SPEAKER_KEY, path, only_if_changed=True)
    v1 = replace(SPEAKER_KEY, columns=tuple(c for c in SPEAKER_KEY.columns if c.name != PERSON))
    return write_csv(key.drop(columns=[PERSON]), v1, path, only_if_changed=True)


def pseudonymise(ws: Workspace, config: StudyConfig) -> PseudonymiseResult:
    """Run the stage on a workspace; writes interim tables, the key and both count tables."""
    segments = read_table(ws.imported_segments, SEGMENTS)
    words = read_table(ws.imported_words, WORDS)
    key = read_csv(ws.speaker_key, SPEAKER_KEY, required=False)
    names = read_csv(ws.names, NAMES, required=False)
    corrections = read_table(ws.corrections, CORRECTIONS) if ws.corrections.is_file() else None
    manifest = read_manifest(ws)
    guard = build_guard(config, names, [*segments["speaker"], *key["label"]], key["real_name"])
    check_recording_names(ws, manifest, segments, guard)
    languages = {
        r.recording_id: r.language
        for r in manifest.itertuples(index=False)
        if isinstance(r.language, str) and r.language.strip()
    }
    result = pseudonymise_tables(
        segments,
        words,
        key,
        names,
        config.pseudonymise,
        language=config.language,
        languages=languages,
        key_file=ws.display(ws.speaker_key),
        corrections=corrections,
        corrections_file=ws.display(ws.corrections),
    )
    write_key(result.key, ws.speaker_key)
    write_table(result.segments, SEGMENTS, ws.segments)
    write_table(result.words, WORDS, ws.words)
    write_csv(result.replacements, REPLACEMENTS, ws.replacements)
    write_csv(result.terms, MASKED_TERMS, ws.masked_terms)
    return result
