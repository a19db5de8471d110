"""Hostile input at the import and ingest boundary (issue 17: #5, #8, #10, #14).

Each case runs the real `cda` in a subprocess and checks the exit status, that the message
names the file and line (or field) and what to do, that there is no traceback, and that the
workspace is byte-identical afterwards: nothing is copied into data/raw, no manifest row is
added, no table is written.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import resource
import shutil
import struct
import subprocess
import wave
import zipfile
from pathlib import Path

import docx
import pytest

from pipeline.cli.init import init_workspace
from pipeline.core.config import load_config
from pipeline.core.errors import CdaError
from pipeline.core.io import read_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import SEGMENTS
from pipeline.core.transcript import to_tables
from pipeline.importers import import_transcripts, parse_transcript, register
from pipeline.ingest import extract_all, register_media

CDA = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "cda"
GIB = 1 << 30
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


def cda(*args: str, memory: int | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:  # an address-space cap: a bomb fails fast instead of swapping
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run(
        [str(CDA), *args], capture_output=True, text=True, timeout=120, preexec_fn=limit
    )


def refused(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace.at(tmp_path / "study" / "ws")
    init_workspace(workspace, study="hostile", groups=["burgers"])
    return workspace


# helpers ----------------------------------------------------------------------------------------


def imp(ws: Workspace, *args: str) -> subprocess.CompletedProcess:
    return cda("import", *args, "--workspace", str(ws.root))


def ingest(ws: Workspace, *args: str) -> subprocess.CompletedProcess:
    return cda("ingest", *args, "--workspace", str(ws.root))


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def setup_import(ws: Workspace, path: Path, **options) -> None:
    """Register and import in-process: the set-up of a case, not what it tests."""
    config = load_config(ws)
    register(ws, config, path, recording_id=None, group="burgers", **options)
    import_transcripts(ws, config)


def setup_ingest(ws: Workspace, path: Path) -> None:
    """Register a recording and extract its audio in-process (as `cda ingest FILE` does)."""
    config = load_config(ws)
    register_media(ws, config, path, group="burgers")
    extract_all(ws, config)


def good_import(ws: Workspace, tmp_path: Path) -> None:
    """A registered, imported recording first: refusals must leave it (and its tables) alone."""
    source = write_jsonl(
        tmp_path / "goed.jsonl",
        [{"speaker": "A", "text": "Goedemorgen."}, {"speaker": "B", "text": "Ja."}],
    )
    setup_import(ws, source)


def segments(ws: Workspace):
    return read_table(ws.imported_segments, SEGMENTS)


def manifest_rows(ws: Workspace) -> list[str]:
    return ws.manifest.read_text(encoding="utf-8").splitlines()[1:]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tone(path: Path, seconds: float = 1.0) -> Path:
    """A 440 Hz tone as 16-bit PCM: a recording ffmpeg decodes and the silence check passes."""
    frames = int(16000 * seconds)
    samples = (int(8000 * math.sin(2 * math.pi * 440 * i / 16000)) for i in range(frames))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return path


# 5. validated before anything is written --------------------------------------------------------

WHISPERX_OK = {"start": 0.0, "end": 1.0, "text": " Hoi.", "speaker": "SPEAKER_00"}

# name -> (file content, what the message must say)
UNSTORABLE = {
    "speaker-list.json": (
        json.dumps({"segments": [WHISPERX_OK, {**WHISPERX_OK, "start": 1, "speaker": ["A", "B"]}]}),
        ["speaker-list.json:segments[1]: 'speaker' must be text, got ['A', 'B']"],
    ),
    "word-speaker.json": (
        json.dumps(
            {"segments": [{**WHISPERX_OK, "words": [{"word": "Hoi.", "speaker": {"id": 1}}]}]}
        ),
        ["word-speaker.json:segments[0].words[0]: 'speaker' must be text"],
    ),
    "surrogate.jsonl": (
        '{"speaker": "A", "text": "Een."}\n{"speaker": "B", "text": "x\\ud800y"}\n',
        ["surrogate.jsonl:2: text holds a lone surrogate (U+D800)", "\\uXXXX"],
    ),
    "surrogate-speaker.jsonl": (
        '{"speaker": "\\udc00B", "text": "Een."}\n',
        ["surrogate-speaker.jsonl:1: speaker holds a lone surrogate (U+DC00)"],
    ),
    "surrogate.json": (
        '{"segments": [{"start": 0, "end": 1, "text": "Hoi \\udfff", "speaker": "S"}]}',
        ["surrogate.json:segments[0]: text holds a lone surrogate"],
    ),
}


@pytest.mark.parametrize("name", list(UNSTORABLE))
def test_a_file_import_cannot_store_is_refused_before_it_is_copied(
    ws: Workspace, tmp_path: Path, name: str
) -> None:
    good_import(ws, tmp_path)
    content, needles = UNSTORABLE[name]
    source = tmp_path / name
    source.write_text(content, encoding="utf-8")
    before = files_under(ws.root)

    proc = imp(ws, str(source), "--group", "burgers")

    refused(proc, *needles)
    assert files_under(ws.root) == before  # not in data/raw, no manifest row
    import_transcripts(ws, load_config(ws))  # and the next import is not wedged


# 8. values that would crash later stages -------------------------------------------------------

ABSURD = {
    # finite, but 1e309 ms: the SRT export's round(seconds * 1000) overflows
    "absurd.jsonl": (
        '{"speaker": "A", "start": 0, "end": 1e306, "text": "Een."}\n',
        ["absurd.jsonl:1: end time 1e+306s is more than 604800 s", "unit"],
    ),
    "infinite-word.json": (
        '{"segments": [{"start": 0, "end": 1, "text": "Hoi", "speaker": "S",'
        ' "words": [{"word": "Hoi", "start": 0, "end": Infinity}]}]}',
        ["infinite-word.json:segments[0]: invalid words[0] end time inf"],
    ),
    "hours.srt": (
        "1\n00:00:01,000 --> 00:00:02,000\nA: Een.\n\n2\n9999999:00:00,000 --> 9999999:00:01,000\n"
        "B: Twee.\n",
        ["hours.srt:6: start time 3.6e+10s is more than 604800 s"],
    ),
    "nul.txt": (
        "Henk: Een.\nRia: Tw\x00ee.\n",
        ["nul.txt:2: text holds the control character U+0000 at character 3", "remove it"],
    ),
    "bell-speaker.jsonl": (
        '{"speaker": "A\\u0007", "text": "Een."}\n',
        ["bell-speaker.jsonl:1: speaker holds the control character U+0007", "xlsx"],
    ),
    "escape.jsonl": (
        '{"speaker": "A", "text": "Een."}\n{"speaker": "B", "text": "kleur \\u001b[31m"}\n',
        ["escape.jsonl:2: text holds the control character U+001B at character 7"],
    ),
}


@pytest.mark.parametrize("name", list(ABSURD))
def test_a_value_that_would_crash_a_later_stage_is_refused(
    ws: Workspace, tmp_path: Path, name: str
) -> None:
    good_import(ws, tmp_path)
    content, needles = ABSURD[name]
    source = tmp_path / name
    source.write_text(content, encoding="utf-8")
    before = files_under(ws.root)

    proc = imp(ws, str(source), "--group", "burgers")

    refused(proc, *needles)
    assert files_under(ws.root) == before


def test_whatever_import_accepts_fits_in_an_xlsx_cell(tmp_path: Path) -> None:
    """Every character openpyxl refuses is either refused at import or stored as a space.

    By hand: tab, line breaks, form feed, vertical tab and \\x1c-\\x1f are whitespace, and a
    run of whitespace is stored as one space, so "a<c>b" is stored as "a b"; the other C0
    controls would be stored as they are, so they are refused.
    """
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    sheet = Workbook().active
    illegal = [chr(c) for c in range(0x20) if ILLEGAL_CHARACTERS_RE.match(chr(c))]
    assert len(illegal) == 29  # \x00-\x08, \x0b, \x0c, \x0e-\x1f
    stored, refusals = {}, []
    for char in illegal:
        path = write_jsonl(tmp_path / "t.jsonl", [{"speaker": "A", "text": f"a{char}b"}])
        try:
            turns = parse_transcript(path)
        except CdaError as exc:
            assert f"U+{ord(char):04X}" in exc.message and exc.hint
            refusals.append(char)
            continue
        table, _ = to_tables(turns, recording_id="r", group="g", source="import")
        for value in [*table["text"], *table["speaker"]]:
            sheet.cell(row=1, column=1, value=value)  # raises IllegalCharacterError if unfit
        stored[char] = table["text"].iloc[0]
    assert set(stored) == {"\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f"}
    assert set(stored.values()) == {"a b"}
    assert len(refusals) == 23


# 10. tracebacks instead of errors ---------------------------------------------------------------


def _docx_with(tmp_path: Path, part: str, content: bytes) -> bytes:
    """A real .docx (python-docx) with one part replaced."""
    good = tmp_path / "good.docx"
    document = docx.Document()
    document.add_paragraph("Henk: Een.")
    document.save(str(good))
    out = tmp_path / "rewritten.docx"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            zout.writestr(item.filename, content if item.filename == part else zin.read(item))
    return out.read_bytes()


DOCX = {
    "leeg.docx": lambda tmp: b"",
    "ruis.docx": lambda tmp: random.Random(17).randbytes(4096),
    "types.docx": lambda tmp: _docx_with(tmp, "[Content_Types].xml", b"<Types><bad"),
    "document.docx": lambda tmp: _docx_with(tmp, "word/document.xml", b"<w:document><oops"),
    "wortel.docx": lambda tmp: _docx_with(tmp, "word/document.xml", b"<x/>"),
}


@pytest.mark.parametrize("name", list(DOCX))
def test_a_broken_docx_is_refused_naming_the_file(ws: Workspace, tmp_path: Path, name: str) -> None:
    source = tmp_path / name
    source.write_bytes(DOCX[name](tmp_path))
    before = files_under(ws.root)

    proc = imp(ws, str(source), "--group", "burgers")

    refused(proc, f"{name}: not a", ".docx file", "save it again as .docx")
    assert files_under(ws.root) == before


JSON_READERS = {
    "diep.json": ("[" * 100_000 + "]" * 100_000, ["diep.json: JSON nested too deeply"]),
    "diep.jsonl": (
        '{"speaker": "A", "text": "Een."}\n' + "[" * 100_000 + "]" * 100_000 + "\n",
        ["diep.jsonl:2: JSON nested too deeply"],
    ),
    "cijfers.jsonl": (
        '{"speaker": "A", "text": "Een.", "start": ' + "9" * 5000 + "}\n",
        ["cijfers.jsonl:1: unreadable JSON", "4300 digits"],
    ),
    "groot.jsonl": (
        '{"speaker": "A", "text": "Een.", "start": ' + "9" * 400 + "}\n",
        ["groot.jsonl:1: 'start' is too large to be a time"],
    ),
    "woorden.json": (
        json.dumps({"segments": [{**WHISPERX_OK, "words": {"word": "Hoi"}}]}),
        ["woorden.json:segments[0]: 'words' must be a list"],
    ),
}


@pytest.mark.parametrize("name", list(JSON_READERS))
def test_a_json_reader_failure_is_an_error_naming_file_and_line(
    ws: Workspace, tmp_path: Path, name: str
) -> None:
    content, needles = JSON_READERS[name]
    source = tmp_path / name
    source.write_text(content, encoding="utf-8")
    before = files_under(ws.root)

    proc = cda("import", str(source), "--group", "burgers", "--workspace", str(ws.root),
               memory=GIB)  # fmt: skip

    refused(proc, *needles)
    assert files_under(ws.root) == before


def test_jsonl_records_end_at_newlines_only(ws: Workspace, tmp_path: Path) -> None:
    """U+2028 and U+0085 may stand raw inside a JSON string; they end no record."""
    source = tmp_path / "scheiding.jsonl"
    source.write_text(
        '{"speaker": "A", "text": "Eerste regel\u2028tweede\x85derde."}\n', encoding="utf-8"
    )
    assert len(source.read_text(encoding="utf-8").splitlines()) == 3  # what str.splitlines sees

    proc = imp(ws, str(source), "--group", "burgers")

    assert proc.returncode == 0, proc.stderr
    # by hand: U+2028 and U+0085 are whitespace, each stored as one space
    assert list(segments(ws)["text"]) == ["Eerste regel tweede derde."]


# 14. a JSONL record without a speaker ---------------------------------------------------------


def test_a_jsonl_line_without_speaker_is_refused_unless_no_speakers(
    ws: Workspace, tmp_path: Path
) -> None:
    source = write_jsonl(
        tmp_path / "beurten.jsonl",
        [{"speaker": "A", "text": "Een."}, {"text": "Twee."}, {"speaker": "B", "text": "Drie."}],
    )
    before = files_under(ws.root)

    proc = imp(ws, str(source), "--group", "burgers")

    refused(proc, "beurten.jsonl:2: no speaker", "--no-speakers")
    assert files_under(ws.root) == before
    assert imp(ws, str(source), "--group", "burgers", "--no-speakers").returncode == 0
    assert list(segments(ws)["speaker"]) == ["A", "unknown", "B"]
