"""A coder's project of a round, and its tasks as Label Studio exports them.

Blind double coding: Label Studio Community has no task overlap, so each coder of a round gets
a project of their own (``<study> · round-2 · coder A``) holding the same tasks.
"""

from __future__ import annotations

import json
import logging
import time

from pipeline.codings.order import RoundProjects
from pipeline.core.config import ADJUDICATION, StudyConfig
from pipeline.core.errors import CdaError
from pipeline.labelstudio import snapshots
from pipeline.labelstudio.client import Client

log = logging.getLogger("pipeline")


def title(config: StudyConfig, round_no: int, coder: str) -> str:
    who = ADJUDICATION if coder == ADJUDICATION else f"coder {coder}"
    return f"{config.study} · round-{round_no} · {who}"


class ProjectGone(CdaError):
    """A project this workspace created was deleted in Label Studio."""


class _NotFound(Exception):
    pass


def find_project(client: Client, projects: RoundProjects, coder: str):
    """The coder's project for the round, or None; a recorded project that vanished is an error."""
    round_no = projects.round_no
    name = title(client.config, round_no, coder)
    recorded = projects.get(coder)
    if recorded and recorded.get("url") == client.url:
        try:
            with client.talking(f"opening project '{name}'"):
                return _get_project(client, recorded["id"])
        except _NotFound:
            raise ProjectGone(
                f"Label Studio project '{name}' (id {recorded['id']}) no longer exists at "
                f"{client.url}: it was deleted in the UI",
                hint=f"the codings of the last pull are kept in data/processed/round-{round_no}/"
                f"codings.parquet; `cda ls push --round {round_no} --recreate` makes a new, "
                "empty project for this coder",
            ) from None
    with client.talking("listing projects"):
        for project in client.sdk.projects.list(title=name, page_size=100):
            if project.title == name:
                return project
    return None


def _get_project(client: Client, project_id: int):
    from label_studio_sdk.core.api_error import ApiError

    try:
        return client.sdk.projects.get(id=project_id)
    except ApiError as exc:
        if exc.status_code == 404:
            raise _NotFound from None
        raise


def ensure_project(
    client: Client,
    projects: RoundProjects,
    coder: str,
    label_config: str,
    *,
    recreate: bool = False,
):
    """Find or create the coder's project; keep its labeling config in step with the codebook."""
    round_no, config = projects.round_no, client.config
    name = title(config, round_no, coder)
    try:
        project = find_project(client, projects, coder)
    except ProjectGone:
        if not recreate:
            raise
        project = None
    with client.talking(f"setting up project '{name}'"):
        if project is None:
            project = client.sdk.projects.create(
                title=name,
                label_config=label_config,
                description=f"Blind coding of round {round_no} ({config.study}); coder {coder}.",
                show_skip_button=True,
                enable_empty_annotation=True,
                maximum_annotations=1,
            )
            log.info("created Label Studio project '%s' (id %s)", name, project.id)
        elif (project.label_config or "").strip() != label_config.strip():
            client.sdk.projects.update(id=project.id, label_config=label_config)
            log.info("updated the labeling config of '%s' from the codebook", name)
    projects.record(coder, project_id=project.id, title=name, url=client.url)
    return project


def export_tasks(
    client: Client, project_id: int, name: str, *, annotated_only: bool = False
) -> list[dict]:
    """A project's tasks with their annotations, through export snapshots.

    Exporting costs Label Studio ~2-3 ms per task. A snapshot that leaves nested predictions,
    drafts and users as ids is about a third faster than the plain export, and a pull asks only
    for tasks with annotations: coded ones and skipped ones, two filters Label Studio applies
    in SQL (its "any annotation" filter checks task by task). Snapshots are deleted afterwards,
    and those an interrupted command left on the project are deleted first (:mod:`.snapshots`).
    """
    snapshots.sweep(client, project_id, name)
    if not annotated_only:
        return _snapshot(client, project_id, name, {})
    tasks = {}
    for selection in ({"annotated": "only"}, {"skipped": "only"}):
        for task in _snapshot(client, project_id, name, selection):
            tasks.setdefault(task["id"], task)
    return list(tasks.values())


def _snapshot(client: Client, project_id: int, name: str, selection: dict) -> list[dict]:
    lean = {
        "drafts": {"only_id": True},
        "predictions": {"only_id": True},
        "annotations__completed_by": {"only_id": True},
    }
    exports = client.sdk.projects.exports
    with client.talking(f"exporting '{name}'"):
        snapshot = exports.create(
            id=project_id,
            title=snapshots.title(),
            task_filter_options=selection,
            serialization_options=lean,
        )
        try:
            while snapshot.status not in ("completed", "failed"):
                time.sleep(0.2)
                snapshot = exports.get(id=project_id, export_pk=snapshot.id)
            if snapshot.status == "failed":
                raise CdaError(
                    f"Label Studio could not export '{name}'",
                    hint="see the server's log (data/labelstudio/server.log)",
                )
            data = b"".join(
                exports.download(id=project_id, export_pk=snapshot.id, export_type="JSON")
            )
        finally:
            exports.delete(id=project_id, export_pk=snapshot.id)
    return json.loads(data)


def deleted_tasks(client: Client, task_ids: list[int]) -> set[int]:
    """Which of these task ids no longer exist (rather than having lost their annotations)."""
    from label_studio_sdk.core.api_error import ApiError

    gone = set()
    for task_id in task_ids:
        with client.talking(f"checking task {task_id}"):
            try:
                client.sdk.tasks.get(id=str(task_id))
            except ApiError as exc:
                if exc.status_code != 404:
                    raise
                gone.add(task_id)
    return gone
