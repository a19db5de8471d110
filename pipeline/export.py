"""``cda export csv|srt|vtt``: a round's segments for spreadsheets, subtitles for video players.

Everything exported is pseudonymised: speakers as ``P03``/``F01``, listed names masked. Files go
to ``exports/`` in the workspace (git-ignored), which is meant for sharing with the team, not
with the public: the text is verbatim (pseudonymised) speech.

- ``segments.csv`` (``exports/round-N/``): one row per segment with its human codes (after
  ``cda ls pull``; adjudicated where settled) and, separately, the machine suggestions, so a
  spreadsheet user never mistakes a proposal for a code.
- ``<recording>.srt`` / ``.vtt`` (``exports/subtitles/``): one cue per segment, ``P03: text``.
- ``<study>-round-N.qdc`` (``exports/round-N/``): the round's codebook in the REFI-QDA codebook
  exchange format, which ATLAS.ti, NVivo, MAXQDA and QualCoder import.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd

from pipeline.codebook import Codebook, load_round
from pipeline.config import StudyConfig
from pipeline.errors import CdaError
from pipeline.io import read_table, write_text
from pipeline.paths import Workspace
from pipeline.schemas import CODINGS, SEGMENTS, SUGGESTIONS
from pipeline.themes import settled_codes

SEGMENT_COLUMNS = [
    "segment_id", "recording_id", "group", "speaker", "role", "start", "end", "text",
    "codes", "suggested",
]  # fmt: skip


def segments_with_codes(ws: Workspace, config: StudyConfig, round_no: int) -> pd.DataFrame:
    """Segments with ``codes`` (human, ``;``-separated) and ``suggested`` (machine) columns."""
    segments = read_table(ws.segments, SEGMENTS)
    book = load_round(ws, config, round_no).book
    order = {code: i for i, code in enumerate(book.ids)}

    def joined(pairs: pd.DataFrame) -> pd.Series:
        return pairs.groupby("segment_id")["code"].agg(
            lambda codes: "; ".join(sorted(set(codes), key=lambda c: (order.get(c, 1e9), c)))
        )

    codes = pd.Series(dtype="string")
    if ws.codings(round_no).is_file():
        # as coded (no parent roll-up), codes outside the codebook included
        codes = joined(settled_codes(read_table(ws.codings(round_no), CODINGS)))
    suggested = pd.Series(dtype="string")
    if ws.suggestions(round_no).is_file():
        suggested = joined(read_table(ws.suggestions(round_no), SUGGESTIONS))
    out = segments.assign(
        codes=segments["segment_id"].map(codes).fillna(""),
        suggested=segments["segment_id"].map(suggested).fillna(""),
    )
    return out[SEGMENT_COLUMNS]


def write_csv(ws: Workspace, config: StudyConfig, round_no: int) -> Path:
    table = segments_with_codes(ws, config, round_no)
    path = ws.exports / f"round-{round_no}" / "segments.csv"
    write_text(path, table.to_csv(index=False), only_if_changed=True)
    return path


def _stamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def subtitles(segments: pd.DataFrame, kind: str) -> str:
    """One recording's segments as SRT or WebVTT cues ("P03: text"), in time order."""
    timed = segments.dropna(subset=["start", "end"]).sort_values(["start", "segment_id"])
    separator = "," if kind == "srt" else "."
    blocks = ["WEBVTT"] if kind == "vtt" else []
    for n, row in enumerate(timed.itertuples(), start=1):
        timing = f"{_stamp(row.start, separator)} --> {_stamp(row.end, separator)}"
        cue = f"{row.speaker}: {row.text}"
        blocks.append(f"{n}\n{timing}\n{cue}" if kind == "srt" else f"{timing}\n{cue}")
    return "\n\n".join(blocks) + "\n"


def write_subtitles(ws: Workspace, kind: str) -> list[Path]:
    """``exports/subtitles/<recording>.<kind>`` for every recording with timed segments."""
    segments = read_table(ws.segments, SEGMENTS)
    written = []
    for recording, part in segments.groupby("recording_id", sort=True):
        if part[["start", "end"]].isna().all(axis=None):
            continue
        path = ws.exports / "subtitles" / f"{recording}.{kind}"
        write_text(path, subtitles(part, kind), only_if_changed=True)
        written.append(path)
    if not written:
        raise CdaError(
            f"no recording in {ws.display(ws.segments)} has timed segments",
            hint="subtitles need start and end times: import a timed transcript "
            "(SRT, VTT, WhisperX JSON) or transcribe the recording",
        )
    return written


# REFI-QDA codebook --------------------------------------------------------------------------------

QDC_NS = "urn:QDA-XML:codebook:1.0"
QDC_XSD = "http://schema.qdasoftware.org/versions/Codebook/v1.0/Codebook.xsd"


def code_guid(study: str, code_id: str) -> str:
    """A stable REFI-QDA GUID per study and code id, so re-exports and imports line up."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cda-pipeline:{study}:{code_id}")).upper()


def qdc(book: Codebook, *, origin: str) -> str:
    """The codebook in the REFI-QDA codebook exchange format (``.qdc``), parents nesting children.

    ``name`` is the code's label; the description carries the inclusion and exclusion rules, as
    other tools have no fields for them.
    """
    ET.register_namespace("", QDC_NS)
    ET.register_namespace("xsi", "http://www.w3.org/2001/XMLSchema-instance")
    root = ET.Element(
        f"{{{QDC_NS}}}CodeBook",
        {"origin": origin, "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation":
         f"{QDC_NS} {QDC_XSD}"},
    )  # fmt: skip
    codes = ET.SubElement(root, f"{{{QDC_NS}}}Codes")

    def add(parent: ET.Element, parent_id: str | None) -> None:
        for code in book.codes:
            if code.parent != parent_id:
                continue
            element = ET.SubElement(
                parent, f"{{{QDC_NS}}}Code",
                {"guid": code_guid(book.study, code.id), "name": code.label, "isCodable": "true"},
            )  # fmt: skip
            text = code.description.strip()
            if code.include:
                text += f"\nInclude: {code.include.strip()}"
            if code.exclude:
                text += f"\nExclude: {code.exclude.strip()}"
            ET.SubElement(element, f"{{{QDC_NS}}}Description").text = text
            add(element, code.id)

    add(codes, None)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_qdc(ws: Workspace, config: StudyConfig, round_no: int) -> Path:
    from pipeline import __version__

    book = load_round(ws, config, round_no).book
    path = ws.exports / f"round-{round_no}" / f"{config.study}-round-{round_no}.qdc"
    write_text(path, qdc(book, origin=f"cda-pipeline {__version__}"), only_if_changed=True)
    return path
