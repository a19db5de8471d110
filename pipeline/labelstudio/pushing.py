"""``cda ls push``: a round's segments into one Label Studio project per coder, safely repeated.

- **Keyed by segment id.** Every task carries its ``segment_id``; a push adds missing segments,
  refreshes the text of tasks nobody has coded yet and adds predictions, and never creates a
  second task for a segment or touches an annotation.
- **Resumable.** Tasks go in batches (one request each). After a network error the batch is not
  blindly resent: the project is listed again and only the segments still missing are sent,
  with exponential back-off. Rerunning an interrupted push is always safe.
- **No export when nothing changed.** What a push left is recorded (:mod:`.pushed`); the next
  push believes the record where the server agrees with it, and exports the project in full
  (as it always did) where not. An empty project is never exported.
- **Ordered.** New tasks are imported in segment order, or most uncertain first
  (``order="uncertainty"``): Label Studio gives a coder tasks in id order, i.e. import order.
  Tasks already in a project keep their place (their ids), whatever the order of a later push.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.codings.order import RoundProjects
from pipeline.core.config import StudyConfig
from pipeline.core.errors import CdaError
from pipeline.core.paths import Workspace
from pipeline.core.progress import track
from pipeline.labelstudio import labeling as lsconfig
from pipeline.labelstudio import pushed
from pipeline.labelstudio.client import Client
from pipeline.labelstudio.projects import ensure_project, export_tasks
from pipeline.labelstudio.tasks import (
    WHY,
    audio_urls,
    order_tasks,
    predictions_for,
    round_inputs,
    round_suggestions,
    round_uncertainty,
    task_data,
    why_suggested,
)

log = logging.getLogger("pipeline")
ORDERS = ("segment", "uncertainty")


@dataclass
class PushResult:
    """What one coder's project got: counts of tasks, the coded tasks left alone, retries."""

    coder: str
    project_id: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_coded: list[str] = field(default_factory=list)
    predictions: int = 0
    retries: int = 0
    order: str = "segment"  # the order the new tasks were imported in
    scored: int = 0  # new tasks that had an uncertainty row (they came first)

    @property
    def in_place(self) -> int:
        """Tasks that were there before this push: they keep their place in the coder's queue."""
        return self.updated + self.unchanged + len(self.kept_coded)

    def order_line(self) -> str:
        """The order the coder gets the new tasks in, and that older tasks kept theirs."""
        if self.order == "uncertainty":
            line = (
                f"{self.created} new task(s) in uncertainty order: {self.scored} scored, most "
                f"uncertain first, then {self.created - self.scored} unscored in segment order"
            )
        else:
            line = f"{self.created} new task(s) in segment order"
        if self.in_place:
            line += f"; {self.in_place} task(s) already pushed keep their place (not reordered)"
        return line


@dataclass(frozen=True)
class RoundPush:
    """What every coder of a round is pushed: the same tasks, predictions and interface."""

    projects: RoundProjects  # the round, and where its coders' project ids are recorded
    label_config: str
    tasks: tuple[dict, ...]
    predictions: Mapping[str, list[dict]]  # segment id → predictions of its task
    audio_folder: Path | None  # the folder Label Studio serves the tasks' audio from
    recreate: bool = False  # a new project for a coder whose project was deleted
    order: str = "segment"  # the order of ``tasks`` (new tasks are imported in it)
    scored: frozenset[str] = frozenset()  # segments with an uncertainty row (order=uncertainty)


def push(
    ws: Workspace,
    config: StudyConfig,
    round_no: int,
    *,
    coders: list[str] | None = None,
    recreate: bool = False,
    tasks: list[dict] | None = None,
    predictions: dict[str, list[dict]] | None = None,
    order: str | None = None,
) -> list[PushResult]:
    """Push a round's segments to one project per coder (or ``coders``); safe to repeat.

    ``order`` (default ``labelstudio.order``) is the order new tasks are imported in:
    ``segment`` or ``uncertainty`` (the learned model's most uncertain first, from
    ``uncertainty.parquet``; unscored segments follow in segment order). Everything is read
    and checked before the server is contacted, so a refused order changes nothing.
    """
    from pipeline.codebook import require_open

    order = order or config.labelstudio.order
    if order not in ORDERS:
        raise CdaError(f"unknown task order {order!r}", hint=f"use one of: {', '.join(ORDERS)}")
    loaded, segments = round_inputs(ws, config, round_no)
    require_open(loaded)
    uncertainty = round_uncertainty(ws, round_no, loaded) if order == "uncertainty" else None
    if tasks is None:
        audio = audio_urls(ws, config, segments)
        if audio is None and config.labelstudio.audio != "none":
            log.info("no extracted audio for every segment: tasks go without an audio player")
        suggestions = round_suggestions(ws, round_no, loaded)
        min_score = config.labelstudio.min_score
        if suggestions is not None:
            predictions = predictions_for(suggestions, loaded.book, loaded.sha256[:12], min_score)
            why = why_suggested(suggestions, loaded.book, min_score=min_score)
        else:
            predictions, why = {}, {}
        tasks = task_data(segments, config, audio, why=why)
    scored: frozenset[str] = frozenset()
    if uncertainty is not None:
        tasks, _ = order_tasks(tasks, uncertainty)
        scored = frozenset(uncertainty["segment_id"])
    has_audio = bool(tasks) and "audio" in tasks[0]
    folder = ws.clips_dir if config.labelstudio.audio == "clip" else ws.audio_dir
    job = RoundPush(
        projects=RoundProjects(ws, round_no),
        label_config=lsconfig.labeling_config(loaded.book, audio=has_audio),
        tasks=tuple(tasks),
        predictions=predictions or {},
        audio_folder=folder if has_audio else None,
        recreate=recreate,
        order=order,
        scored=scored,
    )
    with Client.open(ws, config) as client:
        return [
            _push_coder(client, job, coder)
            for coder in coders or config.labelstudio.coders_for(round_no)
        ]


def _push_coder(client: Client, job: RoundPush, coder: str) -> PushResult:
    project = ensure_project(client, job.projects, coder, job.label_config, recreate=job.recreate)
    if job.audio_folder is not None:
        _ensure_storage(client, project.id, job.audio_folder)
    return _push_project(client, coder, project, job)


def _ensure_storage(client: Client, project_id: int, folder: Path) -> None:
    """Local-files storage for the audio folder: Label Studio serves a file only through one."""
    folder.mkdir(parents=True, exist_ok=True)
    storage = client.sdk.import_storage.local
    with client.talking("registering the audio folder"):
        if any(Path(s.path or "") == folder for s in storage.list(project=project_id)):
            return
        storage.create(project=project_id, path=str(folder), title="cda audio", use_blob_urls=False)


def _push_project(client: Client, coder: str, project, job: RoundPush) -> PushResult:
    result = PushResult(coder=coder, project_id=project.id, order=job.order)
    records = pushed.Records.of_round(job.projects)
    quick = _from_record(client, project, job, records.get(coder), result)
    if quick is None:
        fresh, seen, before = _from_export(client, project, job, result)
    else:
        fresh, seen, before = quick

    def listed() -> set[str]:
        return _segment_ids(export_tasks(client, project.id, project.title))

    result.retries = import_resumably(
        client, project.id, fresh, listed=listed, description=f"pushing to {project.title}"
    )
    result.created = len(fresh)
    result.scored = sum(t["data"]["segment_id"] in job.scored for t in fresh)
    result.predictions += sum(len(p["predictions"]) for p in fresh)
    if result.kept_coded:
        log.warning(
            "%d coded task(s) in '%s' have new text in the pipeline and were left as coded "
            "(their spans refer to the text the coder saw): %s",
            len(result.kept_coded), project.title, ", ".join(result.kept_coded[:5]),
        )  # fmt: skip
    if quick is None or fresh:
        for task in fresh:
            versions = frozenset(p["model_version"] for p in task["predictions"])
            seen[task["data"]["segment_id"]] = (pushed.digest(task["data"]), versions)
        _record(client, records, coder, project.id, seen, before, result)
    job.projects.note_push(coder, order=job.order, created=result.created, scored=result.scored)
    return result


Seen = dict[str, tuple[str, frozenset[str]]]  # segment → (hash of its task's data, versions)


def _from_record(
    client: Client, project, job: RoundPush, record: pushed.Record | None, result: PushResult
) -> tuple[list[dict], Seen, tuple[int, int]] | None:
    """New tasks from the last push's record, without an export; None if it cannot be trusted.

    Every segment already pushed must hash as recorded and have no prediction version its task
    lacks (locally, no request), and the server must agree with the record (one request for
    most pushes): otherwise the full export decides, as it always did.
    """
    if record is None or (record.project_id, record.url) != (project.id, client.url):
        return None
    fresh, seen = [], {}
    for data in job.tasks:
        segment = data["segment_id"]
        known = record.segments.get(segment)
        predictions = job.predictions.get(segment, [])
        if known is None:
            fresh.append({"data": data, "predictions": predictions})
        elif (
            known[0] != pushed.digest(data)
            or not {p["model_version"] for p in predictions} <= known[1]
        ):
            return None  # a changed segment or new predictions: the full export decides
        else:
            seen[segment] = known
    if not pushed.server_agrees(client, project, record):
        log.info("'%s' changed since the last push: reading it in full", project.title)
        return None
    result.unchanged = len(seen)
    return fresh, dict(record.segments), (record.tasks, record.predictions)


def _from_export(
    client: Client, project, job: RoundPush, result: PushResult
) -> tuple[list[dict], Seen, tuple[int, int]]:
    """New tasks from a full export; updates uncoded tasks whose data changed in place."""
    count = getattr(project, "task_number", None)
    if count is None:  # a project just created comes without counts
        count = pushed.observe(client, project.id).tasks
    exported = export_tasks(client, project.id, project.title) if count else []
    existing = {t["data"]["segment_id"]: t for t in exported if t.get("data", {}).get("segment_id")}
    fresh, data_of = [], {s: t["data"] for s, t in existing.items()}
    for data in job.tasks:
        segment = data["segment_id"]
        current = existing.get(segment)
        if current is None:
            fresh.append({"data": data, "predictions": job.predictions.get(segment, [])})
        elif current["data"] == data:
            result.unchanged += 1
            data_of[segment] = data
        elif current.get("annotations") and _shown(current["data"]) != _shown(data):
            result.kept_coded.append(segment)
        else:
            with client.talking(f"updating the task of {segment}"):
                client.sdk.tasks.update(id=str(current["id"]), data=data)
            result.updated += 1
            data_of[segment] = data
    versions: dict[int, set[str]] = {}
    if existing:
        result.predictions, versions = _add_predictions(
            client, project.id, existing, job.predictions
        )
    seen = {
        segment: (pushed.digest(data_of[segment]), frozenset(versions.get(task["id"], ())))
        for segment, task in existing.items()
    }
    before = sum(len(t.get("predictions") or []) for t in exported)
    return fresh, seen, (len(exported), before)


def _record(
    client: Client,
    records: pushed.Records,
    coder: str,
    project_id: int,
    seen: Seen,
    before: tuple[int, int],
    result: PushResult,
) -> None:
    """Note what the project now holds, if the server's counts add up; else drop the record."""
    expected = (before[0] + result.created, before[1] + result.predictions)
    pushed.note(client, records, coder, project_id, seen, expected)


def _shown(data: dict) -> dict:
    """A task's data without the "why suggested" line: what a coder's spans refer to.

    A coded task whose suggestions changed gets the new line (its text is the same, so its
    spans stay valid); one whose text changed is left as coded.
    """
    return {k: v for k, v in data.items() if k != WHY}


def _add_predictions(
    client: Client, project_id: int, existing: dict, predictions: Mapping[str, list[dict]]
) -> tuple[int, dict[int, set[str]]]:
    """Predictions for tasks that already existed, skipping versions the task already has.

    Returns how many were added and, per task id, the model versions it now has.
    """
    from label_studio_sdk import PredictionRequest

    with client.talking("listing predictions"):
        have = {(p.task, p.model_version) for p in client.sdk.predictions.list(project=project_id)}
    new = [
        PredictionRequest(
            task=task["id"], model_version=p["model_version"], score=p["score"], result=p["result"]
        )
        for segment, task in existing.items()
        for p in predictions.get(segment, [])
        if (task["id"], p["model_version"]) not in have
    ]
    for batch in _chunks(new, 1000):
        with client.talking("importing predictions"):
            client.sdk.projects.import_predictions(id=project_id, request=batch)
    versions: dict[int, set[str]] = {}
    for task, version in have | {(p.task, p.model_version) for p in new}:
        versions.setdefault(task, set()).add(version)
    return len(new), versions


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _segment_ids(tasks: list[dict]) -> set[str]:
    return {t["data"].get("segment_id") for t in tasks if t.get("data")}


def import_resumably(
    client: Client,
    project_id: int,
    tasks: list[dict],
    *,
    listed: Callable[[], set[str]],
    description: str = "pushing",
) -> int:
    """Import ``tasks`` in batches; after a failed request, resend only what is still missing.

    A request can fail after the server committed it (the answer is lost on the way back), so a
    blind retry would duplicate the batch. Instead the project's segment ids are listed again
    and the batch is reduced to the missing ones before each retry. The SDK's own retries are
    off for this call for the same reason. Returns the number of retries needed.
    """
    used, retries = 0, client.retries
    batches = list(_chunks(tasks, client.batch_size))
    for batch in track(batches, description=description, total=len(batches)):
        attempt = 0
        while batch:
            try:
                client.sdk.projects.import_tasks(
                    id=project_id, request=batch, request_options={"max_retries": 0}
                )
                break
            except Exception as exc:
                if not client.retryable(exc):
                    with client.talking("importing tasks"):
                        raise
                if attempt >= retries:
                    with client.talking("counting the tasks that arrived"):
                        arrived = len(listed())
                    raise CdaError(
                        f"push stopped after {retries} {'retry' if retries == 1 else 'retries'} "
                        f"({client.reason(exc)}); the project holds {arrived} task(s)",
                        hint="run the same command again when the server answers: it sends only "
                        "the missing segments, so nothing is duplicated",
                    ) from None
                attempt += 1
                used += 1
                wait = client.wait(attempt)
                log.warning(
                    "import request failed (%s); checking what arrived, retry %d/%d in %.1f s",
                    type(exc).__name__, attempt, retries, wait,
                )  # fmt: skip
                time.sleep(wait)
                with client.talking("checking which tasks arrived"):
                    present = listed()
                batch = [t for t in batch if t["data"]["segment_id"] not in present]
    return used
