"""``make bench-ls``: push and pull times for 5,000 segments against a real local Label Studio.

A throwaway workspace gets 5,000 segments of real Dutch (the ParlaMint debate in ``../shared``,
else the bundled sample), the starter codebook and one suggestion per segment (so the push
carries predictions). The bench then times, for one coder's project:

- the first push (5,000 new tasks with predictions, in batches of ``labelstudio.batch_size``);
- a second push (nothing to do: the idempotency check itself);
- the bare library call the push is measured against: a new project and ``import_tasks`` of the
  same tasks and predictions in the same batches, through the SDK (the tasks are built before
  the clock starts); the ratio is push / bare;
- a pull of both coders' projects: A's 5,000 uncoded tasks and B's 5,000 coded ones (B's
  project is imported with its annotations, not timed).

Targets from issue 7: push under 30 s, pull under 15 s; from issue 21: push within 1.2x of the
bare import. ``BENCH_SEGMENTS`` changes the size; ``BENCH_PULL=0`` leaves the pull out.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from benchmarks import SAMPLE
from benchmarks.nlp import bench_segments
from pipeline.cli.init import init_workspace
from pipeline.codebook import load_round
from pipeline.codings.order import RoundProjects
from pipeline.core.config import load_config
from pipeline.core.io import write_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import SEGMENTS, SUGGESTIONS
from pipeline.labelstudio import labeling as lsconfig
from pipeline.labelstudio import pull, push
from pipeline.labelstudio import server as labelstudio
from pipeline.labelstudio.client import Client
from pipeline.labelstudio.projects import ensure_project, export_tasks
from pipeline.labelstudio.tasks import predictions_for, task_data, why_suggested

STARTER = SAMPLE / "codebooks" / "digitalisering-cohesie" / "round-1.yaml"


def workspace(root: Path, n: int) -> Workspace:
    ws = Workspace.at(root)
    init_workspace(ws, study="digitalisering-cohesie", groups=["burgers", "deskundigen"])
    with ws.config_file.open("a", encoding="utf-8") as handle:
        handle.write(f"labelstudio:\n  port: {labelstudio.free_port()}\n  coders: [A, B]\n")
    write_table(bench_segments(n), SEGMENTS, ws.segments)
    folder = ws.codebooks / "digitalisering-cohesie"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(STARTER, folder / "round-1.yaml")
    return ws


def main() -> None:
    n = int(os.environ.get("BENCH_SEGMENTS", "5000"))
    with tempfile.TemporaryDirectory(prefix="bench-ls-") as tmp:
        ws = workspace(Path(tmp) / "ws", n)
        config = load_config(ws)
        loaded = load_round(ws, config, 1)
        suggestions = pd.DataFrame(
            {
                "segment_id": pd.read_parquet(ws.segments)["segment_id"],
                "code": "toekomst-speculeren",
                "score": 0.5,
                "source": "keyword",
                "evidence": "bench",
                "codebook": loaded.sha256[:12],
            }
        )
        write_table(suggestions, SUGGESTIONS, ws.suggestions(1))
        print(f"starting Label Studio for the bench ({labelstudio.local_url(config)}) …")
        labelstudio.start(ws, config)
        try:
            os.environ.pop(labelstudio.URL_KEY, None)
            os.environ.pop(labelstudio.TOKEN_KEY, None)
            timings = run(ws, config, n)
        finally:
            labelstudio.stop(ws)
    print(f"\nLabel Studio round trip, {n} segments (push: coder A; pull: A uncoded, B coded):")
    for name, seconds, target in timings:
        verdict = (
            ""
            if target is None
            else f"  (target < {target} s: {'ok' if seconds < target else 'MISSED'})"
        )
        print(f"  {name:<34} {seconds:6.1f} s{verdict}")
    seconds = dict((name.split(" (")[0], s) for name, s, _ in timings)
    print(f"  push / bare import_tasks: ratio {seconds['push'] / seconds['bare import_tasks']:.2f}")


def coded_project(ws: Workspace, config, tasks: list[dict]) -> None:
    """Coder B's project with every task already coded, imported with inline annotations.

    Creating 5,000 annotations one request at a time takes Label Studio's development server
    about 8 minutes; an import with annotations makes the same export in seconds.
    """
    book = load_round(ws, config, 1).book
    label_config = lsconfig.labeling_config(book, audio=False)
    region = lsconfig.taxonomy_result(book, ["vertrouwen-overheid"])
    with Client.open(ws, config) as client:
        project = ensure_project(client, RoundProjects(ws, 1), "B", label_config)
        coded = [
            {"data": t["data"], "annotations": [{"result": [region], "lead_time": 5.0}]}
            for t in tasks
        ]
        size = client.batch_size
        for i in range(0, len(coded), size):
            client.sdk.projects.import_tasks(id=project.id, request=coded[i : i + size])


def bare_tasks(ws: Workspace, config) -> tuple[str, list[dict]]:
    """The labeling config and the tasks (with predictions) a push of round 1 sends."""
    loaded = load_round(ws, config, 1)
    suggestions = pd.read_parquet(ws.suggestions(1))
    min_score = config.labelstudio.min_score
    predictions = predictions_for(suggestions, loaded.book, loaded.sha256[:12], min_score)
    why = why_suggested(suggestions, loaded.book, min_score=min_score)
    tasks = task_data(pd.read_parquet(ws.segments), config, None, why=why)
    label_config = lsconfig.labeling_config(loaded.book, audio=False)
    return label_config, [{"data": d, "predictions": predictions.get(d["segment_id"], [])}
                          for d in tasks]  # fmt: skip


def bare_import(ws: Workspace, config, label_config: str, tasks: list[dict]) -> float:
    """Seconds for a new project and ``import_tasks`` of ``tasks`` in the push's batches."""
    with Client.open(ws, config) as client:
        sdk, size = client.sdk, client.batch_size
        start = time.perf_counter()
        project = sdk.projects.create(title="bench · bare import", label_config=label_config)
        for i in range(0, len(tasks), size):
            sdk.projects.import_tasks(id=project.id, request=tasks[i : i + size])
        seconds = time.perf_counter() - start
        assert sdk.projects.get(id=project.id).task_number == len(tasks)
        sdk.projects.delete(id=project.id)
    return seconds


@contextmanager
def timing_imports() -> Iterator[list[float]]:
    """Seconds spent inside ``import_tasks`` requests (the real SDK method, wrapped)."""
    from label_studio_sdk.projects.client import ProjectsClient

    spent: list[float] = []
    real = ProjectsClient.import_tasks

    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return real(self, *args, **kwargs)
        finally:
            spent.append(time.perf_counter() - start)

    ProjectsClient.import_tasks = timed
    try:
        yield spent
    finally:
        ProjectsClient.import_tasks = real


def run(ws: Workspace, config, n: int) -> list[tuple[str, float, float | None]]:
    start = time.perf_counter()
    with timing_imports() as spent:
        (first,) = push(ws, config, 1, coders=["A"])
    push_s = time.perf_counter() - start
    print(f"  first push: {sum(spent):.1f} s in import_tasks, {push_s - sum(spent):.1f} s around")
    assert first.created == n, first
    start = time.perf_counter()
    (again,) = push(ws, config, 1, coders=["A"])
    again_s = time.perf_counter() - start
    assert again.created == 0 and again.unchanged == n, again
    label_config, tasks = bare_tasks(ws, config)
    record = ws.ls_state(1).with_name("round-1.pushed.json")  # the push's own record, if any
    if record.is_file():  # the same tasks as the push sent: every data hash agrees
        from pipeline.labelstudio.pushed import digest

        pushed = json.loads(record.read_text(encoding="utf-8"))["A"]["segments"]
        assert {t["data"]["segment_id"]: digest(t["data"]) for t in tasks} == {
            s: h for s, (h, _) in pushed.items()
        }
    assert len(tasks) == n
    bare_s = bare_import(ws, config, label_config, tasks)
    timings = [
        (f"push ({n} new tasks + predictions)", push_s, 30),
        ("push again (no changes)", again_s, None),
        (f"bare import_tasks ({n} tasks)", bare_s, None),
    ]
    if os.environ.get("BENCH_PULL", "1") == "0":
        return timings

    with Client.open(ws, config) as client:
        tasks = export_tasks(client, first.project_id, "bench")
    coded_project(ws, config, tasks)
    start = time.perf_counter()
    pulled = pull(ws, config, 1)
    pull_s = time.perf_counter() - start
    coded = pulled.table[pulled.table["status"] == "coded"]
    assert coded["segment_id"].nunique() == n and set(coded["coder"]) == {"B"}, len(coded)
    return [*timings, (f"pull (2 × {n} tasks, {n} coded)", pull_s, 15)]


if __name__ == "__main__":
    main()
