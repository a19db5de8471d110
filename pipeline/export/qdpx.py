"""``cda export qdpx``: a coding round as a REFI-QDA project for ATLAS.ti, NVivo, MAXQDA, QualCoder.

The archive (``exports/round-N/<study>-round-N.qdpx``) holds:

- ``project.qde``: users (one per coder), the round's codebook with its hierarchy and
  descriptions, a ``group`` variable, one text source per recording, each human coding as a
  ``PlainTextSelection`` with a ``Coding`` by its coder, and each memo as a ``Note``;
- ``sources/<guid>.txt``: the pseudonymised transcript of each recording, one turn per line
  (``P03 [0:01:23]: text``, see :func:`pipeline.codings.refi.transcript`);
- with ``--audio``, ``sources/<guid>.wav``: the recording's audio as an ``AudioSource`` whose
  transcript is synchronised to the text by a sync point at each turn's start and end. Off by
  default: a voice identifies a participant in a way a pseudonym cannot undo.

A whole-segment code becomes a selection of the segment's text; a span code, a selection of the
span. The file is byte-identical for the same input (fixed zip times, stable GUIDs), so
re-exporting after another coding session updates the same objects in the other tool.
"""

from __future__ import annotations

import io
import logging
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline.codebook import Codebook, load_round
from pipeline.codings import refi
from pipeline.core.config import StudyConfig
from pipeline.core.errors import CdaError
from pipeline.core.io import atomic_path, read_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import CODINGS, SEGMENTS

log = logging.getLogger(__name__)

NS = refi.PROJECT_NS
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _el(parent: ET.Element, tag: str, attrib: dict | None = None, text: str | None = None):
    element = ET.SubElement(parent, f"{{{NS}}}{tag}", attrib or {})
    if text is not None:
        element.text = refi.xml_safe(text)
    return element


@dataclass
class Project:
    """What goes into the archive: the XML and the files it points to (``internal://``)."""

    xml: str
    files: dict[str, bytes | Path] = field(default_factory=dict)
    selections: int = 0
    notes: int = 0
    skipped: list[str] = field(default_factory=list)


def coded_rows(codings: pd.DataFrame) -> pd.DataFrame:
    """The rows that carry a human code (any status but skipped/empty: a deleted task's
    codes are still a coder's work)."""
    return codings[codings["code"].notna()]


def span_position(row, text: str, where: tuple[int, int]) -> tuple[int, int] | None:
    """Document offsets of a coding: the segment's text, or its span; None if the span no
    longer fits the text (the transcript changed after coding and the span text is gone)."""
    start, end = where
    if pd.isna(row.span_start):
        return start, end
    s, e = int(row.span_start), int(row.span_end)
    if pd.isna(row.span_text) or text[s:e] == row.span_text:
        return (start + s, start + e) if 0 <= s < e <= len(text) else None
    found = text.find(row.span_text)
    return (start + found, start + found + len(row.span_text)) if found >= 0 else None


def build(
    segments: pd.DataFrame,
    codings: pd.DataFrame,
    book: Codebook,
    *,
    origin: str,
    audio: dict[str, Path] | None = None,
) -> Project:
    """The REFI-QDA project of one round (pure: the caller reads tables and writes the file)."""
    study = book.study
    root = ET.Element(
        f"{{{NS}}}Project",
        {"name": f"{study} round {book.round}", "origin": origin,
         f"{{{refi.XSI}}}schemaLocation": f"{NS} {refi.PROJECT_XSD}"},
    )  # fmt: skip
    project = Project(xml="")
    coded = coded_rows(codings)
    memos = codings[codings["memo"].notna() & (codings["memo"].str.strip() != "")]
    coders = sorted(set(coded["coder"]) | set(memos["coder"]))
    user = {coder: refi.guid(study, "user", coder) for coder in coders}
    if coders:
        users = _el(root, "Users")
        for coder in coders:
            _el(users, "User", {"guid": user[coder], "name": coder, "id": coder})
    extra = sorted(set(coded["code"]) - set(book.ids))
    if book.codes or extra:  # an empty <Codes> breaks the schema (one Code at least)
        refi.add_codes(_el(_el(root, "CodeBook"), "Codes"), book, NS, extra)
    group_var = refi.guid(study, "variable", "group")
    variable = _el(_el(root, "Variables"), "Variable",
                   {"guid": group_var, "name": "group", "typeOfVariable": "Text"})  # fmt: skip
    _el(variable, "Description", text="The workshop group the recording belongs to.")

    sources = _el(root, "Sources")
    notes: list[ET.Element] = []
    by_segment: dict[str, list] = {}  # plain tuples: itertuples per small frame is slow
    for row in coded.itertuples(index=False):
        by_segment.setdefault(row.segment_id, []).append(row)
    memo_of: dict[str, dict[str, str]] = {}
    for row in memos.itertuples():
        memo_of.setdefault(row.segment_id, {}).setdefault(row.coder, row.memo)
    for recording, part in segments.groupby("recording_id", sort=True):
        text, where = refi.transcript(part)
        source_guid = refi.guid(study, "source", recording)
        project.files[f"{source_guid}.txt"] = text.encode("utf-8")
        group = str(part["group"].iloc[0])
        source = _el(sources, "TextSource",
                     {"guid": source_guid, "name": str(recording),
                      "plainTextPath": f"internal://{source_guid}.txt"})  # fmt: skip
        _el(
            source,
            "Description",
            text=f"Pseudonymised transcript of {recording} (group {group}), one turn per line.",
        )
        texts = dict(zip(part["segment_id"], part["text"], strict=True))
        for segment_id in sorted(where, key=lambda s: where[s]):
            _selections(project, source, notes, study, user, segment_id, texts[segment_id],
                        where[segment_id], by_segment.get(segment_id),
                        memo_of.get(segment_id, {}))  # fmt: skip
        value = _el(source, "VariableValue")
        _el(value, "VariableRef", {"targetGUID": group_var})
        _el(value, "TextValue", text=group)
        if audio and recording in audio:
            _audio_source(project, sources, study, str(recording), part, where, audio[recording])
    if notes:
        holder = _el(root, "Notes")
        holder.extend(notes)
    project.xml = refi.xml_text(root, NS)
    project.notes = len(notes)
    return project


def _selections(
    project: Project,
    source: ET.Element,
    notes: list[ET.Element],
    study: str,
    user: dict[str, str],
    segment_id: str,
    text: str,
    where: tuple[int, int],
    rows: list | None,
    memos: dict[str, str],
) -> None:
    """One ``PlainTextSelection`` per coder and position, its codes as ``Coding`` children and
    the coder's memo on the segment as a ``NoteRef`` to a ``Note``."""
    places: dict[tuple[str, int, int], list] = {}
    for row in rows or []:
        position = span_position(row, text, where)
        if position is None:
            project.skipped.append(f"{segment_id} {row.coder}:{row.code} ({row.span_text!r})")
            continue
        places.setdefault((row.coder, *position), []).append(row)
    for coder in memos:
        places.setdefault((coder, *where), [])
    for (coder, start, end), group in sorted(places.items()):
        selection = _el(source, "PlainTextSelection",
                        {"guid": refi.guid(study, "selection", coder, segment_id, start, end),
                         "name": segment_id, "startPosition": str(start),
                         "endPosition": str(end), "creatingUser": user[coder]})  # fmt: skip
        stamps = sorted(r.updated_at for r in group if pd.notna(r.updated_at))
        if stamps:
            selection.set("modifiedDateTime", stamps[-1])
        for code in dict.fromkeys(r.code for r in group):
            coding = _el(selection, "Coding",
                         {"guid": refi.guid(study, "coding", coder, segment_id, start, end, code),
                          "creatingUser": user[coder]})  # fmt: skip
            _el(coding, "CodeRef", {"targetGUID": refi.code_guid(study, code)})
        project.selections += 1
        if coder in memos and (start, end) == where:
            note_guid = refi.guid(study, "memo", coder, segment_id)
            note = ET.Element(f"{{{NS}}}Note",
                              {"guid": note_guid, "name": f"Memo {coder} · {segment_id}",
                               "creatingUser": user[coder]})  # fmt: skip
            _el(note, "PlainTextContent", text=memos[coder])
            notes.append(note)
            _el(selection, "NoteRef", {"targetGUID": note_guid})


def _audio_source(
    project: Project,
    sources: ET.Element,
    study: str,
    recording: str,
    part: pd.DataFrame,
    where: dict[str, tuple[int, int]],
    wav: Path,
) -> None:
    """The recording as an ``AudioSource`` with the same transcript, synchronised per turn."""
    audio_guid = refi.guid(study, "audio", recording)
    text_guid = refi.guid(study, "source", recording)
    project.files[f"{audio_guid}{wav.suffix}"] = wav
    element = _el(sources, "AudioSource",
                  {"guid": audio_guid, "name": recording,
                   "path": f"internal://{audio_guid}{wav.suffix}"})  # fmt: skip
    script = _el(element, "Transcript",
                 {"guid": refi.guid(study, "transcript", recording), "name": recording,
                  "plainTextPath": f"internal://{text_guid}.txt"})  # fmt: skip
    for row in part.sort_values(["start", "segment_id"]).itertuples():
        start, end = where[row.segment_id]
        for edge, seconds, position in (("start", row.start, start), ("end", row.end, end)):
            if pd.isna(seconds):
                continue
            _el(script, "SyncPoint",
                {"guid": refi.guid(study, "sync", row.segment_id, edge),
                 "position": str(position), "timeStamp": str(round(seconds * 1000))})  # fmt: skip


def archive_bytes(project: Project) -> bytes:
    """The ``.qdpx`` zip: ``project.qde`` at the root, sources under ``sources/``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        entries = [("project.qde", project.xml.encode("utf-8"))]
        entries += [(f"sources/{name}", data) for name, data in sorted(project.files.items())]
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            is_audio = isinstance(data, Path)
            info.compress_type = zipfile.ZIP_STORED if is_audio else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data.read_bytes() if is_audio else data)
    return buffer.getvalue()


def write_qdpx(
    ws: Workspace,
    config: StudyConfig,
    round_no: int,
    *,
    audio: bool = False,
    xsd: Path | None = None,
) -> Path:
    """``exports/round-N/<study>-round-N.qdpx`` (written only when its content changed);
    with ``xsd``, only if ``project.qde`` validates against that REFI-QDA schema."""
    from pipeline import __version__

    book = load_round(ws, config, round_no).book
    segments = read_table(ws.segments, SEGMENTS)
    codings_path = ws.codings(round_no)
    if codings_path.is_file():
        codings = read_table(codings_path, CODINGS)
    else:
        log.warning(
            "no human codings for round %d yet (cda ls pull or cda import qdpx): the project "
            "holds the transcripts and the codebook only", round_no,
        )  # fmt: skip
        codings = CODINGS.empty()
    wavs = _wavs(ws, segments) if audio else None
    project = build(segments, codings, book, origin=f"cda-pipeline {__version__}", audio=wavs)
    if project.skipped:
        log.warning(
            "%d span coding(s) no longer fit their segment's text and are not in the archive "
            "(they stay in %s): %s", len(project.skipped), ws.display(codings_path),
            "; ".join(project.skipped[:5]) + (" …" if len(project.skipped) > 5 else ""),
        )  # fmt: skip
    path = ws.exports / f"round-{round_no}" / f"{config.study}-round-{round_no}.qdpx"
    if xsd is not None:
        refi.check_against(project.xml, xsd, what=f"{ws.display(path)}: project.qde")
    data = archive_bytes(project)
    if not (path.is_file() and path.read_bytes() == data):
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    return path


def _wavs(ws: Workspace, segments: pd.DataFrame) -> dict[str, Path]:
    wavs = {r: ws.wav(r) for r in sorted(segments["recording_id"].unique()) if ws.wav(r).is_file()}
    missing = sorted(set(segments["recording_id"]) - set(wavs))
    if not wavs:
        raise CdaError(
            f"--audio: no extracted audio in {ws.display(ws.audio_dir)}",
            hint="run `make ingest` to extract it from the recordings, or export without --audio",
        )
    if missing:
        log.warning("no extracted audio for %s: exported as text only", ", ".join(missing))
    return wavs
