"""Plain text and Word (.docx) transcripts: ``[hh:mm:ss] Name: text`` turns.

The timestamp is optional and marks the turn's start; a turn ends where the next timed turn
starts. A line without a ``Name:`` prefix continues the previous turn (transcribers wrap long
turns), so only the first line of a file must carry a speaker.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from pipeline.core.errors import CdaError
from pipeline.core.transcript import Turn
from pipeline.importers.common import parse_clock, read_text, split_speaker

_STAMP = re.compile(
    r"^\s*[\[(](?P<clock>\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?)[\])]\s*(?P<rest>.*)$"
)


def _turns(lines: Iterable[tuple[str, str]], path: Path) -> list[Turn]:
    """Group located lines (locator, text) into turns."""
    drafts: list[dict] = []
    for where, raw in lines:
        line = raw.strip()
        if not line:
            continue
        start = None
        stamp = _STAMP.match(line)
        if stamp:
            start = parse_clock(stamp.group("clock"))
            line = stamp.group("rest")
        speaker, text = split_speaker(line)
        if speaker is None and start is None and drafts:
            drafts[-1]["text"] += " " + text
            continue
        drafts.append({"speaker": speaker, "text": text, "start": start, "line": where})
    if not drafts:
        raise CdaError(f"{path}: no turns found", hint="the file is empty")
    turns = []
    for index, draft in enumerate(drafts):
        nxt = next((d["start"] for d in drafts[index + 1 :] if d["start"] is not None), None)
        end = nxt if draft["start"] is not None else None
        turns.append(
            Turn(
                speaker=draft["speaker"],
                text=draft["text"],
                start=draft["start"],
                end=end,
                line=draft["line"],
            )
        )
    return turns


def parse_txt(path: Path) -> list[Turn]:
    text = read_text(path)
    return _turns(((str(n), line) for n, line in enumerate(text.splitlines(), start=1)), path)


def parse_docx(path: Path) -> list[Turn]:
    import zipfile
    import zlib

    import docx  # python-docx; imported here because only .docx imports need it
    from docx.opc.exceptions import OpcError
    from lxml import etree

    # What python-docx raises for a file that is no (intact) Word document: not a zip
    # (OpcError), a corrupt member (BadZipFile, zlib.error, EOFError), a missing part
    # (KeyError), another Office type (ValueError), broken XML (LxmlError), and XML that is
    # well-formed but no WordprocessingML (AttributeError, e.g. a document without a body).
    unreadable = (
        OpcError,
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        KeyError,
        ValueError,
        etree.LxmlError,
        AttributeError,
    )
    if not zipfile.is_zipfile(path):
        what = "it is empty" if path.stat().st_size == 0 else "it is no zip archive"
        raise CdaError(
            f"{path}: not a .docx file ({what}, and every .docx is one)",
            hint="open it in Word/LibreOffice and save it again as .docx",
        )
    try:
        document = docx.Document(str(path))
        paragraphs = [p.text for p in document.paragraphs]
    except unreadable as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise CdaError(
            f"{path}: not a readable .docx file ({reason})",
            hint="open it in Word/LibreOffice and save it again as .docx",
        ) from None
    return _turns(((f"paragraph {n}", p) for n, p in enumerate(paragraphs, start=1)), path)
