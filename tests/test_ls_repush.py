"""A repeated ``cda ls push`` trusts its record of the last push instead of exporting the project,
but only while the server agrees (real Label Studio, see conftest.py). What is counted below are
calls of the real SDK methods, wrapped: an export snapshot, the prediction listing, imports and
task updates.
"""

from __future__ import annotations

import json
from collections import Counter
from contextlib import contextmanager

import pandas as pd
from label_studio_sdk.predictions.client import PredictionsClient
from label_studio_sdk.projects.client import ProjectsClient
from label_studio_sdk.projects.exports.client import ExportsClient
from label_studio_sdk.tasks.client import TasksClient
from test_ls import (
    annotate,
    coded_segments,
    make_ws,
    project_id,
    project_tasks,
    with_suggestions,
)

from pipeline import labelstudio as ls
from pipeline.codebook import load_round
from pipeline.codings.order import RoundProjects
from pipeline.core.config import load_config
from pipeline.core.io import read_table, write_table
from pipeline.core.schemas import SEGMENTS
from pipeline.labelstudio import pushed

WATCHED = {
    "export": (ExportsClient, "create"),
    "list predictions": (PredictionsClient, "list"),
    "import": (ProjectsClient, "import_tasks"),
    "update": (TasksClient, "update"),
}


@contextmanager
def counting(monkeypatch):
    """Counts calls of the watched SDK methods (each still does its real request)."""
    calls: Counter = Counter()
    with monkeypatch.context() as patch:
        for name, (cls, method) in WATCHED.items():
            real = getattr(cls, method)

            def wrapper(self, *args, _real=real, _name=name, **kwargs):
                calls[_name] += 1
                return _real(self, *args, **kwargs)

            patch.setattr(cls, method, wrapper)
        yield calls


def summary(results) -> list[tuple]:
    """What `cda ls push` prints per coder: its table row and its order line."""
    return [
        (r.coder, r.project_id, r.created, r.updated, r.unchanged, len(r.kept_coded),
         r.predictions, r.order_line())
        for r in results
    ]  # fmt: skip


def record_path(ws):
    return pushed.Records.of_round(RoundProjects(ws, 1)).path


def segment_task(server, pid: int, segment: str) -> dict:
    return next(t for t in project_tasks(server, pid) if t["data"]["segment_id"] == segment)


def test_a_push_with_nothing_new_exports_nothing_and_reports_what_a_full_push_reports(
    tmp_path, ls_env, monkeypatch
):
    ws = make_ws(tmp_path / "ws", n=24)  # 20 participant turns: the tasks
    config = load_config(ws)
    with_suggestions(ws, coded_segments(ws))
    first = ls.push(ws, config, 1)
    assert [(r.created, r.predictions) for r in first] == [(20, 20), (20, 20)]
    # coders code between pushes: that changes tasks on the server, not what a push does
    annotate(ls_env, project_id(ws, "A"), {"burgers-1-0001": ["china-dystopie"]})
    annotate(ls_env, project_id(ws, "B"), {"burgers-1-0002": ["<skip>"]})
    written = record_path(ws).stat().st_mtime_ns

    with counting(monkeypatch) as calls:
        quick = ls.push(ws, config, 1)

    assert calls == Counter()  # no export, no prediction listing, no import, no update
    assert record_path(ws).stat().st_mtime_ns == written  # nothing new: the record is kept
    record_path(ws).unlink()  # without the record, the same push reads both projects in full
    with counting(monkeypatch) as calls:
        full = ls.push(ws, config, 1)
    assert calls["export"] == 2 and calls["list predictions"] == 2
    assert summary(quick) == summary(full)
    assert [(r.created, r.updated, r.unchanged, r.kept_coded, r.predictions) for r in quick] == [
        (0, 0, 20, [], 0),
        (0, 0, 20, [], 0),
    ]
    for coder in ("A", "B"):
        tasks = project_tasks(ls_env, project_id(ws, coder))
        assert sorted(t["data"]["segment_id"] for t in tasks) == sorted(coded_segments(ws))
        assert all(t["total_predictions"] == 1 for t in tasks)
    coded = segment_task(ls_env, project_id(ws, "A"), "burgers-1-0001")
    assert coded["annotations"][0]["result"][0]["value"] == {"taxonomy": [["china-dystopie"]]}


def test_a_task_deleted_or_swapped_on_the_server_is_noticed_and_pushed_again(
    tmp_path, ls_env, monkeypatch, caplog
):
    caplog.set_level("INFO", logger="pipeline")
    ws = make_ws(tmp_path / "ws", n=12, coders=("A",))
    config = load_config(ws)
    ls.push(ws, config, 1)
    pid = project_id(ws, "A")
    ls_env.client.tasks.delete(id=str(segment_task(ls_env, pid, "burgers-1-0001")["id"]))

    with counting(monkeypatch) as calls:
        (result,) = ls.push(ws, config, 1)
    assert calls["export"] == 1  # the count disagreed with the record
    assert (result.created, result.unchanged) == (1, 9)

    # a task deleted and another imported by hand: the count is what the record says
    ls_env.client.tasks.delete(id=str(segment_task(ls_env, pid, "burgers-1-0002")["id"]))
    copy = segment_task(ls_env, pid, "burgers-1-0003")["data"]
    ls_env.client.projects.import_tasks(id=pid, request=[{"data": copy}])
    assert len(project_tasks(ls_env, pid)) == 10
    with counting(monkeypatch) as calls:
        (result,) = ls.push(ws, config, 1)
    assert calls["export"] == 1  # the imported task is newer than the record
    assert "changed since the last push" in caplog.text
    assert (result.created, result.unchanged) == (1, 9)
    segments = [t["data"]["segment_id"] for t in project_tasks(ls_env, pid)]
    assert sorted(set(segments)) == sorted(coded_segments(ws))
    assert segments.count("burgers-1-0003") == 2  # the hand-made copy is not ours to delete

    with counting(monkeypatch) as calls:
        (result,) = ls.push(ws, config, 1)
    assert calls == Counter() and (result.created, result.unchanged) == (0, 10)


def test_a_task_edited_or_a_prediction_deleted_on_the_server_is_noticed_and_restored(
    tmp_path, ls_env, monkeypatch, caplog
):
    caplog.set_level("INFO", logger="pipeline")
    ws = make_ws(tmp_path / "ws", n=12, coders=("A",))
    config = load_config(ws)
    with_suggestions(ws, coded_segments(ws))
    ls.push(ws, config, 1)
    pid = project_id(ws, "A")
    # someone edits a task's data through the API (nothing changed in the pipeline)
    task = segment_task(ls_env, pid, "burgers-1-0005")
    ls_env.client.tasks.update(id=str(task["id"]), data={**task["data"], "text": "Met de hand."})
    with counting(monkeypatch) as calls:
        (result,) = ls.push(ws, config, 1)
    assert calls["export"] == 1  # the task changed after the record, and holds other data
    assert "changed since the last push" in caplog.text
    assert (result.updated, result.unchanged, result.predictions) == (1, 9, 0)
    assert segment_task(ls_env, pid, "burgers-1-0005")["data"]["text"].startswith("Segment 5:")

    # a prediction deleted in the data manager: the project's count is one short
    task_id = segment_task(ls_env, pid, "deskundigen-1-0007")["id"]
    ls_env.client.predictions.delete(id=ls_env.client.predictions.list(task=task_id)[0].id)
    with counting(monkeypatch) as calls:
        (result,) = ls.push(ws, config, 1)
    assert calls["export"] == 1
    assert (result.updated, result.unchanged, result.predictions) == (0, 10, 1)
    assert all(t["total_predictions"] == 1 for t in project_tasks(ls_env, pid))


def test_a_changed_segment_is_read_in_full_and_a_coded_task_is_kept_as_coded(
    tmp_path, ls_env, monkeypatch
):
    ws = make_ws(tmp_path / "ws", n=12, coders=("A",))
    config = load_config(ws)
    ls.push(ws, config, 1)
    pid = project_id(ws, "A")
    annotate(ls_env, pid, {"burgers-1-0001": ["china-dystopie"]})
    segments = read_table(ws.segments, SEGMENTS)
    edited = segments["segment_id"].isin(["burgers-1-0001", "burgers-1-0002"])
    segments.loc[edited, "text"] = "Gecorrigeerde transcriptie."
    write_table(segments, SEGMENTS, ws.segments)

    for _ in range(2):  # the coded task keeps its old text, so every push reads the project
        with counting(monkeypatch) as calls:
            (result,) = ls.push(ws, config, 1)
        assert calls["export"] == 1
        assert result.kept_coded == ["burgers-1-0001"]
    # the first push updated 0002 and, through their context lines (2 turns before and
    # after), 0003 and 0004; 0005's context is 0003-0004, unchanged. The second push: none.
    assert (result.updated, result.unchanged) == (0, 9)
    assert segment_task(ls_env, pid, "burgers-1-0002")["data"]["text"] == (
        "Gecorrigeerde transcriptie."
    )
    assert segment_task(ls_env, pid, "burgers-1-0004")["data"]["before"].endswith(
        "P04: Segment 3: in China weten ze alles van je, zegt spreker 3."
    )
    coded = segment_task(ls_env, pid, "burgers-1-0001")
    assert coded["data"]["text"].startswith("Segment 1:")
    assert coded["annotations"][0]["result"][0]["value"] == {"taxonomy": [["china-dystopie"]]}


def test_new_segments_are_imported_without_an_export_and_the_record_follows(
    tmp_path, ls_env, monkeypatch
):
    ws = make_ws(tmp_path / "ws", n=12, coders=("A",))
    config = load_config(ws)
    ls.push(ws, config, 1)
    segments = read_table(ws.segments, SEGMENTS)
    extra = segments.iloc[[1]].assign(segment_id="deskundigen-1-0099", recording_id="zz-9",
                                      start=500.0, end=505.0)  # fmt: skip
    write_table(pd.concat([segments, extra]), SEGMENTS, ws.segments)

    with counting(monkeypatch) as calls:
        (result,) = ls.push(ws, config, 1)
    assert calls == Counter({"import": 1})
    assert (result.created, result.unchanged) == (1, 10)
    entry = json.loads(record_path(ws).read_text())["A"]
    assert entry["tasks"] == 11 and "deskundigen-1-0099" in entry["segments"]
    with counting(monkeypatch) as calls:
        (result,) = ls.push(ws, config, 1)
    assert calls == Counter() and (result.created, result.unchanged) == (0, 11)
    ids = [t["data"]["segment_id"] for t in project_tasks(ls_env, project_id(ws, "A"))]
    assert len(ids) == len(set(ids)) == 11


def test_a_damaged_or_foreign_record_means_a_full_push_not_an_error(tmp_path, ls_env, monkeypatch):
    ws = make_ws(tmp_path / "ws", n=12, coders=("A",))
    config = load_config(ws)
    ls.push(ws, config, 1)
    good = json.loads(record_path(ws).read_text())
    elsewhere = {**good["A"], "project_id": good["A"]["project_id"] + 999}  # another project
    for damaged in (
        "{not json",
        json.dumps({"A": {"tasks": "many"}}),
        json.dumps({"A": elsewhere}),
    ):
        record_path(ws).write_text(damaged)
        with counting(monkeypatch) as calls:
            (result,) = ls.push(ws, config, 1)
        assert calls["export"] == 1 and (result.created, result.unchanged) == (0, 10)
        assert json.loads(record_path(ws).read_text()) == good  # rewritten from the export


def test_a_server_that_refuses_the_filtered_listing_gets_a_full_push(tmp_path, ls_env, monkeypatch):
    """Another Label Studio version might not filter tasks by update time: then the export."""
    from label_studio_sdk.core.api_error import ApiError

    ws = make_ws(tmp_path / "ws", n=12, coders=("A",))
    config = load_config(ws)
    ls.push(ws, config, 1)
    real = TasksClient.list

    def refusing(self, *args, **kwargs):
        if "filter:tasks:updated_at" in (kwargs.get("query") or ""):
            raise ApiError(status_code=400, body={"detail": "unknown filter"})
        return real(self, *args, **kwargs)

    monkeypatch.setattr(TasksClient, "list", refusing)
    with counting(monkeypatch) as calls:
        (result,) = ls.push(ws, config, 1)
    assert calls["export"] == 1 and (result.created, result.unchanged) == (0, 10)


# the record itself (no server) -------------------------------------------------------------------


def test_the_record_hashes_data_whatever_the_key_order_and_keeps_other_coders(tmp_path):
    assert pushed.digest({"a": 1, "b": "x"}) == pushed.digest({"b": "x", "a": 1})
    assert pushed.digest({"a": 1}) != pushed.digest({"a": 2})
    assert pushed.digest({"start": 1.0}) != pushed.digest({"start": None})
    ws = make_ws(tmp_path / "ws", n=2)
    records = pushed.Records.of_round(RoundProjects(ws, 1))
    assert records.get("A") is None
    tasks = {"s1": ("h1", frozenset({"keyword@abc"})), "s2": ("h2", frozenset())}
    a = pushed.Record(3, "http://x", 2, 1, "2026-01-01T00:00:00.000001Z", tasks)
    records.put("A", a)
    records.put("B", pushed.Record(4, "http://x", 0, 0, None, {}))
    assert records.get("A") == a and records.get("B").tasks == 0
    records.put("B", None)
    assert records.get("B") is None and records.get("A") == a
    records.path.write_text(json.dumps({"A": {**a.as_json(), "updated_at": "yesterday"}}))
    assert records.get("A") is None  # damaged: ignored, so the push exports


def test_predictions_are_one_per_segment_and_source_with_the_best_score_of_usable_codes(tmp_path):
    """Worked by hand: the unknown code (0.99) and the one below min_score are no evidence, so
    s1's keyword prediction scores max(0.6, 0.3) = 0.6, not 0.99; codes sorted, sources too."""
    from pipeline.labelstudio.tasks import predictions_for

    ws = make_ws(tmp_path / "ws", n=2)
    book = load_round(ws, load_config(ws), 1).book
    rows = [
        ("s2", "vertrouwen-overheid", 0.4, "keyword"),
        ("s1", "china-dystopie", 0.9, "similarity:e5"),
        ("s1", "vertrouwen-overheid", 0.3, "keyword"),
        ("s1", "china-dystopie", 0.6, "keyword"),
        ("s1", "oud-thema", 0.99, "keyword"),
        ("s2", "havenots", 0.1, "keyword"),
    ]
    table = pd.DataFrame(rows, columns=["segment_id", "code", "score", "source"]).assign(
        evidence="e", codebook="h"
    )
    taxonomy = {"from_name": "codes", "to_name": "text", "type": "taxonomy"}

    def prediction(source: str, score: float, *paths: list[str]) -> dict:
        result = [{**taxonomy, "value": {"taxonomy": list(paths)}}]
        return {"model_version": f"{source}@abc", "score": score, "result": result}

    found = predictions_for(table, book, "abc", 0.2)
    assert list(found) == ["s1", "s2"]
    assert found == {
        "s1": [
            prediction("keyword", 0.6, ["china-dystopie"], ["vertrouwen-overheid"]),
            prediction("similarity:e5", 0.9, ["china-dystopie"]),
        ],
        "s2": [prediction("keyword", 0.4, ["vertrouwen-overheid"])],
    }
