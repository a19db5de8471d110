"""Hostile input at the import and ingest boundary (issue 17: #2, #5, #6, #8, #10, #11, #14).

Each case runs the real `cda` in a subprocess and checks the exit status, that the message
names the file and line (or field) and what to do, that there is no traceback, and that the
workspace is byte-identical afterwards: nothing is copied into data/raw, no manifest row is
added, no table is written.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import signal
import struct
import subprocess
import time
import wave
import zipfile
from pathlib import Path

import docx
import pytest
from hostile import CDA, GIB, cda, files_under, refused

from pipeline.cli.init import init_workspace
from pipeline.core.config import load_config
from pipeline.core.errors import CdaError
from pipeline.core.io import read_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import SEGMENTS
from pipeline.core.transcript import to_tables
from pipeline.importers import import_transcripts, parse_transcript, register
from pipeline.ingest import extract_all, register_media

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


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


# 2. a second file for a recording -----------------------------------------------------------


def test_a_second_transcript_for_a_recording_is_refused_naming_both(
    ws: Workspace, tmp_path: Path
) -> None:
    txt = tmp_path / "burgers.txt"
    txt.write_text("Henk: Een.\nRia: Twee.\n", encoding="utf-8")
    vtt = tmp_path / "burgers.vtt"
    vtt.write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v Jo>Iets anders.\n", "utf-8")
    setup_import(ws, txt)
    before = files_under(ws.root)

    proc = imp(ws, str(vtt), "--group", "burgers")

    refused(proc, "burgers.vtt", "recording 'burgers' already has transcript raw/burgers.txt")
    refused(proc, "--recording-id burgers-2")
    assert files_under(ws.root) == before  # burgers-0001 still is "Een."
    # the hint works: under its own id it is a recording of its own
    assert imp(ws, str(vtt), "--recording-id", "burgers-2", "--group", "burgers").returncode == 0
    by_id = dict(zip(segments(ws)["segment_id"], segments(ws)["text"], strict=True))
    assert by_id == {
        "burgers-0001": "Een.",
        "burgers-0002": "Twee.",
        "burgers-2-0001": "Iets anders.",
    }


def test_two_files_of_one_recording_in_one_command_are_refused(
    ws: Workspace, tmp_path: Path
) -> None:
    txt = tmp_path / "burgers.txt"
    txt.write_text("Henk: Een.\n", encoding="utf-8")
    srt = tmp_path / "burgers.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:02,000\nJo: Twee.\n", encoding="utf-8")
    before = files_under(ws.root)

    proc = imp(ws, str(txt), str(srt), "--group", "burgers")

    refused(proc, "burgers.srt", "recording id 'burgers' is also the id of", "burgers.txt")
    assert files_under(ws.root) == before


@needs_ffmpeg
def test_a_second_media_file_for_a_recording_is_refused_naming_both(
    ws: Workspace, tmp_path: Path
) -> None:
    wav = tone(tmp_path / "burgers.wav")
    flac = tmp_path / "other" / "burgers.flac"
    flac.parent.mkdir()
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(tone(tmp_path / "t2.wav", 2.0)),
         str(flac)],
        check=True,
    )  # fmt: skip
    setup_ingest(ws, wav)
    before = files_under(ws.root)

    proc = ingest(ws, str(flac), "--group", "burgers")

    refused(proc, "burgers.flac", "recording 'burgers' already has media raw/burgers.wav")
    refused(proc, "--recording-id")
    assert files_under(ws.root) == before  # also data/interim/audio/burgers.wav


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


def _refused_untouched(
    ws: Workspace, tmp_path: Path, name: str, content: str, needles: list[str]
) -> None:
    """Importing ``content`` as file ``name`` (after a good import) is refused, and the
    workspace is byte-identical afterwards."""
    good_import(ws, tmp_path)
    source = tmp_path / name
    source.write_text(content, encoding="utf-8")
    before = files_under(ws.root)
    refused(imp(ws, str(source), "--group", "burgers"), *needles)
    assert files_under(ws.root) == before


@pytest.mark.parametrize("name", list(UNSTORABLE))
def test_a_file_import_cannot_store_is_refused_before_it_is_copied(
    ws: Workspace, tmp_path: Path, name: str
) -> None:
    _refused_untouched(ws, tmp_path, name, *UNSTORABLE[name])  # not in data/raw, no row
    import_transcripts(ws, load_config(ws))  # and the next import is not wedged


def test_one_bad_file_among_several_registers_none(ws: Workspace, tmp_path: Path) -> None:
    first = write_jsonl(tmp_path / "eerste.jsonl", [{"speaker": "A", "text": "Een."}])
    second = tmp_path / "tweede.jsonl"
    second.write_text('{"speaker": "A", "text": "x\\ud800"}\n', encoding="utf-8")
    before = files_under(ws.root)

    proc = imp(ws, str(first), str(second), "--group", "burgers")

    refused(proc, "tweede.jsonl:1: text holds a lone surrogate")
    assert files_under(ws.root) == before  # eerste.jsonl was valid, but is not registered alone


# 6. the copy into data/raw is atomic -------------------------------------------------------------


@pytest.mark.parametrize("leftover", ["temp-file", "cut-off-target"])
def test_a_copy_killed_half_way_does_not_block_the_retry(
    ws: Workspace, tmp_path: Path, leftover: str
) -> None:
    source = write_jsonl(
        tmp_path / "burgers.jsonl",
        [{"speaker": "A" if i % 2 else "B", "text": f"Beurt {i}."} for i in range(2000)],
    )
    data = source.read_bytes()
    # What a kill -9 in the middle of the copy leaves: the atomic copy's temporary file, or
    # (releases that copied straight to the target) a target cut off after 1000 bytes.
    name = ".burgers.jsonl.k1ll3d.tmp" if leftover == "temp-file" else "burgers.jsonl"
    ws.raw.mkdir(parents=True, exist_ok=True)
    (ws.raw / name).write_bytes(data[:1000])

    proc = imp(ws, str(source), "--group", "burgers")

    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in ws.raw.iterdir()) == ["burgers.jsonl"]  # leftover gone
    assert (ws.raw / "burgers.jsonl").read_bytes() == data
    assert manifest_rows(ws) == [f"burgers,burgers,,,,raw/burgers.jsonl,{sha(source)},,,,"]
    assert len(segments(ws)) == 2000


def test_a_copy_that_does_not_match_the_checked_hash_is_not_kept(tmp_path: Path) -> None:
    """The file changed between the check and the copy (or the disk failed): nothing lands."""
    # imported here, not at the top: the other cases of this file must run on older code too
    from pipeline.core.io import copy_verified

    source = tmp_path / "bron.txt"
    source.write_text("Henk: Een.\n", encoding="utf-8")
    target = tmp_path / "raw" / "bron.txt"
    checked = hashlib.sha256(b"Henk: Een, anders.\n").hexdigest()
    with pytest.raises(CdaError, match="does not match the file that was checked"):
        copy_verified(source, target, sha256=checked)
    assert list(target.parent.iterdir()) == []  # no target, no temporary file
    copy_verified(source, target, sha256=sha(source))
    assert target.read_bytes() == source.read_bytes()


def test_a_copy_in_progress_is_not_taken_for_a_leftover(tmp_path: Path) -> None:
    from pipeline.core.io import claimed_temp, remove_stale_copies

    target = tmp_path / "raw" / "bron.txt"
    with claimed_temp(target) as tmp:
        tmp.write_bytes(b"half")
        assert remove_stale_copies(target) == []  # locked: another copy is writing it
        assert tmp.exists()
    assert not tmp.exists()
    leftover = target.parent / ".bron.txt.k1ll3d.tmp"
    leftover.write_bytes(b"half")  # no lock: its writer is gone
    assert remove_stale_copies(target) == [leftover] and not leftover.exists()


def _sparse_m4a(path: Path, size: int) -> Path:
    """A 3 s tone in an .m4a padded to ``size`` bytes by a sparse 'free' box.

    ffmpeg skips the box in no time, so the file ingests in seconds, but copying it into
    data/raw writes every byte: a window in which to kill the copy.
    """
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi",
         "-i", "sine=frequency=440:sample_rate=16000:duration=3", str(path)],
        check=True,
    )  # fmt: skip
    with path.open("r+b") as handle:
        end = handle.seek(0, os.SEEK_END)
        handle.write(struct.pack(">I", size - end) + b"free")
        handle.truncate(size)
    return path


@needs_ffmpeg
@pytest.mark.slow
def test_killing_ingest_during_the_copy_leaves_no_partial_file(
    ws: Workspace, tmp_path: Path
) -> None:
    source = _sparse_m4a(tmp_path / "groot.m4a", 256 << 20)
    digest = sha(source)
    args = [str(CDA), "ingest", str(source), "--group", "burgers", "--workspace", str(ws.root)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ws.raw.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if any(p.stat().st_size > 0 for p in ws.raw.iterdir() if "groot" in p.name):
            break  # bytes are being copied: kill it now
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    target = ws.raw / "groot.m4a"
    assert not target.exists() or sha(target) == digest, "a partial file in data/raw"
    assert not ws.manifest.exists() or not manifest_rows(ws)

    retry = ingest(ws, str(source), "--group", "burgers")

    assert retry.returncode == 0, retry.stderr
    assert [p.name for p in ws.raw.iterdir()] == ["groot.m4a"]  # the killed copy's file is gone
    assert sha(target) == digest
    assert manifest_rows(ws)[0].split(",")[7] == digest  # media_sha256


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
    _refused_untouched(ws, tmp_path, name, *ABSURD[name])


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


# 11. a changed raw file is not re-registered ----------------------------------------------------


@pytest.mark.parametrize("new_id", [None, "burgers-2"])
def test_a_raw_file_changed_in_place_is_not_registered_again(
    ws: Workspace, tmp_path: Path, new_id: str | None
) -> None:
    source = tmp_path / "burgers.txt"
    source.write_text("Henk: Een.\nRia: Twee.\n", encoding="utf-8")
    setup_import(ws, source)
    raw = ws.raw / "burgers.txt"
    raw.write_text("Henk: Een.\nRia: Iets anders.\n", encoding="utf-8")
    before = files_under(ws.root)

    proc = imp(ws, str(raw), "--recording-id", new_id or "burgers", "--group", "burgers")

    refused(proc, "data/raw/burgers.txt changed since it was registered as 'burgers'")
    refused(proc, "data/recordings.csv:2", "restore the registered version", "--recording-id")
    assert files_under(ws.root) == before


@needs_ffmpeg
def test_a_recording_changed_in_place_is_not_ingested_again(ws: Workspace, tmp_path: Path) -> None:
    setup_ingest(ws, tone(tmp_path / "burgers.wav"))
    raw = ws.raw / "burgers.wav"
    with raw.open("ab") as handle:  # still decodes: a trailing chunk ffmpeg ignores
        handle.write(b"LIST\x04\x00\x00\x00INFO")
    before = files_under(ws.root)

    proc = ingest(ws, str(raw), "--recording-id", "burgers")

    refused(proc, "data/raw/burgers.wav changed since it was registered", "media_sha256")
    assert files_under(ws.root) == before


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
