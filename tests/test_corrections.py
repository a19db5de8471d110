"""Transcript correction: ``cda ls push|pull --transcripts``, applied by ``cda pseudonymise``."""

from __future__ import annotations

import json
import math
import struct
import subprocess
import sys
import uuid
import wave
from pathlib import Path

import httpx
import pandas as pd
import pytest

from pipeline.cli.init import init_workspace
from pipeline.core.config import load_config
from pipeline.core.errors import CdaError
from pipeline.core.io import read_table, write_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import CORRECTIONS, SEGMENTS, TOKENS, WORDS
from pipeline.labelstudio.transcripts import (
    corrections_from_export,
    pull_transcripts,
    push_transcripts,
)
from pipeline.nlp import run_nlp
from pipeline.pseudonymise import pseudonymise

TEXTS = [
    "Welkom allemaal, fijn dat jullie er zijn.",
    "Ik ben Henk en ik heb zelf een tablet.",
    "De overheid weet alles van je.",
]
LABELS = ["Gespreksleider", "Henk", "Fatima"]


def imported_ws(root: Path, *, audio: str | None = None) -> Workspace:
    """A workspace with one imported 3-segment recording (original labels) and its audio.

    A workspace of a test's own may push without audio only: Label Studio serves local files
    from its own data folder, which is the server's workspace (see the audio test).
    """
    ws = Workspace.at(root)
    if not ws.config_file.is_file():
        init_workspace(ws, study=f"t-{uuid.uuid4().hex[:8]}", groups=["burgers", "deskundigen"])
    if audio is not None:
        with ws.config_file.open("a", encoding="utf-8") as handle:
            handle.write(f"labelstudio: {{audio: {audio}}}\n")
    rows = [
        {
            "recording_id": "burgers-1", "group": "burgers", "segment_id": f"burgers-1-{i:04d}",
            "start": 2.0 * i, "end": 2.0 * i + 1.5, "overlap": 0.0, "speaker": LABELS[i],
            "role": "participant", "text": TEXTS[i], "source": "test",
        }
        for i in range(3)
    ]  # fmt: skip
    write_table(pd.DataFrame(rows), SEGMENTS, ws.imported_segments)
    write_table(WORDS.empty(), WORDS, ws.imported_words)
    ws.names.write_text("name,kind\nHenk,person\nFatima,person\n", encoding="utf-8")
    ws.wav("burgers-1").parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(ws.wav("burgers-1")), "wb") as out:  # 7 s of a 440 Hz tone
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * t / 16000)))
                for t in range(7 * 16000)
            )
        )
    return ws


def test_corrections_replace_text_and_speaker_and_mask_a_typed_name(tmp_path):
    ws = imported_ws(tmp_path / "ws")
    config = load_config(ws)
    pseudonymise(ws, config)
    before = read_table(ws.segments, SEGMENTS)
    pseudonyms = dict(zip(before["segment_id"], before["speaker"], strict=True))
    corrections = pd.DataFrame(
        [
            {
                "recording_id": "burgers-1", "segment_id": "burgers-1-0001",
                # the corrector typed a listed name: it must not reach the interim table
                "text": "Ik heb zelf een tablet, Fatima ook.",
                "speaker": pseudonyms["burgers-1-0001"],
                "original_text": TEXTS[1], "original_speaker": pseudonyms["burgers-1-0001"],
                "corrector": "a@example.org", "updated_at": "2026-01-01T00:00:00Z",
                "task_id": 1, "annotation_id": 1,
            },
            {
                "recording_id": "burgers-1", "segment_id": "burgers-1-0002", "text": TEXTS[2],
                "speaker": pseudonyms["burgers-1-0001"], "original_text": TEXTS[2],
                "original_speaker": pseudonyms["burgers-1-0002"], "corrector": "a@example.org",
                "updated_at": "2026-01-01T00:00:00Z", "task_id": 2, "annotation_id": 2,
            },
        ]
    ).reindex(columns=CORRECTIONS.names)  # fmt: skip
    write_table(corrections, CORRECTIONS, ws.corrections)
    imported = ws.imported_segments.read_bytes()
    result = pseudonymise(ws, config)
    assert result.corrected == ("burgers-1-0001", "burgers-1-0002")
    # row 1 says it was shown "Ik ben Henk ...", but the pseudonymised text has a placeholder
    # for Henk: not what a corrector saw, so it is flagged; row 2's text is the one shown
    assert result.stale_corrections == ("burgers-1-0001",)
    cda = str(Path(sys.executable).with_name("cda"))
    done = subprocess.run(
        [cda, "pseudonymise", "-w", str(ws.root)], capture_output=True, text=True, check=True
    )
    shown = done.stdout + done.stderr
    assert "2 segment(s) corrected from" in shown and "corrections.parquet" in shown
    assert "warning: 1 corrected segment(s) now have another transcript text" in shown
    assert "check it: burgers-1-0001" in shown
    after = read_table(ws.segments, SEGMENTS)
    assert after["segment_id"].tolist() == before["segment_id"].tolist()  # ids stay
    assert after[["start", "end"]].equals(before[["start", "end"]])
    text = after.set_index("segment_id")["text"]
    assert "Fatima" not in text["burgers-1-0001"]
    assert text["burgers-1-0001"].startswith("Ik heb zelf een tablet, ")
    assert text["burgers-1-0001"] != "Ik heb zelf een tablet, Fatima ook."
    # segment 2 now spoken by segment 1's speaker (Henk's pseudonym), text unchanged
    speaker = after.set_index("segment_id")["speaker"]
    assert speaker["burgers-1-0002"] == pseudonyms["burgers-1-0001"]
    assert text["burgers-1-0002"] == TEXTS[2]
    assert text["burgers-1-0000"] == TEXTS[0]
    assert ws.imported_segments.read_bytes() == imported  # the original transcript is kept


def test_a_correction_naming_no_pseudonym_of_the_recording_is_refused_before_writing(tmp_path):
    ws = imported_ws(tmp_path / "ws")
    config = load_config(ws)
    pseudonymise(ws, config)
    written = ws.segments.read_bytes()
    bad = pd.DataFrame(
        [
            {
                "recording_id": "burgers-1", "segment_id": "burgers-1-0001", "text": "x",
                "speaker": "Henk", "original_text": TEXTS[1], "original_speaker": "P01",
                "corrector": "a", "updated_at": None, "task_id": 1, "annotation_id": 1,
            }
        ]
    ).reindex(columns=CORRECTIONS.names)  # fmt: skip
    write_table(bad, CORRECTIONS, ws.corrections)
    with pytest.raises(CdaError, match="row 1: speaker 'Henk' of burgers-1-0001 is not a pseudo"):
        pseudonymise(ws, config)
    assert ws.segments.read_bytes() == written


def _fix(segment: str, text: str, speaker: str, shown_speaker: str, **times) -> dict:
    return {
        "recording_id": "burgers-1", "segment_id": segment, "text": text, "speaker": speaker,
        "original_text": text, "original_speaker": shown_speaker, "corrector": "a@example.org",
        "updated_at": None, "task_id": 1, "annotation_id": 1, **times,
    }  # fmt: skip


def test_corrected_times_replace_the_segments_and_overlap_is_measured_again(tmp_path):
    ws = imported_ws(tmp_path / "ws")
    config = load_config(ws)
    pseudonymise(ws, config)
    before = read_table(ws.segments, SEGMENTS)
    spk = before["speaker"].tolist()
    # turns 0-1.5, 2-3.5, 4-5.5; the corrector moves turn 1 to start at 1.0 (into turn 0)
    moved = _fix("burgers-1-0001", TEXTS[1], spk[1], spk[1], start=1.0, end=3.5,
                 original_start=2.0, original_end=3.5)  # fmt: skip
    write_table(pd.DataFrame([moved]), CORRECTIONS, ws.corrections)
    pseudonymise(ws, config)
    after = read_table(ws.segments, SEGMENTS)
    assert after["start"].tolist() == [0.0, 1.0, 4.0]
    assert after["end"].tolist() == [1.5, 3.5, 5.5]
    # by hand, the import's rule: turn 1 starts at 1.0 while turn 0 runs to 1.5: 0.5 s over
    # it; turn 2 starts at 4.0 after everything ended (3.5): 0
    assert after["overlap"].tolist() == [0.0, 0.5, 0.0]
    assert after["text"].tolist() == before["text"].tolist()

    # a start before the previous turn's start would reorder the turns: refused, unwritten
    written = ws.segments.read_bytes()
    ahead = _fix("burgers-1-0002", TEXTS[2], spk[2], spk[2], start=0.5, end=5.5,
                 original_start=4.0, original_end=5.5)  # fmt: skip
    write_table(pd.DataFrame([moved, ahead]), CORRECTIONS, ws.corrections)
    with pytest.raises(CdaError, match=r"burgers-1-0002 would start at 0\.500s, before "
                       r"burgers-1-0001 \(1\.000s\)"):  # fmt: skip
        pseudonymise(ws, config)
    assert ws.segments.read_bytes() == written


def test_a_machine_segment_corrected_in_speaker_or_time_has_overlap_unknown(tmp_path):
    ws = imported_ws(tmp_path / "ws")
    rows = read_table(ws.imported_segments, SEGMENTS)
    # as measured on a diariser's turns (tests/test_timing.py): not derivable from the times
    rows = rows.assign(source="transcribe:whisperx", overlap=[0.0, 0.4, 0.3])
    write_table(rows, SEGMENTS, ws.imported_segments)
    config = load_config(ws)
    pseudonymise(ws, config)
    spk = read_table(ws.segments, SEGMENTS)["speaker"].tolist()
    fixes = [
        _fix("burgers-1-0000", "Welkom allemaal.", spk[0], spk[0]),  # text only: kept
        _fix("burgers-1-0001", TEXTS[1], spk[2], spk[1]),  # speaker: the diariser was wrong
        _fix("burgers-1-0002", TEXTS[2], spk[2], spk[2], start=4.2, end=5.5,
             original_start=4.0, original_end=5.5),  # times: likewise
    ]  # fmt: skip
    write_table(pd.DataFrame(fixes), CORRECTIONS, ws.corrections)
    pseudonymise(ws, config)
    after = read_table(ws.segments, SEGMENTS)
    assert [None if pd.isna(v) else v for v in after["overlap"]] == [0.0, None, None]
    assert after["start"].tolist() == [0.0, 2.0, 4.2]


def test_words_follow_the_corrections_and_the_machines_stay_in_the_import(tmp_path):
    ws = imported_ws(tmp_path / "ws")
    words = pd.DataFrame(
        [
            {"segment_id": f"burgers-1-{i:04d}", "word_index": j, "word": w,
             "start": 2.0 * i + 0.5 * j, "end": 2.0 * i + 0.5 * j + 0.4, "overlap": False,
             "score": 0.9, "speaker": LABELS[i]}
            for i in range(3) for j, w in enumerate(TEXTS[i].split()[:2])
        ]
    )  # fmt: skip
    write_table(words, WORDS, ws.imported_words)
    config = load_config(ws)
    pseudonymise(ws, config)
    spk = read_table(ws.segments, SEGMENTS)["speaker"].tolist()
    fixes = [
        _fix("burgers-1-0000", "Welkom allemaal.", spk[0], spk[0]),  # retyped
        _fix("burgers-1-0002", TEXTS[2], spk[1], spk[2]),  # only the speaker changed
    ]
    fixes[0]["original_text"] = TEXTS[0]
    write_table(pd.DataFrame(fixes).reindex(columns=CORRECTIONS.names), CORRECTIONS,
                ws.corrections)  # fmt: skip
    imported = ws.imported_words.read_bytes()
    pseudonymise(ws, config)
    after = read_table(ws.words, WORDS)
    # by hand: segment 0's words were the machine's "Welkom allemaal," and no longer its text:
    # gone; segment 1 untouched; segment 2's words are now spoken by the corrected speaker
    assert after["segment_id"].tolist() == ["burgers-1-0001"] * 2 + ["burgers-1-0002"] * 2
    assert after["speaker"].tolist() == [spk[1]] * 4
    assert ws.imported_words.read_bytes() == imported


def test_times_come_back_from_the_annotation_only_when_changed():
    data = {"segment_id": "r-0001", "recording_id": "r", "text": "a", "speaker": "P01",
            "start": 2.0, "end": 3.5}  # fmt: skip

    def task(tid: int, **numbers) -> dict:
        result = [
            {"from_name": "transcript", "value": {"text": ["a"]}},
            {"from_name": "speaker", "value": {"choices": ["P01"]}},
            *({"from_name": k, "value": {"number": v}} for k, v in numbers.items()),
        ]
        return {"id": tid, "data": {**data, "segment_id": f"r-{tid:04d}"},
                "annotations": [{"id": tid, "result": result, "completed_by": 1}]}  # fmt: skip

    table = corrections_from_export(
        [
            task(1, start=2.0, end=3.5),  # as shown: no correction
            task(2, start=2.0004, end=3.5),  # within half a millisecond: the same time
            task(3, start=1.25, end=3.5),  # the start moved
            task(4, end=4.0),  # the start left empty keeps the one shown
            task(5),  # no numbers at all (a project pushed before times were correctable)
        ],
        {1: "a@example.org"},
        where="p",
    )
    assert table["segment_id"].tolist() == ["r-0003", "r-0004"]
    assert table["start"].tolist() == [1.25, 2.0] and table["end"].tolist() == [3.5, 4.0]
    assert table["original_start"].tolist() == [2.0, 2.0]
    assert table["original_end"].tolist() == [3.5, 3.5]
    with pytest.raises(CdaError, match=r"task 6 \(r-0006\): end 1\.000s is before start 2"):
        corrections_from_export([task(6, end=1.0)], {}, where="p")


def test_an_annotation_without_text_is_refused_naming_the_task():
    task = {
        "id": 7,
        "data": {"segment_id": "r-0001", "recording_id": "r", "text": "a", "speaker": "P01"},
        "annotations": [{"id": 1, "result": [], "completed_by": 1}],
    }
    with pytest.raises(CdaError, match="task 7 \\(r-0001\\) has an annotation without text"):
        corrections_from_export([task], {}, where="p")


def test_transcript_round_trip_through_label_studio(tmp_path, ls_env):
    ws = imported_ws(tmp_path / "ws", audio="none")
    config = load_config(ws)
    pseudonymise(ws, config)
    run_nlp(ws, config)
    before = read_table(ws.segments, SEGMENTS)
    # pseudonymised before anyone sees it
    assert "Henk" not in before["text"][1] and before["text"][1].startswith("Ik ben ")
    pseudonyms = before["speaker"].tolist()

    (result,) = push_transcripts(ws, config)
    assert (result.created, result.unchanged) == (3, 0)
    again = push_transcripts(ws, config)[0]
    assert (again.created, again.unchanged) == (0, 3)  # safe to repeat
    project = json.loads(ws.transcript_projects.read_text())["burgers-1"]["id"]
    client = ls_env.client
    tasks = {t.data["segment_id"]: t for t in client.tasks.list(project=project)}
    assert sorted(tasks) == before["segment_id"].tolist()
    shown = tasks["burgers-1-0001"].data
    assert shown["text"] == before["text"][1] and shown["speaker"] == pseudonyms[1]
    label_config = client.projects.get(id=project).label_config
    assert all(f'value="{p}"' in label_config for p in pseudonyms)
    # the text box and speaker come prefilled (a prediction of the version the project shows)
    assert client.projects.get(id=project).model_version == "transcript-as-pushed"
    (prefill,) = client.predictions.list(task=tasks["burgers-1-0001"].id)
    assert prefill.model_version == "transcript-as-pushed"
    values = {r["from_name"]: r["value"] for r in prefill.result}
    assert values == {
        "transcript": {"text": [shown["text"]]},
        "speaker": {"choices": [pseudonyms[1]]},
        "start": {"number": 2.0},
        "end": {"number": 3.5},
    }
    assert '<Number name="start" toName="text"' in label_config

    def submit(segment: str, text: str, speaker: str, start: float, end: float) -> None:
        client.annotations.create(
            id=tasks[segment].id,
            result=[
                {"from_name": "transcript", "to_name": "text", "type": "textarea",
                 "value": {"text": [text]}},
                {"from_name": "speaker", "to_name": "text", "type": "choices",
                 "value": {"choices": [speaker]}},
                {"from_name": "start", "to_name": "text", "type": "number",
                 "value": {"number": start}},
                {"from_name": "end", "to_name": "text", "type": "number",
                 "value": {"number": end}},
            ],
        )  # fmt: skip

    submit("burgers-1-0000", before["text"][0], pseudonyms[0], 0.0, 1.5)  # checked, as it was
    submit("burgers-1-0001", "Ik heb zelf een tablet hoor.", pseudonyms[1], 2.0, 3.5)
    submit("burgers-1-0002", before["text"][2], pseudonyms[1], 3.25, 5.5)  # speaker and start
    pulled = pull_transcripts(ws, config)
    assert pulled.written
    table = read_table(ws.corrections, CORRECTIONS)
    assert table["segment_id"].tolist() == ["burgers-1-0001", "burgers-1-0002"]
    assert table["start"].isna().tolist() == [True, False] and table["start"][1] == 3.25
    assert table["text"].tolist() == ["Ik heb zelf een tablet hoor.", before["text"][2]]
    assert table["original_text"].tolist() == before["text"][1:].tolist()
    assert set(table["corrector"]) == {client.users.whoami().email}
    assert not pull_transcripts(ws, config).written  # nothing new: the file is left alone

    imported = ws.imported_segments.read_bytes()
    result = pseudonymise(ws, config)
    assert result.stale_corrections == ()  # the texts shown are still the transcript's
    after = read_table(ws.segments, SEGMENTS)
    # hand check: the same three ids in the same order; one text and one speaker changed
    assert after["segment_id"].tolist() == ["burgers-1-0000", "burgers-1-0001", "burgers-1-0002"]
    assert after["text"].tolist() == [TEXTS[0], "Ik heb zelf een tablet hoor.", TEXTS[2]]
    assert after["speaker"].tolist() == [pseudonyms[0], pseudonyms[1], pseudonyms[1]]
    # turn 2 now starts at 3.25 while turn 1 runs to 3.5: 0.25 s over it, by the import's rule
    assert after["start"].tolist() == [0.0, 2.0, 3.25]
    assert after["overlap"].tolist() == [0.0, 0.0, 0.25]
    assert ws.imported_segments.read_bytes() == imported
    # downstream: nlp reparses only the segment whose text changed and sees its new words
    run = run_nlp(ws, config)
    assert (run.parsed, run.cached) == (1, 2)
    tokens = read_table(ws.tokens, TOKENS)
    words = tokens[tokens["segment_id"] == "burgers-1-0001"]["text"].tolist()
    assert words == ["Ik", "heb", "zelf", "een", "tablet", "hoor", "."]


def test_transcript_tasks_play_the_segments_clip(label_studio, monkeypatch):
    """The server's own workspace (its data/ is the local-files root): each task plays its clip."""
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.api_key)
    ws = imported_ws(label_studio.ws.root)  # audio: clip, the default
    config = load_config(ws)
    pseudonymise(ws, config)
    push_transcripts(ws, config)
    project = json.loads(ws.transcript_projects.read_text())["burgers-1"]["id"]
    task = next(
        t
        for t in label_studio.client.tasks.list(project=project)
        if t.data["segment_id"] == "burgers-1-0001"
    )
    # segment 1 runs from 2.0 s to 3.5 s (imported_ws: start 2 i, end 2 i + 1.5)
    url = task.data["audio"]
    assert url == "/data/local-files/?d=interim/labelstudio/clips/burgers-1-0001_2000-3500.wav"
    served = httpx.get(
        label_studio.url + url, headers={"Authorization": f"Token {label_studio.api_key}"}
    )
    assert served.status_code == 200
    with wave.open(str(ws.clips_dir / "burgers-1-0001_2000-3500.wav")) as clip:
        assert clip.getnframes() == pytest.approx(1.5 * 16000, abs=1)
    assert served.content == (ws.clips_dir / "burgers-1-0001_2000-3500.wav").read_bytes()
    assert '<Audio name="audio"' in label_studio.client.projects.get(id=project).label_config


def test_cli_pull_of_transcripts_before_any_push_is_one_line_and_exit_2(tmp_path):
    ws = imported_ws(tmp_path / "ws", audio="none")
    cda = str(Path(sys.executable).with_name("cda"))
    done = subprocess.run(
        [cda, "ls", "pull", "--transcripts", "-w", str(ws.root)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "error: no transcript projects yet" in done.stderr
    assert "cda ls push --transcripts" in done.stderr and "Traceback" not in done.stderr
    assert not ws.corrections.exists()


def test_correction_summary_counts_per_recording_by_hand():
    from pipeline.core.corrections import correction_summary

    def row(rid, sid, text, shown, speaker, was, who, when):
        return {
            "recording_id": rid, "segment_id": sid, "text": text, "speaker": speaker,
            "original_text": shown, "original_speaker": was, "corrector": who,
            "updated_at": when, "task_id": 1, "annotation_id": 1,
        }  # fmt: skip

    table = pd.DataFrame(
        [
            row(
                "a", "a-0001", "Ja  dat klopt.", "Ja dat klopt.", "P02", "P01", "x@o", "2026-01-02"
            ),
            row("a", "a-0002", "Nee.", "Nou.", "P01", "P01", "y@o", "2026-01-03"),
            row("b", "b-0005", "Goed.", "Goed zo.", "P03", "P04", "x@o", None),
        ]
    ).reindex(columns=CORRECTIONS.names)
    table.loc[1, ["start", "end"]] = [1.0, 2.0]  # a-0002's times were corrected too
    summary = correction_summary(table).set_index("recording_id")
    # a: a-0001 differs only in whitespace (speaker changed), a-0002 text and times changed:
    # 2 segments, 1 text, 1 speaker, 1 times, two correctors; b: one segment, text and speaker
    assert summary.loc["a"].tolist() == [2, 1, 1, 1, "x@o; y@o", "2026-01-03"]
    assert summary.loc["b"].tolist()[:5] == [1, 1, 1, 0, "x@o"]
    assert pd.isna(summary.loc["b", "last_updated"])  # no edit time known: none is made up
    assert correction_summary(table.iloc[:0]).empty


def test_correcting_the_real_debate_changes_only_the_corrected_rows(tmp_path, ls_env):
    """The shared ParlaMint debate, pushed whole: two corrections change two rows, nothing else."""
    from helpers import parlamint_jsonl

    from pipeline.importers import import_transcripts, register

    ws = Workspace.at(tmp_path / "ws")
    init_workspace(ws, study=f"toeslagen-{uuid.uuid4().hex[:8]}", groups=["kamer"])
    with ws.config_file.open("a", encoding="utf-8") as handle:
        handle.write("labelstudio: {audio: none}\n")
    config = load_config(ws)
    register(ws, config, parlamint_jsonl(tmp_path / "debat.jsonl"), recording_id="debat",
             group="kamer")  # fmt: skip
    import_transcripts(ws, config)
    pseudonymise(ws, config)
    run_nlp(ws, config)
    before = read_table(ws.segments, SEGMENTS)
    assert len(before) > 50
    (pushed,) = push_transcripts(ws, config)
    assert pushed.created == len(before)
    project = json.loads(ws.transcript_projects.read_text())["debat"]["id"]
    client = ls_env.client
    tasks = {t.data["segment_id"]: t for t in client.tasks.list(project=project)}
    first, second = before.iloc[3], before.iloc[len(before) // 2]
    other = next(p for p in sorted(set(before["speaker"])) if p != second.speaker)
    fixed_text = first.text + " (correctie)"
    for row, text, speaker in ((first, fixed_text, first.speaker), (second, second.text, other)):
        client.annotations.create(
            id=tasks[row.segment_id].id,
            result=[
                {"from_name": "transcript", "to_name": "text", "type": "textarea",
                 "value": {"text": [text]}},
                {"from_name": "speaker", "to_name": "text", "type": "choices",
                 "value": {"choices": [speaker]}},
            ],
        )  # fmt: skip
    pull_transcripts(ws, config)
    assert len(read_table(ws.corrections, CORRECTIONS)) == 2
    pseudonymise(ws, config)
    after = read_table(ws.segments, SEGMENTS)
    assert after["segment_id"].tolist() == before["segment_id"].tolist()
    same = (after == before) | (after.isna() & before.isna())  # the debate has no times
    changed = ~same.all(axis=1)
    assert after.loc[changed, "segment_id"].tolist() == sorted([first.segment_id,
                                                                second.segment_id])  # fmt: skip
    assert after.set_index("segment_id").loc[first.segment_id, "text"] == fixed_text
    assert after.set_index("segment_id").loc[second.segment_id, "speaker"] == other
    run = run_nlp(ws, config)
    assert run.parsed == 1 and run.cached == len(before) - 1
