"""The ``import`` stage: every importer on real-shaped files, bad input, and the CLI.

Each test writes its own input files into a temporary workspace and derives the expected
segments/words from what it wrote; nothing here is copied from the pipeline's own output.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import docx
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.cli.init import init_workspace
from pipeline.core.config import load_config
from pipeline.core.errors import CdaError
from pipeline.core.io import read_table, sha256_file
from pipeline.core.paths import Workspace
from pipeline.core.schemas import SEGMENTS, WORDS
from pipeline.importers import import_transcripts, parse_transcript

REPO = Path(__file__).resolve().parents[1]
PARLAMINT_TSV = REPO.parent / "shared" / "data" / "parlamint-nl-toeslagen-2021-06-09" / "turns.tsv"
SHARED_CONVERSATION = REPO.parent / "shared" / "data" / "conversation-sample-en"
GROUPS = ["burgers", "deskundigen"]
MANIFEST_HEADER = "recording_id,group,date,language,media,transcript,sha256\n"

# helpers: workspaces, manifest rows, transcript files -----------------------------------------


def new_ws(tmp_path: Path, name: str = "ws") -> Workspace:
    ws = Workspace.at(tmp_path / name)
    init_workspace(ws, study="t", groups=GROUPS)
    return ws


def add_recording(
    ws: Workspace,
    name: str,
    content: str | bytes,
    *,
    group: str = "burgers",
    rid: str | None = None,
    sha256: str = "",
) -> Path:
    """Write ``data/raw/<name>`` and append its row to the manifest; return the file."""
    path = ws.raw / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    if not ws.manifest.exists():
        ws.manifest.write_text(MANIFEST_HEADER, encoding="utf-8")
    with ws.manifest.open("a", encoding="utf-8") as handle:
        handle.write(f"{rid or path.stem},{group},,nl,,raw/{name},{sha256}\n")
    return path


def manifest_lines(ws: Workspace) -> int:
    return len(ws.manifest.read_text(encoding="utf-8").splitlines())


def run_import(ws: Workspace, **kwargs):
    return import_transcripts(ws, load_config(ws), **kwargs)


def segments_of(ws: Workspace) -> pd.DataFrame:
    return read_table(ws.imported_segments, SEGMENTS)


def words_of(ws: Workspace) -> pd.DataFrame:
    return read_table(ws.imported_words, WORDS)


def import_one(tmp_path: Path, name: str, content: str | bytes, **kwargs):
    """Import one transcript into a fresh workspace; return (segments, words, summary)."""
    ws = new_ws(tmp_path)
    add_recording(ws, name, content)
    summary = run_import(ws, **kwargs)
    return segments_of(ws), words_of(ws), summary


def na_to_none(values) -> list:
    return [None if pd.isna(v) else v for v in values]


def norm(text: str) -> str:
    return " ".join(text.split())


def clock(seconds: float, *, sep: str = ",") -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{millis:03d}"


def srt_text(cues: list[tuple[float, float, str]]) -> tuple[str, list[int]]:
    """SRT for (start, end, body) cues; also return the line number of each timing line."""
    lines: list[str] = []
    timing_lines = []
    for index, (start, end, body) in enumerate(cues, start=1):
        lines.append(str(index))
        lines.append(f"{clock(start)} --> {clock(end)}")
        timing_lines.append(len(lines))
        lines.extend(body.split("\n"))
        lines.append("")
    return "\n".join(lines) + "\n", timing_lines


def jsonl_text(objects: list[dict | str]) -> str:
    """One line per item: dicts as JSON, strings verbatim (for blank or broken lines)."""
    return "".join(
        (obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)) + "\n"
        for obj in objects
    )


# 1. importers on real-shaped files ------------------------------------------------------------


def whisperx_result() -> dict:
    """A result as whisperx 3.x returns it after align + assign_word_speakers."""
    segments = [
        {
            "start": 0.031,
            "end": 2.52,
            "text": " Goedemiddag allemaal, welkom.",
            "speaker": "SPEAKER_00",
            "words": [
                {
                    "word": "Goedemiddag",
                    "start": 0.031,
                    "end": 0.612,
                    "score": 0.912,
                    "speaker": "SPEAKER_00",
                },
                {
                    "word": "allemaal,",
                    "start": 0.7,
                    "end": 1.3,
                    "score": 0.85,
                    "speaker": "SPEAKER_00",
                },
                {
                    "word": "welkom.",
                    "start": 1.42,
                    "end": 2.52,
                    "score": 0.774,
                    "speaker": "SPEAKER_00",
                },
            ],
        },
        {
            "start": 2.9,
            "end": 5.41,
            "text": " In 2040 betaal je met je gezicht.",
            "speaker": "SPEAKER_01",
            "words": [
                {"word": "In", "start": 2.9, "end": 3.02, "score": 0.64, "speaker": "SPEAKER_01"},
                # the aligner has no characters for digits: no start/end/score, so no speaker
                {"word": "2040"},
                {
                    "word": "betaal",
                    "start": 3.8,
                    "end": 4.1,
                    "score": 0.88,
                    "speaker": "SPEAKER_01",
                },
                {"word": "je", "start": 4.12, "end": 4.2, "score": 0.97, "speaker": "SPEAKER_01"},
                {"word": "met", "start": 4.25, "end": 4.4, "score": 0.91, "speaker": "SPEAKER_01"},
                {"word": "je", "start": 4.42, "end": 4.5, "score": 0.95, "speaker": "SPEAKER_01"},
                {
                    "word": "gezicht.",
                    "start": 4.55,
                    "end": 5.41,
                    "score": 0.83,
                    "speaker": "SPEAKER_01",
                },
            ],
        },
        # no diarisation turn overlaps this segment: no "speaker" anywhere
        {
            "start": 5.6,
            "end": 6.8,
            "text": " Zoë knikt.",
            "words": [
                {"word": "Zoë", "start": 5.6, "end": 6.0, "score": 0.7},
                {"word": "knikt.", "start": 6.1, "end": 6.8, "score": 0.66},
            ],
        },
    ]
    word_segments = [dict(w) for seg in segments for w in seg["words"]]
    return {"segments": segments, "word_segments": word_segments, "language": "nl"}


def test_whisperx_json_segments_and_words(tmp_path):
    result = whisperx_result()
    source = tmp_path / "opname.json"
    with open(source, "w", encoding="utf-8") as handle:  # as whisperx's WriteJSON does
        json.dump(result, handle, ensure_ascii=False)

    segs, words, summary = import_one(tmp_path, "opname.json", source.read_bytes())

    expected = result["segments"]
    assert list(segs["segment_id"]) == [f"opname-{i:04d}" for i in range(1, len(expected) + 1)]
    assert list(segs["text"]) == [norm(s["text"]) for s in expected]
    assert list(segs["speaker"]) == [s.get("speaker", "unknown") for s in expected]
    assert list(segs["start"]) == [s["start"] for s in expected]
    assert list(segs["end"]) == [s["end"] for s in expected]
    assert set(segs["source"]) == {"import:whisperx"}
    assert set(segs["group"]) == {"burgers"}

    # one row per word in "segments" (word_segments repeats them and must not be counted)
    expected_words = [
        (f"opname-{i:04d}", j, w)
        for i, seg in enumerate(expected, start=1)
        for j, w in enumerate(seg["words"])
    ]
    assert len(words) == len(expected_words)
    assert list(words["segment_id"]) == [sid for sid, _, _ in expected_words]
    assert list(words["word_index"]) == [j for _, j, _ in expected_words]
    assert list(words["word"]) == [w["word"] for _, _, w in expected_words]
    for column in ("start", "end", "score", "speaker"):
        assert na_to_none(words[column]) == [w.get(column) for _, _, w in expected_words], column
    unaligned = words[words["word"] == "2040"].iloc[0]
    assert pd.isna(unaligned["start"]) and pd.isna(unaligned["end"])
    assert pd.isna(unaligned["score"]) and pd.isna(unaligned["speaker"])

    (rec,) = summary
    assert rec.segments == len(expected)
    assert rec.words == 3 + 7 + 2  # words of the three texts
    assert rec.timed_words == len(expected_words) - 1  # all but "2040", which has no time
    assert list(segs["overlap"]) == [0, 0, 0]  # each segment starts after the last ended
    assert rec.speakers == len({s.get("speaker", "unknown") for s in expected})
    assert rec.seconds == pytest.approx(sum(s["end"] - s["start"] for s in expected))


@pytest.mark.parametrize("style", ["name", "whisperx"])
def test_srt_speaker_prefixes(tmp_path, style):
    turns = [  # (start, end, speaker, lines of the cue text)
        (1.0, 4.25, "Gespreksleider", ["Welkom allemaal."]),
        (4.5, 9.0, "Marloes", ["Ik werk bij de bibliotheek,", "daar help ik met DigiD."]),
        (9.1, 12.333, "Henk", ["Let op: ik heb zelf een tablet."]),
    ]
    if style == "whisperx":  # WhisperX's SRT writer labels cues "[SPEAKER_00]: text"
        labels = {
            name: f"SPEAKER_{i:02d}" for i, name in enumerate(dict.fromkeys(t[2] for t in turns))
        }
        turns = [(s, e, labels[spk], lines) for s, e, spk, lines in turns]
        prefix = "[{}]: "
    else:
        prefix = "{}: "
    cues = [(s, e, prefix.format(spk) + "\n".join(lines)) for s, e, spk, lines in turns]
    text, _ = srt_text(cues)

    segs, words, _ = import_one(tmp_path, "sessie.srt", text)

    assert list(segs["speaker"]) == [t[2] for t in turns]
    assert list(segs["text"]) == [" ".join(t[3]) for t in turns]
    assert list(segs["start"]) == [t[0] for t in turns]
    assert list(segs["end"]) == [t[1] for t in turns]
    assert set(segs["source"]) == {"import:srt"}
    assert words.empty


def test_vtt_voice_tags_note_block_and_styling(tmp_path):
    cues = [  # (timing line, cue markup, speaker, plain text)
        (
            "00:00:01.000 --> 00:00:04.500",
            "<v Ellen Vos>Goedemiddag, welkom.",
            "Ellen Vos",
            "Goedemiddag, welkom.",
        ),
        (
            "00:00:05.000 --> 00:00:09.250 align:start position:10%",
            "<v Karim Benali>Dat is <i>echt</i> belangrijk\nvoor de uitvoering.",
            "Karim Benali",
            "Dat is echt belangrijk voor de uitvoering.",
        ),
        (
            "00:10.000 --> 00:12.750",
            "<v.loud Joris Brûlé>Nee, <b>niet</b> doen!</v>",
            "Joris Brûlé",
            "Nee, niet doen!",
        ),
    ]
    note = "NOTE opname 19 maart, ruwe export\nnog niet gecontroleerd"
    blocks = ["WEBVTT - deskundigensessie", note]
    for index, (timing, markup, _, _) in enumerate(cues, start=1):
        ident = f"cue-{index}\n" if index != 2 else ""  # identifiers are optional
        blocks.append(f"{ident}{timing}\n{markup}")
    segs, _, _ = import_one(tmp_path, "sessie.vtt", "\n\n".join(blocks) + "\n")

    assert len(segs) == len(cues)
    assert list(segs["speaker"]) == [c[2] for c in cues]
    assert list(segs["text"]) == [c[3] for c in cues]
    assert list(segs["start"]) == [1.0, 5.0, 10.0]
    assert list(segs["end"]) == [4.5, 9.25, 12.75]
    assert not segs["text"].str.contains("<|>|opname", regex=True).any()


def test_jsonl_turns(tmp_path):
    turns = [
        {"speaker": "Gespreksleider", "start": 0.5, "end": 3.0, "text": "Welkom."},
        {
            "speaker": "Fatima",
            "start": 3.2,
            "end": 9.75,
            "text": "Ik kreeg een brief van de Belastingdienst:  twaalfduizend euro.",
        },
        {"speaker": "Ria", "text": "Ik heb geen computer."},  # times are optional
    ]
    segs, words, _ = import_one(tmp_path, "turns.jsonl", jsonl_text([turns[0], "", *turns[1:]]))

    assert list(segs["speaker"]) == [t["speaker"] for t in turns]
    assert list(segs["text"]) == [norm(t["text"]) for t in turns]
    assert na_to_none(segs["start"]) == [t.get("start") for t in turns]
    assert na_to_none(segs["end"]) == [t.get("end") for t in turns]
    assert set(segs["source"]) == {"import:jsonl"}
    assert words.empty


def test_plain_text_turns_with_continuation_line(tmp_path):
    turns = [  # (start in seconds, speaker, lines; later lines have no speaker prefix)
        (5, "Gespreksleider", ["Welkom allemaal, fijn dat jullie er zijn."]),
        (
            51,
            "Marloes",
            [
                "Ik ben Marloes, ik werk bij de bibliotheek.",
                "Daar help ik mensen met DigiD, en dat is wat ik bedoel: helpen.",
            ],
        ),
        (3 * 3600 + 79, "Henk", ["Henk. Gepensioneerd."]),
    ]
    lines = []
    for start, speaker, text_lines in turns:
        hh, rest = divmod(start, 3600)
        lines.append(f"[{hh:02d}:{rest // 60:02d}:{rest % 60:02d}] {speaker}: {text_lines[0]}")
        lines.extend(text_lines[1:])
    segs, _, _ = import_one(tmp_path, "burgers.txt", "\n".join(lines) + "\n")

    assert len(segs) == len(turns)
    assert list(segs["speaker"]) == [t[1] for t in turns]
    assert list(segs["text"]) == [" ".join(t[2]) for t in turns]
    starts = [float(t[0]) for t in turns]
    assert list(segs["start"]) == starts
    assert na_to_none(segs["end"]) == [*starts[1:], None]  # a turn ends where the next starts
    assert set(segs["source"]) == {"import:txt"}


def test_docx_turns(tmp_path):
    paragraphs = [
        "Gespreksleider: Welkom bij de sessie.",
        "",
        "Thijs van 't Hof: In krimpregio's verdwijnen voorzieningen.",
        "En dan blijft de bibliotheek over als laatste loket.",
        "Mirjam de Groot: Dat zie ik ook.",
    ]
    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    source = tmp_path / "verslag.docx"
    document.save(str(source))

    segs, _, _ = import_one(tmp_path, "verslag.docx", source.read_bytes())

    assert list(segs["speaker"]) == ["Gespreksleider", "Thijs van 't Hof", "Mirjam de Groot"]
    assert list(segs["text"]) == [
        paragraphs[0].split(": ", 1)[1],
        paragraphs[2].split(": ", 1)[1] + " " + paragraphs[3],
        paragraphs[4].split(": ", 1)[1],
    ]
    assert segs["start"].isna().all() and segs["end"].isna().all()
    assert set(segs["source"]) == {"import:docx"}


def parlamint_rows() -> list[dict[str, str]]:
    if not PARLAMINT_TSV.is_file():
        pytest.skip(f"shared ParlaMint debate not found at {PARLAMINT_TSV}")
    with open(PARLAMINT_TSV, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [row for row in rows if row["text"].strip()]


@pytest.mark.parametrize("fmt", ["jsonl", "txt"])
def test_parlamint_debate_round_trips(tmp_path, fmt):
    rows = parlamint_rows()
    assert len(rows) > 50
    if fmt == "jsonl":
        content = jsonl_text([{"speaker": r["speaker_label"], "text": r["text"]} for r in rows])
    else:  # plain text is line-based, so each speech goes on one line
        content = "".join(f"{r['speaker_label']}: {norm(r['text'])}\n" for r in rows)

    segs, _, _ = import_one(tmp_path, f"debat.{fmt}", content)

    assert len(segs) == len(rows)
    assert set(segs["speaker"]) == {r["speaker_label"] for r in rows}
    assert list(segs["speaker"]) == [r["speaker_label"] for r in rows]
    assert list(segs["text"]) == [norm(r["text"]) for r in rows]
    assert segs["start"].isna().all()
    assert segs["overlap"].isna().all()  # a debate without times: overlap unknown, not 0


def test_plain_text_labels_with_party_in_parentheses(tmp_path):
    # ParlaMint-style labels of five words (four plus the party) must not be taken for
    # continuation lines; "nr. 837:" inside the text must not split the turn either.
    turns = [
        ("De voorzitter", "Het woord is aan de heer Edgar Mulder."),
        ("De heer Edgar Mulder (PVV)", "Voorzitter, dank u wel."),
        ("Mevrouw Inge van Dijk (CDA)", "Dank je wel, voorzitter."),
        ("Staatssecretaris Van Huffelen", "De motie op stuk nr. 837: ontraden."),
        ("De heer Van Raan (PvdD)", "Dank u wel."),
    ]
    content = "".join(f"{speaker}: {text}\n" for speaker, text in turns)
    segs, _, _ = import_one(tmp_path, "debat.txt", content)
    assert list(zip(segs["speaker"], segs["text"], strict=True)) == turns


def test_bundled_sample_imports_stably(tmp_path):
    ws = Workspace.at(tmp_path / "demo")
    init_workspace(ws, sample=True)
    burgers = (ws.raw / "burgers.txt").read_text(encoding="utf-8").splitlines()
    stamps = [re.match(r"^\[(\d\d):(\d\d):(\d\d)\] ([^:]+):", ln) for ln in burgers if ln.strip()]
    assert all(stamps), "every line of burgers.txt is a timed turn"
    vtt = (ws.raw / "deskundigen.vtt").read_text(encoding="utf-8")
    n_cues = sum("-->" in line for line in vtt.splitlines())

    summary = run_import(ws)
    segs = segments_of(ws)
    first = (ws.imported_segments.read_bytes(), ws.imported_words.read_bytes())

    assert {r.recording_id: r.segments for r in summary} == {
        "burgers": len(stamps),
        "deskundigen": n_cues,
    }
    by_rec = dict(iter(segs.groupby("recording_id", sort=False)))
    assert list(by_rec["burgers"]["segment_id"]) == [
        f"burgers-{i:04d}" for i in range(1, len(stamps) + 1)
    ]
    assert list(by_rec["deskundigen"]["segment_id"]) == [
        f"deskundigen-{i:04d}" for i in range(1, n_cues + 1)
    ]
    assert list(by_rec["burgers"]["speaker"]) == [m.group(4) for m in stamps]
    assert list(by_rec["burgers"]["start"]) == [
        int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3)) for m in stamps
    ]
    assert set(by_rec["deskundigen"]["speaker"]) == set(re.findall(r"<v ([^>]+)>", vtt))

    run_import(ws)  # same input, same bytes
    assert (ws.imported_segments.read_bytes(), ws.imported_words.read_bytes()) == first
    other = Workspace.at(tmp_path / "elders")  # and independent of where the workspace lives
    init_workspace(other, sample=True)
    run_import(other)
    assert other.imported_segments.read_bytes() == first[0]


# 2. bad input: a CdaError naming file and line, and nothing written ---------------------------

GOOD_TXT = "[00:00:01] Gespreksleider: Welkom.\n[00:00:04] Marloes: Dank je wel.\n"

# Each case plants one problem and returns (file named in the message, planted line or None).
BadCase = Callable[[Workspace], tuple[str, int | None]]


def bad_encoding(ws):
    lines = [
        "[00:00:01] Henk: Goedemorgen.",
        "[00:00:05] Ria: Ik drink koffie.",
        "[00:00:09] Henk: In het café was het druk.",
    ]
    add_recording(ws, "cp1252.txt", "\n".join(lines).encode("cp1252"))
    return "cp1252.txt", 3


def no_speakers(ws):
    add_recording(ws, "sprekerloos.txt", "\nGoedemorgen allemaal.\nDat is het verhaal.\n")
    return "sprekerloos.txt", 2


def decreasing_times(ws):
    text, timing = srt_text(
        [(10, 11, "Henk: Een."), (12, 13, "Ria: Twee."), (11.5, 14, "Henk: Drie.")]
    )
    add_recording(ws, "terug.srt", text)
    return "terug.srt", timing[2]


def nan_time(ws):  # JSON Lines may carry NaN (Python's json reads it): not a time
    add_recording(
        ws,
        "nan.jsonl",
        '{"speaker": "Henk", "start": 0, "end": 2, "text": "Een."}\n'
        '{"speaker": "Ria", "start": NaN, "end": 3, "text": "Twee."}\n',
    )
    return "nan.jsonl", 2


def negative_time(ws):
    add_recording(
        ws,
        "negatief.jsonl",
        jsonl_text([{"speaker": "Henk", "start": -1.5, "end": 2, "text": "Een."}]),
    )
    return "negatief.jsonl", 1


def empty_srt_cue(ws):
    text, timing = srt_text([(0, 2, "Henk: Een."), (2, 4, "Ria:"), (4, 6, "Henk: Drie.")])
    add_recording(ws, "leeg.srt", text)
    return "leeg.srt", timing[1]


def empty_jsonl_text(ws):
    add_recording(
        ws,
        "leeg.jsonl",
        jsonl_text(
            [
                {"speaker": "Henk", "text": "Een."},
                {"speaker": "Ria", "text": "Twee."},
                {"speaker": "Henk", "text": ""},
            ]
        ),
    )
    return "leeg.jsonl", 3


def end_before_start(ws):
    text, timing = srt_text([(0, 2, "Henk: Een."), (9, 7.5, "Ria: Twee.")])
    add_recording(ws, "omgekeerd.srt", text)
    return "omgekeerd.srt", timing[1]


def unknown_group(ws):
    add_recording(ws, "typo.txt", GOOD_TXT, group="burger")
    return "recordings.csv", manifest_lines(ws)


def unknown_extension(ws):
    add_recording(ws, "notities.rtf", "Henk: Een.\n")
    return "notities.rtf", None


def changed_after_registration(ws):
    digest = hashlib.sha256(GOOD_TXT.encode("utf-8")).hexdigest()
    path = add_recording(ws, "later.txt", GOOD_TXT, sha256=digest)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("[00:00:09] Henk: Nog iets.\n")
    return "later.txt", None


def invalid_json_line(ws):
    add_recording(
        ws,
        "kapot.jsonl",
        jsonl_text(
            [
                {"speaker": "Henk", "text": "Een."},
                "",
                {"speaker": "Ria", "text": "Twee."},
                '{"speaker": "Henk", "text": "Drie."',
            ]
        ),
    )
    return "kapot.jsonl", 4


BAD_CASES: dict[str, BadCase] = {
    "encoding": bad_encoding,
    "no-speakers": no_speakers,
    "decreasing": decreasing_times,
    "nan-time": nan_time,
    "negative-time": negative_time,
    "empty-srt": empty_srt_cue,
    "empty-jsonl": empty_jsonl_text,
    "end-before-start": end_before_start,
    "unknown-group": unknown_group,
    "unknown-extension": unknown_extension,
    "sha256": changed_after_registration,
    "invalid-json": invalid_json_line,
}


def import_files(ws: Workspace) -> dict[str, bytes]:
    folder = ws.imported_segments.parent
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*"))} if folder.exists() else {}


@pytest.mark.parametrize("after_good_import", [False, True], ids=["fresh", "after-import"])
@pytest.mark.parametrize("case", list(BAD_CASES), ids=list(BAD_CASES))
def test_bad_input_names_file_and_line_and_writes_nothing(tmp_path, case, after_good_import):
    ws = new_ws(tmp_path)
    add_recording(ws, "goed.txt", GOOD_TXT)  # a good recording first: no half-written output
    if after_good_import:
        run_import(ws)
        assert ws.imported_segments.exists() and ws.imported_words.exists()
    before = import_files(ws)
    name, line = BAD_CASES[case](ws)
    manifest_before = ws.manifest.read_bytes()

    with pytest.raises(CdaError) as caught:
        run_import(ws)

    message = caught.value.message
    assert name in message
    if line is not None:
        assert f"{name}:{line}:" in message
    assert caught.value.hint
    assert import_files(ws) == before  # absent, or byte-identical (and no temp files left)
    assert ws.manifest.read_bytes() == manifest_before


def test_overlapping_speech_is_accepted_and_measured(tmp_path):
    # Cross-talk of 0.1 s, and a short "Ja." inside a long turn.
    cues = [
        (0, 5, "Henk: Een."),
        (4.9, 12, "Ria: Twee."),
        (8, 9, "Henk: Ja."),
        (10, 14, "Jo: Nou."),
    ]
    text, _ = srt_text(cues)
    segs, _, _ = import_one(tmp_path, "kruis.srt", text)
    assert list(segs["start"]) == [0, 4.9, 8, 10]
    # By hand (latest = greatest earlier end): first 0; 4.9-12 against 5: 5 - 4.9 = 0.1;
    # 8-9 against 12: all of it, 1.0; 10-14 against 12 (not the 9 of the turn before): 2.0.
    assert list(segs["overlap"]) == [0.0, 0.1, 1.0, 2.0]


def test_shared_conversation_turns_overlap_as_measured_by_hand(tmp_path):
    """The speaker turns of the real two-speaker conversation (sample.rttm) as a transcript."""
    rttm = SHARED_CONVERSATION / "sample.rttm"
    if not rttm.is_file():
        pytest.skip(f"shared conversation not found at {rttm}")
    turns = []
    for n, line in enumerate(rttm.read_text(encoding="utf-8").splitlines(), start=1):
        _, _, _, onset, duration, _, _, speaker, *_ = line.split()
        start = float(onset)
        turns.append({"speaker": speaker, "start": start, "end": round(start + float(duration), 3),
                      "text": f"Beurt {n}."})  # fmt: skip
    segs, _, _ = import_one(tmp_path, "gesprek.jsonl", jsonl_text(turns))
    # By hand from the RTTM (start, end; latest earlier end):
    #  1 6.69-7.12 first 0 | 2 7.55-8.35 vs 7.12: 0 | 3 8.32-10.02 vs 8.35: 0.03
    #  4 9.92-11.03 vs 10.02: 0.10 | 5 10.57-14.70 vs 11.03: 0.46 | 6 14.49-17.92 vs 14.70: 0.21
    #  7 18.05-21.49 vs 17.92: 0 | 8 18.15-18.59 vs 21.49: all 0.44 s of it
    #  9 21.78-28.50 vs 21.49 (turn 7, not turn 8's 18.59): 0 | 10 27.85-30.00 vs 28.50: 0.65
    assert list(segs["overlap"]) == [0, 0, 0.03, 0.1, 0.46, 0.21, 0, 0.44, 0, 0.65]
    assert (segs["overlap"] > 0).sum() == 6
    assert round(segs["overlap"].sum(), 3) == 1.89


def test_untimed_transcript_has_no_overlap(tmp_path):
    segs, _, _ = import_one(tmp_path, "notulen.txt", "Henk: Een.\nRia: Twee.\n")
    assert segs["overlap"].isna().all()


def test_max_overlap_is_opt_in_strictness_from_config(tmp_path):
    ws = new_ws(tmp_path)
    text, timing = srt_text([(0, 5, "Henk: Een."), (4.5, 8, "Ria: Twee.")])
    add_recording(ws, "overlap.srt", text)
    run_import(ws)  # default: any overlap is accepted
    assert list(segments_of(ws)["overlap"]) == [0.0, 0.5]
    with ws.config_file.open("a", encoding="utf-8") as handle:
        handle.write("import:\n  max_overlap: 0.2\n")
    refused = rf"overlap\.srt:{timing[1]}: overlaps earlier turns by 0\.500s"
    with pytest.raises(CdaError, match=refused):
        run_import(ws)
    ws.config_file.write_text(
        ws.config_file.read_text(encoding="utf-8").replace("0.2", "0.5"), encoding="utf-8"
    )
    run_import(ws)  # 0.5 s is not more than 0.5 s
    assert list(segments_of(ws)["start"]) == [0, 4.5]


def test_parse_transcript_reports_line_directly(tmp_path):
    text, timing = srt_text([(0, 2, "Henk: Een."), (1, 3, "Ria: Twee.")])
    path = tmp_path / "los.srt"
    path.write_text(text, encoding="utf-8")
    assert len(parse_transcript(path)) == 2
    with pytest.raises(CdaError, match=rf"los\.srt:{timing[1]}: overlaps"):
        parse_transcript(path, max_overlap=0.5)
    assert len(parse_transcript(path, max_overlap=1.0)) == 2


# 3. CLI -----------------------------------------------------------------------------------------


def test_cli_import_table_says_what_its_counts_count(tmp_path):
    ws = new_ws(tmp_path)
    source = tmp_path / "notulen.txt"
    source.write_text("Henk: Een twee drie.\nRia: Vier, vijf.\n", encoding="utf-8")
    args = ["import", "-w", str(ws.root), str(source), "--group", "burgers"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "notulen" in line)
    # segments, speakers, words of the text (3 + 2), timed words (none in plain text), seconds
    assert [cell.strip() for cell in row.split("│")[3:8]] == ["2", "2", "5", "0", "-"]
    assert "timed" in result.output and "words: in the text" in result.output


def test_cli_registers_and_imports(tmp_path):
    ws = new_ws(tmp_path)
    text, _ = srt_text([(0, 2, "Ellen Vos: Een."), (2, 4, "Karim Benali: Twee.")])
    source = tmp_path / "sessie.srt"
    source.write_text(text, encoding="utf-8")

    result = CliRunner().invoke(
        app, ["import", "-w", str(ws.root), str(source), "--group", "deskundigen"]
    )

    assert result.exit_code == 0, result.output
    assert (ws.raw / "sessie.srt").read_bytes() == source.read_bytes()
    with ws.manifest.open(encoding="utf-8") as handle:
        (row,) = list(csv.DictReader(handle))
    assert (row["recording_id"], row["group"], row["transcript"]) == (
        "sessie",
        "deskundigen",
        "raw/sessie.srt",
    )
    assert row["sha256"] == sha256_file(source)
    segs = segments_of(ws)
    assert list(segs["speaker"]) == ["Ellen Vos", "Karim Benali"]
    assert set(segs["group"]) == {"deskundigen"}


def test_failed_registration_leaves_nothing_behind_and_a_fixed_file_imports(tmp_path):
    ws = new_ws(tmp_path)
    bad, _ = srt_text([(0, 2, "Henk: Een."), (3, 2.5, "Ria: Twee.")])  # ends before it starts
    source = tmp_path / "sessie.srt"
    source.write_text(bad, encoding="utf-8")
    args = ["import", "-w", str(ws.root), str(source), "--group", "burgers"]

    failed = CliRunner().invoke(app, args)

    assert failed.exit_code != 0
    assert not (ws.raw / "sessie.srt").exists()
    assert not ws.manifest.exists() or "sessie" not in ws.manifest.read_text(encoding="utf-8")
    good, _ = srt_text([(0, 2, "Henk: Een."), (2, 3, "Ria: Twee.")])
    source.write_text(good, encoding="utf-8")
    fixed = CliRunner().invoke(app, args)
    assert fixed.exit_code == 0, fixed.output
    assert list(segments_of(ws)["speaker"]) == ["Henk", "Ria"]
    unknown_group = CliRunner().invoke(app, [*args[:-1], "ouders"])
    assert unknown_group.exit_code != 0
    assert "ouders" not in ws.manifest.read_text(encoding="utf-8")


def test_cli_error_is_one_line_exit_2_without_traceback(tmp_path):
    ws = new_ws(tmp_path)
    text, timing = srt_text(
        [(10, 11, "Henk: Een."), (12, 13, "Ria: Twee."), (11, 14, "Henk: Drie.")]
    )
    bad = tmp_path / "kapot.srt"
    bad.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "COLUMNS")}
    env["NO_COLOR"] = "1"

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "import",
            "-w",
            str(ws.root),
            str(bad),
            "--group",
            "burgers",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
        check=False,
    )

    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    error_lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(error_lines) == 1, proc.stderr
    assert f"kapot.srt:{timing[2]}:" in error_lines[0]
    assert not ws.imported_segments.exists() and not ws.imported_words.exists()


# 4. --no-speakers -------------------------------------------------------------------------------


def test_no_speakers_flag_imports_as_unknown(tmp_path):
    ws = new_ws(tmp_path)
    lines = [
        "[00:00:01] Goedemorgen allemaal.",
        "[00:00:04] Fijn dat jullie er zijn.",
        "Vandaag gaat het over 2040.",
    ]
    source = tmp_path / "dictafoon.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["import", "-w", str(ws.root), str(source), "--group", "burgers"]
    runner = CliRunner()

    refused = runner.invoke(app, args)
    assert isinstance(refused.exception, CdaError)
    assert "dictafoon.txt:1: no speaker markers" in refused.exception.message
    assert not ws.imported_segments.exists()

    result = runner.invoke(app, [*args, "--no-speakers"])
    assert result.exit_code == 0, result.output
    segs = segments_of(ws)
    assert list(segs["speaker"]) == ["unknown", "unknown"]
    assert list(segs["text"]) == [lines[0][11:], f"{lines[1][11:]} {lines[2]}"]
    assert list(segs["start"]) == [1.0, 4.0]
