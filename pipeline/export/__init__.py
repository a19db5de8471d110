"""``cda export csv|xlsx|srt|vtt|qdc``: a round for spreadsheets, video players and QDA tools.

Everything exported is pseudonymised: speakers as ``P03``/``F01``, listed names masked. Files go
to ``exports/`` in the workspace (git-ignored), which is meant for sharing with the team, not
with the public: the text is verbatim (pseudonymised) speech.

- ``segments.csv`` (``exports/round-N/``): one row per segment with the codebook codes that
  count under ``report.coding_basis``, exactly as the report counts them (``codes``: child codes
  with their parent themes), the ones the coders still differ on (``unresolved``), each coder's
  own codes as coded (``codes:<coder>``, codes outside the codebook included; "(no code)" for
  a deliberate empty annotation, "(skipped)" for a skip) and, separately, the
  machine suggestions, so a spreadsheet user never mistakes a proposal or one coder's reading
  for a settled code. ``segments.xlsx`` has the same table plus sheets with every coder's
  codings and the codebook.
- ``<recording>.srt`` / ``.vtt`` (``exports/subtitles/``): one cue per segment, ``P03: text``.
- ``<study>-round-N.qdc`` (``exports/round-N/``): the round's codebook in the REFI-QDA codebook
  exchange format, which ATLAS.ti, NVivo, MAXQDA and QualCoder import.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd

from pipeline.codebook import Codebook, load_round
from pipeline.codings import refi
from pipeline.codings.basis import NO_CODE, parse_basis, per_coder, settle
from pipeline.core.config import ADJUDICATION, StudyConfig
from pipeline.core.errors import CdaError
from pipeline.core.io import atomic_path, read_table, write_text
from pipeline.core.paths import Workspace
from pipeline.core.schemas import CODINGS, SEGMENTS, SUGGESTIONS
from pipeline.core.transcript import in_turn_order

SEGMENT_COLUMNS = [
    "segment_id", "recording_id", "group", "speaker", "role", "start", "end", "text",
    "codes", "unresolved",
]  # fmt: skip
SKIPPED = "(skipped)"
PAIR = ["segment_id", "code"]


def segments_with_codes(ws: Workspace, config: StudyConfig, round_no: int) -> pd.DataFrame:
    """Segments with the codes that count, the unresolved ones, each coder's, and suggestions."""
    segments = read_table(ws.segments, SEGMENTS)
    book = load_round(ws, config, round_no).book
    order = {code: i for i, code in enumerate(book.ids)}

    def joined(pairs: pd.DataFrame) -> dict[str, str]:
        return (
            pairs.groupby("segment_id")["code"]
            .agg(lambda codes: "; ".join(sorted(set(codes), key=lambda c: (order.get(c, 1e9), c))))
            .to_dict()
        )

    columns: dict[str, dict[str, str]] = {"codes": {}, "unresolved": {}}
    if ws.codings(round_no).is_file():
        codings = read_table(ws.codings(round_no), CODINGS)
        settled = settle(codings, parse_basis(config.report.coding_basis), book=book)
        columns = {"codes": joined(settled.table), "unresolved": joined(settled.unresolved)}
        coders = sorted(codings["coder"].unique(), key=lambda c: (c == ADJUDICATION, c))
        own = per_coder(codings)
        for coder in coders:
            rows = codings[codings["coder"] == coder]
            marks = {s: NO_CODE for s in rows.loc[rows["status"] == "empty", "segment_id"]}
            marks |= {s: SKIPPED for s in rows.loc[rows["status"] == "skipped", "segment_id"]}
            columns[f"codes:{coder}"] = marks | joined(own.get(coder, pd.DataFrame(columns=PAIR)))
    if ws.suggestions(round_no).is_file():
        columns["suggested"] = joined(read_table(ws.suggestions(round_no), SUGGESTIONS))
    else:
        columns["suggested"] = {}
    ids = segments["segment_id"]
    out = segments.assign(**{name: [v.get(s, "") for s in ids] for name, v in columns.items()})
    return out[SEGMENT_COLUMNS[:8] + list(columns)]


def write_csv(ws: Workspace, config: StudyConfig, round_no: int) -> Path:
    table = segments_with_codes(ws, config, round_no)
    path = ws.exports / f"round-{round_no}" / "segments.csv"
    write_text(path, table.to_csv(index=False), only_if_changed=True)
    return path


def codebook_sheet(book: Codebook) -> pd.DataFrame:
    return pd.DataFrame(
        [(c.id, c.label, c.parent or "", c.description.strip(), (c.include or "").strip(),
          (c.exclude or "").strip()) for c in book.codes],
        columns=["id", "label", "parent", "description", "include", "exclude"],
    )  # fmt: skip


def write_xlsx(ws: Workspace, config: StudyConfig, round_no: int) -> Path:
    """``exports/round-N/segments.xlsx``: the CSV's table plus, on their own sheets, every
    coder's codings (spans and memos included) and the codebook, for spreadsheet users."""
    book = load_round(ws, config, round_no).book
    sheets = {"segments": segments_with_codes(ws, config, round_no)}
    if ws.codings(round_no).is_file():
        codings = read_table(ws.codings(round_no), CODINGS)
        coded = codings[codings["code"].notna() | codings["memo"].notna()]
        sheets["codings"] = coded[
            ["segment_id", "coder", "code", "span_start", "span_end", "span_text", "memo",
             "updated_at", "origin"]
        ]  # fmt: skip
    sheets["codebook"] = codebook_sheet(book)
    path = ws.exports / f"round-{round_no}" / "segments.xlsx"
    with atomic_path(path) as tmp, pd.ExcelWriter(tmp, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False)
            sheet = writer.sheets[name]
            sheet.freeze_panes = "A2"
            for row in sheet.iter_rows(min_row=2):
                for cell in row:  # speech that starts with "=" is text, not a formula
                    if cell.data_type == "f":
                        cell.data_type = "s"
            for column, title in zip(sheet.columns, frame.columns, strict=True):
                width = 60 if title in ("text", "description", "span_text", "memo") else 16
                sheet.column_dimensions[column[0].column_letter].width = width
    return path


def _stamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def subtitles(segments: pd.DataFrame, kind: str) -> str:
    """One recording's segments as SRT or WebVTT cues ("P03: text"), in time order."""
    timed = in_turn_order(segments.dropna(subset=["start", "end"]), first=("start",))
    separator = "," if kind == "srt" else "."
    blocks = ["WEBVTT"] if kind == "vtt" else []
    for n, row in enumerate(timed.itertuples(), start=1):
        timing = f"{_stamp(row.start, separator)} --> {_stamp(row.end, separator)}"
        # one line per cue: a blank line would end the cue, and "-->" is a timing line in VTT
        cue = f"{row.speaker}: " + " ".join(str(row.text).split()).replace("-->", "→")
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


def qdc(book: Codebook, *, origin: str) -> str:
    """The codebook in the REFI-QDA codebook exchange format (``.qdc``), parents nesting children.

    ``name`` is the code's label; the description carries the inclusion and exclusion rules.
    """
    location = f"{refi.CODEBOOK_NS} {refi.CODEBOOK_XSD}"
    root = ET.Element(
        f"{{{refi.CODEBOOK_NS}}}CodeBook",
        {"origin": origin, f"{{{refi.XSI}}}schemaLocation": location},
    )
    refi.add_codes(ET.SubElement(root, f"{{{refi.CODEBOOK_NS}}}Codes"), book, refi.CODEBOOK_NS)
    return refi.xml_text(root, refi.CODEBOOK_NS)


def write_qdc(
    ws: Workspace, config: StudyConfig, round_no: int, *, xsd: Path | None = None
) -> Path:
    from pipeline import __version__

    book = load_round(ws, config, round_no).book
    path = ws.exports / f"round-{round_no}" / f"{config.study}-round-{round_no}.qdc"
    text = qdc(book, origin=f"cda-pipeline {__version__}")
    if xsd is not None:
        refi.check_against(text, xsd, what=ws.display(path))
    write_text(path, text, only_if_changed=True)
    return path
