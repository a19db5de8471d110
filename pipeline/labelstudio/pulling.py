"""``cda ls pull``: every coder's project of a round into ``codings.parquet``; nothing lost.

- ``codings.parquet`` is rewritten only when the export changed;
- a deleted project is an error that leaves it untouched;
- codings of tasks deleted in the UI are kept with status ``task-deleted``;
- codings imported from elsewhere (``cda import qdpx``) are kept for coders without a project;
- a closed round's codings are frozen unless ``--force``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd

from pipeline.codebook import Codebook, Loaded, load_round
from pipeline.codings.order import RoundProjects, sort_codings
from pipeline.core.config import ADJUDICATION, StudyConfig
from pipeline.core.errors import CdaError
from pipeline.core.io import read_table, validate, write_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import CODINGS
from pipeline.labelstudio import labeling as lsconfig
from pipeline.labelstudio.client import Client
from pipeline.labelstudio.projects import deleted_tasks, export_tasks, find_project, title

log = logging.getLogger("pipeline")


@dataclass(frozen=True)
class PullResult:
    """The round's codings after the pull, whether the file was rewritten, and what changed."""

    table: pd.DataFrame
    written: bool
    changed_annotations: int  # annotations new or edited since the last pull
    unknown_codes: dict[str, int]  # code → rows, for codes the round's codebook lacks


def codings_from_export(tasks: list[dict], coder: str, book: Codebook) -> pd.DataFrame:
    """An exported project as coding rows: one per code (and span) per annotation."""
    known = set(book.ids)
    rows = []
    for task in tasks:
        segment = (task.get("data") or {}).get("segment_id")
        if not segment:
            continue
        for ann in task.get("annotations") or []:
            base = {
                "segment_id": segment,
                "coder": coder,
                "lead_time": ann.get("lead_time"),
                "updated_at": ann.get("updated_at"),
                "task_id": task["id"],
                "annotation_id": ann.get("id"),
                "annotator": ann.get("completed_by"),
            }
            if ann.get("was_cancelled"):
                rows.append({**base, "status": "skipped"})
                continue
            regions, memo = lsconfig.read_result(ann.get("result") or [], book)
            base["memo"] = memo
            if not regions:
                rows.append({**base, "status": "empty"})
            for region in regions:
                rows.append({**base, **region, "status": "coded"})
    frame = pd.DataFrame(rows, columns=CODINGS.names)
    frame["in_codebook"] = frame["code"].isna() | frame["code"].isin(known)
    return frame.assign(origin="labelstudio")


def pull(ws: Workspace, config: StudyConfig, round_no: int, *, force: bool = False) -> PullResult:
    """Export every coder's project of the round into ``codings.parquet`` (only if changed)."""
    loaded = load_round(ws, config, round_no)
    path = ws.codings(round_no)
    previous = read_table(path, CODINGS) if path.is_file() else CODINGS.empty()
    with Client.open(ws, config) as client:
        table = _export_round(client, RoundProjects(ws, round_no), loaded, previous)
    return _store_codings(ws, round_no, loaded, table, previous, force=force)


def _export_round(
    client: Client, projects: RoundProjects, loaded: Loaded, previous: pd.DataFrame
) -> pd.DataFrame:
    round_no = projects.round_no
    coders = list(client.config.labelstudio.coders_for(round_no))
    if ADJUDICATION in projects.read():
        coders.append(ADJUDICATION)
    frames = []
    for coder in coders:
        name = title(client.config, round_no, coder)
        project = find_project(client, projects, coder)
        if project is None:
            log.warning("no project '%s' in Label Studio yet (push first)", name)
            frames.append(previous[previous["coder"] == coder])
            continue
        tasks = export_tasks(client, project.id, name, annotated_only=True)
        frame = codings_from_export(tasks, coder, loaded.book)
        before = previous[previous["coder"] == coder]
        foreign = before[before["origin"] != "labelstudio"]
        if len(foreign):
            log.warning(
                "coder %s now has a Label Studio project: their %d imported coding row(s) "
                "(%s) are replaced by the project's", coder, len(foreign),
                ", ".join(sorted(set(foreign["origin"]))),
            )  # fmt: skip
            before = before[before["origin"] == "labelstudio"]
        absent = before[~before["task_id"].isin({t["id"] for t in tasks})]
        checked = absent[absent["status"] != "task-deleted"]["task_id"].unique().tolist()
        deleted = deleted_tasks(client, checked) if checked else set()
        # a task that exists without annotations was un-coded on purpose: its rows go
        gone = absent[(absent["status"] == "task-deleted") | absent["task_id"].isin(deleted)]
        newly = gone[gone["status"] != "task-deleted"]["task_id"].nunique()
        if newly:
            log.warning(
                "%d task(s) of '%s' were deleted in Label Studio; their codings from the last "
                "pull are kept with status task-deleted", newly, name,
            )  # fmt: skip
        if len(gone):
            frame = pd.concat([frame, gone.assign(status="task-deleted")], ignore_index=True)
        frames.append(frame)
    # codings that came from elsewhere (cda import qdpx) are not Label Studio's to replace
    imported = previous[~previous["coder"].isin(coders)]
    frames += [imported] if len(imported) else []
    table = pd.concat(frames, ignore_index=True) if frames else CODINGS.empty()
    return sort_codings(validate(table, CODINGS, where=f"the export of round {round_no}"))


def _store_codings(
    ws: Workspace,
    round_no: int,
    loaded: Loaded,
    table: pd.DataFrame,
    previous: pd.DataFrame,
    *,
    force: bool,
) -> PullResult:
    """Write the pulled codings if they changed; a closed round's codings only with ``force``."""
    path = ws.codings(round_no)
    changed = _changed_annotations(previous, table)
    unknown = table[~table["in_codebook"]]["code"].value_counts().to_dict()
    if unknown:
        log.warning(
            "codes not in %s: %s", ws.display(loaded.path),
            ", ".join(f"{c} ({n}×)" for c, n in unknown.items()),
        )  # fmt: skip
    frozen = loaded.book.state == "closed" and path.is_file() and not force
    if frozen and not sort_codings(previous).equals(table):
        raise CdaError(
            f"round {round_no} is closed, but Label Studio differs from its frozen codings "
            f"({changed} annotation(s) changed or added)",
            hint="codings.parquet is unchanged; `cda ls pull --force` overwrites it",
        )
    written = write_table(table, CODINGS, path, only_if_changed=True)
    return PullResult(table, written, changed, unknown)


def _changed_annotations(previous: pd.DataFrame, current: pd.DataFrame) -> int:
    """Annotations new or edited since the last pull (by id and last edit time)."""

    def stamps(frame: pd.DataFrame) -> set:
        live = frame[frame["status"] != "task-deleted"]
        return set(zip(live["annotation_id"], live["updated_at"], strict=True))

    return len({a for a, _ in stamps(current) - stamps(previous)})
