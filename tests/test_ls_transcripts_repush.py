"""A repeated ``cda ls push --transcripts`` trusts its record of the last push instead of
exporting each recording's project, but only while the server agrees (real Label Studio, see
conftest.py; real SDK methods counted as in test_ls_repush.py)."""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
from test_corrections import imported_ws
from test_ls_repush import counting

from pipeline.core.config import load_config
from pipeline.core.io import read_table, write_table
from pipeline.core.schemas import SEGMENTS
from pipeline.labelstudio.transcripts import push_records, push_transcripts
from pipeline.pseudonymise import pseudonymise


def pushed_ws(root):
    ws = imported_ws(root, audio="none")
    config = load_config(ws)
    pseudonymise(ws, config)
    return ws, config


def project_of(ws) -> int:
    return json.loads(ws.transcript_projects.read_text())["burgers-1"]["id"]


def server_tasks(server, pid: int) -> list:
    return list(server.client.tasks.list(project=pid))


def test_a_transcript_push_with_nothing_new_exports_nothing(tmp_path, ls_env, monkeypatch):
    ws, config = pushed_ws(tmp_path / "ws")
    with counting(monkeypatch) as calls:
        (first,) = push_transcripts(ws, config)
    assert calls == Counter({"import": 1})  # a project made now is empty: nothing to export
    assert (first.created, first.unchanged) == (3, 0)
    record = push_records(ws).path
    entry = json.loads(record.read_text())["burgers-1"]
    assert (entry["tasks"], entry["predictions"]) == (3, 3)  # one prefill per segment
    assert sorted(entry["segments"]) == ["burgers-1-0000", "burgers-1-0001", "burgers-1-0002"]
    # a corrector submits a correction between pushes: that changes a task, not the push
    pid = project_of(ws)
    task = next(t for t in server_tasks(ls_env, pid) if t.data["segment_id"] == "burgers-1-0001")
    ls_env.client.annotations.create(
        id=task.id,
        result=[{"from_name": "transcript", "to_name": "text", "type": "textarea",
                 "value": {"text": ["Ik heb een tablet."]}},
                {"from_name": "speaker", "to_name": "text", "type": "choices",
                 "value": {"choices": [task.data["speaker"]]}}],
    )  # fmt: skip
    written = record.stat().st_mtime_ns

    with counting(monkeypatch) as calls:
        (quick,) = push_transcripts(ws, config)
    assert calls == Counter()  # no export, no import
    assert record.stat().st_mtime_ns == written
    assert (quick.created, quick.unchanged) == (0, 3)

    record.unlink()  # without the record: the full export, and the same answer
    with counting(monkeypatch) as calls:
        (full,) = push_transcripts(ws, config)
    assert calls == Counter({"export": 1})
    assert full == quick
    assert json.loads(record.read_text())["burgers-1"]["segments"] == entry["segments"]
    ids = [t.data["segment_id"] for t in server_tasks(ls_env, pid)]
    assert sorted(ids) == ["burgers-1-0000", "burgers-1-0001", "burgers-1-0002"]


def test_a_deleted_task_or_a_new_segment_is_pushed_and_the_record_follows(
    tmp_path, ls_env, monkeypatch, caplog
):
    caplog.set_level("INFO", logger="pipeline")
    ws, config = pushed_ws(tmp_path / "ws")
    push_transcripts(ws, config)
    pid = project_of(ws)
    gone = next(t for t in server_tasks(ls_env, pid) if t.data["segment_id"] == "burgers-1-0002")
    ls_env.client.tasks.delete(id=str(gone.id))

    with counting(monkeypatch) as calls:
        (result,) = push_transcripts(ws, config)
    assert calls == Counter({"export": 1, "import": 1})  # the count disagreed with the record
    assert (result.created, result.unchanged) == (1, 2)

    # a task imported by hand keeps the count a deleted one lowered: its time gives it away
    tasks = {t.data["segment_id"]: t for t in server_tasks(ls_env, pid)}
    ls_env.client.tasks.delete(id=str(tasks["burgers-1-0000"].id))
    ls_env.client.projects.import_tasks(id=pid, request=[{"data": tasks["burgers-1-0001"].data}])
    caplog.clear()
    with counting(monkeypatch) as calls:
        (result,) = push_transcripts(ws, config)
    assert calls == Counter({"export": 1, "import": 1})
    assert "changed since the last push" in caplog.text
    assert (result.created, result.unchanged) == (1, 2)

    segments = read_table(ws.segments, SEGMENTS)
    extra = segments.iloc[[2]].assign(segment_id="burgers-1-0003", start=8.0, end=9.0)
    write_table(pd.concat([segments, extra], ignore_index=True), SEGMENTS, ws.segments)
    with counting(monkeypatch) as calls:
        (result,) = push_transcripts(ws, config)
    assert calls == Counter({"import": 1})  # the new segment, without an export
    assert (result.created, result.unchanged) == (1, 3)
    entry = json.loads(push_records(ws).path.read_text())["burgers-1"]
    assert entry["tasks"] == 5 and "burgers-1-0003" in entry["segments"]  # with the copy
    with counting(monkeypatch) as calls:
        (result,) = push_transcripts(ws, config)
    assert calls == Counter() and (result.created, result.unchanged) == (0, 4)
    ids = [t.data["segment_id"] for t in server_tasks(ls_env, pid)]
    # the hand-made copy of 0001 is not ours to delete
    assert sorted(ids) == ["burgers-1-0000", "burgers-1-0001", "burgers-1-0001",
                           "burgers-1-0002", "burgers-1-0003"]  # fmt: skip


def test_a_damaged_or_foreign_transcript_record_means_a_full_push(tmp_path, ls_env, monkeypatch):
    ws, config = pushed_ws(tmp_path / "ws")
    push_transcripts(ws, config)
    record = push_records(ws).path
    good = json.loads(record.read_text())
    elsewhere = {**good["burgers-1"], "project_id": good["burgers-1"]["project_id"] + 999}
    for damaged in ("{not json", json.dumps({"burgers-1": {"tasks": "many"}}),
                    json.dumps({"burgers-1": elsewhere})):  # fmt: skip
        record.write_text(damaged)
        with counting(monkeypatch) as calls:
            (result,) = push_transcripts(ws, config)
        assert calls == Counter({"export": 1})
        assert (result.created, result.unchanged) == (0, 3)
        assert json.loads(record.read_text()) == good  # rewritten from the export
