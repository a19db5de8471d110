"""The ``import`` stage: existing transcripts into the segments/words contracts.

Formats (chosen by file extension, or ``--format``): WhisperX JSON, SRT, WebVTT, JSONL turns,
plain text and .docx ``Name: text`` turns. The stage is a pure function of the manifest and the
transcript files: it re-imports every registered transcript, so its output never depends on
the order in which files were added. All files are parsed and checked before anything is
written. Output goes to ``data/private/import/`` because speaker labels are still original.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.core.config import StudyConfig
from pipeline.core.errors import CdaError
from pipeline.core.io import sha256_file, table_bytes, validate, write_table
from pipeline.core.manifest import (
    RawSource,
    check_groups,
    plan_raw,
    read_manifest,
    registered_file,
    resolve_group,
    store_raw,
    upsert,
    write_manifest,
)
from pipeline.core.paths import Workspace
from pipeline.core.progress import track
from pipeline.core.schemas import SEGMENTS, WORDS
from pipeline.core.transcript import Turn, check_turns, to_tables
from pipeline.importers.diarised import diarise_methods, machine_speech
from pipeline.importers.jsonl import parse_jsonl
from pipeline.importers.subtitles import parse_srt, parse_vtt
from pipeline.importers.text import parse_docx, parse_txt
from pipeline.importers.whisperx_json import parse_whisperx_json

Parser = Callable[[Path], list[Turn]]

FORMATS: dict[str, Parser] = {
    "whisperx": parse_whisperx_json,
    "srt": parse_srt,
    "vtt": parse_vtt,
    "jsonl": parse_jsonl,
    "txt": parse_txt,
    "docx": parse_docx,
}
# Formats whose records each carry a speaker field: a record without one is a gap, not the
# continuation of the turn before (as an unprefixed line is in a plain-text transcript).
_SPEAKER_FIELD = frozenset({"jsonl"})
_SUFFIXES = {
    ".json": "whisperx",
    ".srt": "srt",
    ".vtt": "vtt",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".txt": "txt",
    ".docx": "docx",
}


def detect_format(path: Path) -> str:
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(_SUFFIXES))
        raise CdaError(
            f"{path}: unknown transcript format '{path.suffix}'",
            hint=f"use one of {known}, or pass --format",
        )
    return fmt


def parse_transcript(
    path: Path,
    *,
    fmt: str | None = None,
    max_overlap: float | None = None,
    require_speakers: bool = True,
) -> list[Turn]:
    """Parse and check one transcript file; raise a :class:`CdaError` naming file and line."""
    if not path.is_file():
        raise CdaError(f"{path}: file not found", hint="check the path in data/recordings.csv")
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise CdaError(f"unknown format '{fmt}'", hint=f"use one of {', '.join(FORMATS)}")
    turns = FORMATS[fmt](path)
    check_turns(
        turns,
        path=str(path),
        max_overlap=max_overlap,
        require_speakers=require_speakers,
        speaker_each_turn=fmt in _SPEAKER_FIELD,
    )
    return turns


@dataclass(frozen=True)
class ImportedRecording:
    """One recording's import, as the CLI table shows it."""

    recording_id: str
    group: str
    segments: int
    speakers: int
    words: int  # words of the text (whitespace-separated), whatever the format
    timed_words: int  # words with an aligned time (WhisperX JSON); 0 for text transcripts
    seconds: float | None  # summed turn durations; None without times


def register(
    ws: Workspace,
    config: StudyConfig,
    path: Path,
    *,
    recording_id: str | None,
    group: str | None,
    require_speakers: bool = True,
    fmt: str | None = None,
) -> str:
    """Register one transcript (:func:`register_all`); return its recording id."""
    (rid,) = register_all(
        ws,
        config,
        [path],
        recording_id=recording_id,
        group=group,
        require_speakers=require_speakers,
        fmt=fmt,
    )
    return rid


def register_all(
    ws: Workspace,
    config: StudyConfig,
    paths: list[Path],
    *,
    recording_id: str | None,
    group: str | None,
    require_speakers: bool = True,
    fmt: str | None = None,
) -> list[str]:
    """Put transcripts into ``data/raw/`` (copying, never moving) and into the manifest.

    One mechanism for every way a file can be wrong: each file is hashed, parsed, checked
    (:func:`pipeline.core.transcript.check_turns`), turned into the very segment and word
    tables the import writes (validated and serialised), and checked against the manifest
    (:func:`pipeline.core.manifest.plan_raw`: no second file for a recording, no changed raw
    file re-registered) and the names list, all before the first byte is copied. Only when
    every file given passes are they copied and the manifest written, so a refused file
    leaves ``data/`` as it was, and fixing it and importing again just works.
    """
    from pipeline.language.names import check_new_recording

    manifest = read_manifest(ws)
    planned: list[RawSource] = []
    rids: list[str] = []
    for given in paths:
        path = given.expanduser().resolve()
        if not path.is_file():
            raise CdaError(f"{path}: file not found", hint="check the path")
        digest = sha256_file(path)  # before parsing: the copy is checked against these bytes
        turns = parse_transcript(
            path, fmt=fmt, max_overlap=config.import_.max_overlap, require_speakers=require_speakers
        )
        rid = recording_id or path.stem
        _check_not_given_twice(planned, rids, path, rid)
        check_new_recording(
            ws,
            config,
            path,
            recording_id=rid,
            id_given=recording_id is not None,
            labels=sorted({t.speaker for t in turns if t.speaker}),
        )
        rid_group = resolve_group(ws, config, manifest, rid, group, path)
        source = plan_raw(
            ws,
            manifest,
            path,
            recording_id=rid,
            column="transcript",
            hash_column="sha256",
            sha256=digest,
        )
        clash = next((p for p in planned if p.target == source.target), None)
        if clash is not None and clash.sha256 != source.sha256:
            raise CdaError(
                f"{path} and {clash.path} would both be stored as {ws.display(source.target)}",
                hint="rename one of them, and import them one by one",
            )
        _recording_tables(
            turns,
            recording_id=rid,
            group=rid_group,
            source=f"import:{fmt or detect_format(path)}",
            where=path,
        )
        row = {
            "recording_id": rid,
            "group": rid_group,
            "transcript": source.relative(ws),
            "sha256": digest,
        }
        manifest = upsert(manifest, row)  # a later file given with the same id now collides
        planned.append(source)
        rids.append(rid)
    for source in planned:
        store_raw(ws, source)
    write_manifest(ws, manifest)
    return rids


def _check_not_given_twice(planned: list[RawSource], rids: list[str], path: Path, rid: str) -> None:
    """Two files given in one command must not become the same recording."""
    for earlier, earlier_rid in zip(planned, rids, strict=True):
        if earlier_rid == rid and earlier.path != path:
            raise CdaError(
                f"{path}: recording id '{rid}' is also the id of {earlier.path}, given in the "
                "same command",
                hint="each file is a recording of its own: rename one, or import them one by one "
                "with --recording-id",
            )


def _recording_tables(
    turns: list[Turn], *, recording_id: str, group: str, source: str, where: Path
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One recording's segment and word tables, validated and serialisable.

    The import writes exactly these; building them when a file is registered means nothing
    the import would refuse (or fail to write) is ever copied into ``data/raw``.
    """
    segments, words = to_tables(turns, recording_id=recording_id, group=group, source=source)
    segments = validate(segments, SEGMENTS, where=str(where))
    words = validate(words, WORDS, where=str(where))
    table_bytes(segments, SEGMENTS)
    table_bytes(words, WORDS)
    return segments, words


def _imported_turns(
    ws: Workspace, config: StudyConfig, row, *, require_speakers: bool, fmt: str | None
) -> tuple[list[Turn], str, str]:
    """Turns of a registered transcript file, after checking it is the file registered."""
    path, digest = registered_file(ws, row, "transcript", "sha256")
    turns = parse_transcript(
        path, fmt=fmt, max_overlap=config.import_.max_overlap, require_speakers=require_speakers
    )
    return turns, f"import:{fmt or detect_format(path)}", digest


def _transcribed_turns(
    ws: Workspace, config: StudyConfig, recording_id: str
) -> tuple[list[Turn], str]:
    """Turns of a recording's WhisperX output; undiarised segments get speaker 'unknown'.

    Their overlap is measured on the diariser's turns (:func:`machine_speech`), not on them.
    """
    path = ws.transcript_json(recording_id)
    if not path.is_file():
        raise CdaError(
            f"recording '{recording_id}' has media but no transcript yet ({ws.display(path)})",
            hint="run `cda transcribe` (or `make transcribe`), or register a transcript with "
            "`cda import FILE --recording-id ...`",
        )
    # Whisper sometimes emits a segment with no words (e.g. only a pause); it carries nothing.
    turns = [turn for turn in parse_whisperx_json(path) if turn.text.strip()]
    check_turns(
        turns, path=str(path), max_overlap=config.import_.max_overlap, require_speakers=False
    )
    return turns, "transcribe:whisperx"


def import_transcripts(
    ws: Workspace, config: StudyConfig, *, require_speakers: bool = True, fmt: str | None = None
) -> list[ImportedRecording]:
    """Import every transcript in the manifest; write the private import tables atomically."""
    manifest = read_manifest(ws, required=True)
    check_groups(ws, manifest, config)
    rows = manifest[manifest["transcript"].notna() | manifest["media"].notna()]
    if rows.empty:
        raise CdaError(
            f"{ws.display(ws.manifest)} lists no transcripts or recordings",
            hint="run `cda import FILE --group G` or `cda ingest VIDEO --group G`",
        )
    seg_parts, word_parts, summary, hashes = [], [], [], {}
    methods = diarise_methods(ws)
    for row in track(rows.itertuples(index=False), description="import", total=len(rows)):
        speech = None
        if not isinstance(row.transcript, str):
            turns, source = _transcribed_turns(ws, config, row.recording_id)
            speech = machine_speech(ws, row.recording_id, methods)
        else:
            turns, source, hashes[row.recording_id] = _imported_turns(
                ws, config, row, require_speakers=require_speakers, fmt=fmt
            )
        segments, words = to_tables(
            turns, recording_id=row.recording_id, group=row.group, source=source, speech=speech
        )
        seg_parts.append(segments)
        word_parts.append(words)
        timed = segments.dropna(subset=["start", "end"])
        summary.append(
            ImportedRecording(
                recording_id=row.recording_id,
                group=row.group,
                segments=len(segments),
                speakers=segments["speaker"].nunique(),
                words=int(segments["text"].str.split().str.len().sum()),
                timed_words=int(words["start"].notna().sum()),
                seconds=float((timed["end"] - timed["start"]).sum()) if len(timed) else None,
            )
        )
    segments = pd.concat(seg_parts, ignore_index=True)
    words = pd.concat(word_parts, ignore_index=True) if word_parts else WORDS.empty()
    # Validate both tables before writing either, so a failure leaves no half-updated state.
    validate(segments, SEGMENTS, where=str(ws.imported_segments))
    validate(words, WORDS, where=str(ws.imported_words))
    updated = manifest.copy()
    for rid, digest in hashes.items():
        updated.loc[updated["recording_id"] == rid, "sha256"] = digest
    write_manifest(ws, updated)
    write_table(segments, SEGMENTS, ws.imported_segments)
    write_table(words, WORDS, ws.imported_words)
    return summary
