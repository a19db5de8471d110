"""What the last push left in each coder's project, so the next push needs no full export.

A push must know, for every segment, whether its task exists and holds the same data; reading
that from Label Studio means exporting the whole project (2-3 ms per task: 10-30 s for 5,000
tasks, even when nothing changed). So after each push that adds up, the record
(``round-<n>.pushed.json`` beside the round's project record) notes per coder: the project and
server, every segment's task as a content hash of its data plus the model versions of its
predictions, the project's task and prediction counts, and the server's latest task change
(``updated_at``, on the server's clock). The next push believes it only when the server agrees:

- the project holds as many tasks and predictions as recorded (a task or prediction deleted
  in the UI lowers a count);
- every task changed since the record (one filtered listing, one request for most pushes;
  a coder's annotation changes its task) was created before it and still holds the recorded
  data: a task added by hand, or one whose data was edited through the API, is caught here.

Anything else (no record, another project, a count or task that disagrees) falls back to the
full export, which writes a new record; a record whose counts do not add up after a push is
removed. Annotations are never read or written here.

The transcript push (``cda ls push --transcripts``, one correction project per recording)
keeps the same kind of record, keyed by recording instead of coder, in
``transcripts.pushed.json`` beside ``transcripts.json``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline.codings.order import RoundProjects
from pipeline.core.io import write_text
from pipeline.labelstudio.client import Client

log = logging.getLogger("pipeline")
PAGE = 1000  # tasks per page of the changed-task listing


def digest(data: dict) -> str:
    """A task's data as a 128-bit hash: equal hashes mean equal data (keys in any order)."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Record:
    """One coder's project as the last push left it."""

    project_id: int
    url: str
    tasks: int  # tasks in the project (all of them, ours or not)
    predictions: int  # predictions in the project
    updated_at: str | None  # the latest task change on the server (None: no tasks)
    segments: dict[str, tuple[str, frozenset[str]]]  # segment → (data hash, model versions)

    def as_json(self) -> dict:
        return {
            "project_id": self.project_id,
            "url": self.url,
            "tasks": self.tasks,
            "predictions": self.predictions,
            "updated_at": self.updated_at,
            "segments": {s: [h, sorted(v)] for s, (h, v) in sorted(self.segments.items())},
        }

    @classmethod
    def from_json(cls, entry: dict) -> Record:
        """The record from its JSON; a KeyError/TypeError/ValueError if it is not one."""
        segments = {
            str(s): (str(h), frozenset(map(str, v))) for s, (h, v) in entry["segments"].items()
        }
        updated = entry["updated_at"]
        if updated is not None:
            _when(updated)  # a ValueError if it is no time
        record = cls(
            int(entry["project_id"]), str(entry["url"]), int(entry["tasks"]),
            int(entry["predictions"]), updated, segments,
        )  # fmt: skip
        if record.tasks < 0 or record.predictions < 0:
            raise ValueError("negative count")
        return record


@dataclass(frozen=True)
class Records:
    """Push records in one JSON file: per coder for a coding round (:meth:`of_round`), per
    recording for the transcript projects."""

    path: Path

    @classmethod
    def of_round(cls, projects: RoundProjects) -> Records:
        ws, n = projects.ws, projects.round_no
        return cls(ws.ls_state(n).with_name(f"round-{n}.pushed.json"))

    def _read(self) -> dict:
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            log.info("%s is damaged: ignored, the push exports the projects", self.path.name)
            return {}
        return data

    def get(self, key: str) -> Record | None:
        """The record of a coder (or recording); None if there is none or it is damaged (a
        full export then)."""
        entry = self._read().get(key)
        if entry is None:
            return None
        try:
            return Record.from_json(entry)
        except (KeyError, TypeError, ValueError, AttributeError):
            log.info("the push record of %s is damaged: ignored", key[:40])
            return None

    def put(self, key: str, record: Record | None) -> None:
        """Write (or, with None, remove) one record atomically; others stay as they are."""
        state = self._read()
        if record is None:
            if key not in state:
                return
            del state[key]
        else:
            state[key] = record.as_json()
        write_text(self.path, json.dumps(state, indent=1, sort_keys=True) + "\n")


def note(
    client: Client,
    records: Records,
    key: str,
    project_id: int,
    seen: dict[str, tuple[str, frozenset[str]]],
    expected: tuple[int, int],
) -> None:
    """Record what the project now holds (``seen``: segment → data hash and model versions)
    if the server's counts are the ``expected`` (tasks, predictions); else drop the record, so
    the next push reads the project in full."""
    now = observe(client, project_id)
    if (now.tasks, now.predictions) != expected:
        log.info(
            "project %s holds %d task(s) and %d prediction(s), not %d and %d: no push record, "
            "the next push reads it in full", project_id, now.tasks, now.predictions, *expected,
        )  # fmt: skip
        records.put(key, None)
        return
    record = Record(project_id, client.url, now.tasks, now.predictions, now.updated_at, seen)
    records.put(key, record)


@dataclass(frozen=True)
class Observed:
    """The project's counts and latest task change, read in one request after a push."""

    tasks: int
    predictions: int
    updated_at: str | None


def observe(client: Client, project_id: int) -> Observed:
    """Counts and the latest ``updated_at`` of the project: one task-list page of one task."""
    with client.talking("counting the project's tasks"):
        page = client.sdk.tasks.list(
            project=project_id, page=1, page_size=1, include="id,updated_at",
            resolve_uri=False, query=json.dumps({"ordering": ["-tasks:updated_at"]}),
        )  # fmt: skip
    latest = page.items[0].updated_at if page.items else None
    return Observed(
        page.response.total, page.response.total_predictions, _stamp(latest) if latest else None
    )


def server_agrees(client: Client, project, record: Record) -> bool:
    """Whether the project still is what ``record`` says (see the module docstring).

    ``project`` is the project as fetched by this command (its counts come with it).
    """
    counts = (
        getattr(project, "task_number", None),
        getattr(project, "total_predictions_number", None),
    )
    if counts != (record.tasks, record.predictions):
        log.debug("push record of project %s: counts differ", project.id)
        return False
    since = None if record.updated_at is None else _when(record.updated_at)
    try:
        for task in _changed_since(client, project.id, record.updated_at):
            data = task.data if isinstance(task.data, dict) else {}
            known = record.segments.get(data.get("segment_id"))
            created = task.created_at
            if (since is not None and (created is None or created > since)) or (
                known is None or known[0] != digest(data)
            ):
                log.debug("push record of project %s: task %s differs", project.id, task.id)
                return False
    except _Refused:
        log.info("Label Studio refused the listing of changed tasks: reading the project in full")
        return False
    return True


class _Refused(Exception):
    """The server would not filter its tasks so (another version of Label Studio, say)."""


def _changed_since(client: Client, project_id: int, since: str | None) -> Iterator:
    """The project's tasks changed after ``since`` (all tasks if None), with data, page by page."""
    from label_studio_sdk.core.api_error import ApiError

    query: dict = {"ordering": ["tasks:id"]}
    if since is not None:
        item = {"filter": "filter:tasks:updated_at", "operator": "greater", "type": "Datetime"}
        query["filters"] = {"conjunction": "and", "items": [{**item, "value": since}]}
    seen, page_no = 0, 1
    while True:
        with client.talking("listing the tasks changed since the last push"):
            try:
                page = client.sdk.tasks.list(
                    project=project_id, page=page_no, page_size=PAGE,
                    include="id,data,created_at,updated_at", resolve_uri=False,
                    query=json.dumps(query),
                )  # fmt: skip
            except ApiError as exc:
                if exc.status_code in (400, 404):  # the full export still works: use it
                    raise _Refused from None
                raise
        items = page.items or []
        yield from items
        seen += len(items)
        if not items or seen >= page.response.total:
            return
        page_no += 1


def _stamp(moment: datetime) -> str:
    """A server time as Label Studio's filters take it: UTC, microseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
