"""``cda ls push|pull|adjudicate``: a coding round's round trip through Label Studio.

Blind double coding: Label Studio Community has no task overlap, so each coder of a round gets
a project of their own (``<study> · round-2 · coder A``) holding the same tasks. Safety rules:

- **Keyed by segment id.** Every task carries its ``segment_id``; a push adds missing segments,
  refreshes the text of tasks nobody has coded yet and adds predictions, and never creates a
  second task for a segment or touches an annotation.
- **Resumable.** Tasks go in batches (one request each). After a network error the batch is not
  blindly resent: the project is listed again and only the segments still missing are sent,
  with exponential back-off. Rerunning an interrupted push is always safe.
- **Nothing lost on pull.** ``codings.parquet`` is rewritten only when the export changed; a
  deleted project leaves it untouched; codings of tasks deleted in the UI are kept with status
  ``task-deleted``; a closed round's codings are frozen unless ``--force``.
- **No secrets in output.** Errors are rebuilt from status codes; the API key is never part of
  a message, log line or file other than ``.env``.
"""

from __future__ import annotations

import json
import logging
import time
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pandas as pd

from pipeline.codebook import Codebook, Loaded, load_round
from pipeline.codings.basis import NO_CODE
from pipeline.codings.order import sort_codings
from pipeline.core.citation import clock
from pipeline.core.config import ADJUDICATION, StudyConfig
from pipeline.core.errors import CdaError
from pipeline.core.io import read_table, validate, write_table, write_text
from pipeline.core.paths import Workspace
from pipeline.core.progress import track
from pipeline.core.schemas import CODINGS, SEGMENTS, SUGGESTIONS
from pipeline.labelstudio import labeling as lsconfig
from pipeline.labelstudio.server import Connection, connection

log = logging.getLogger("pipeline")


# talking to the server ------------------------------------------------------------------------


def _reason(exc: Exception) -> str:
    status = _status(exc)
    return f"HTTP {status}" if status else type(exc).__name__


@contextmanager
def talking(conn: Connection, what: str) -> Iterator[None]:
    """Turn transport and HTTP errors into one-line errors that say what to do (no secrets)."""
    from label_studio_sdk.core.api_error import ApiError

    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout):
        raise CdaError(
            f"cannot reach Label Studio at {conn.url} while {what}",
            hint="start it with `make labelstudio WS=…`, or fix LABEL_STUDIO_URL / labelstudio.url",
        ) from None
    except httpx.TransportError as exc:
        raise CdaError(
            f"network error talking to Label Studio at {conn.url} while {what} "
            f"({type(exc).__name__})",
            hint="run the same command again: it resumes without duplicating anything",
        ) from None
    except ApiError as exc:
        status = exc.status_code
        if status in (401, 403):
            raise CdaError(
                f"Label Studio at {conn.url} rejected the API key (HTTP {status}) while {what}",
                hint="check LABEL_STUDIO_API_KEY in the workspace .env (or the environment); "
                "with a personal access token, make sure it has not expired",
            ) from None
        raise CdaError(
            f"Label Studio at {conn.url} answered HTTP {status} while {what}: {_detail(exc.body)}",
            hint="see the server's log (data/labelstudio/server.log for `make labelstudio`)",
        ) from None


def _detail(body: object) -> str:
    if isinstance(body, dict):
        for key in ("detail", "validation_errors", "message"):
            if key in body:
                return str(body[key])[:300]
    return str(body)[:300]


@contextmanager
def session(conn: Connection, config: StudyConfig) -> Iterator:
    """An SDK client for one command; the key is checked first, so a bad key fails before work."""
    from label_studio_sdk import LabelStudio

    with httpx.Client(timeout=config.labelstudio.timeout, follow_redirects=True) as http:
        ls = LabelStudio(base_url=conn.url, api_key=conn.api_key, httpx_client=http)
        with talking(conn, "checking the API key"):
            ls.users.whoami()
        yield ls


def _status(exc: Exception) -> int | None:
    return getattr(exc, "status_code", None)


def _retryable(exc: Exception) -> bool:
    status = _status(exc)
    return isinstance(exc, httpx.TransportError) or (status is not None and status >= 500)


# projects -------------------------------------------------------------------------------------


def title(config: StudyConfig, round_no: int, coder: str) -> str:
    who = ADJUDICATION if coder == ADJUDICATION else f"coder {coder}"
    return f"{config.study} · round-{round_no} · {who}"


def _state(ws: Workspace, round_no: int) -> dict:
    path = ws.ls_state(round_no)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _save_state(ws: Workspace, round_no: int, state: dict) -> None:
    write_text(ws.ls_state(round_no), json.dumps(state, indent=2, sort_keys=True) + "\n")


class ProjectGone(CdaError):
    """A project this workspace created was deleted in Label Studio."""


def find_project(
    ls, conn: Connection, ws: Workspace, config: StudyConfig, round_no: int, coder: str
):
    """The coder's project for the round, or None; a recorded project that vanished is an error."""
    name = title(config, round_no, coder)
    recorded = _state(ws, round_no).get(coder)
    if recorded and recorded.get("url") == conn.url:
        try:
            with talking(conn, f"opening project '{name}'"):
                return _get_project(ls, recorded["id"])
        except _NotFound:
            raise ProjectGone(
                f"Label Studio project '{name}' (id {recorded['id']}) no longer exists at "
                f"{conn.url}: it was deleted in the UI",
                hint=f"the codings of the last pull are kept in data/processed/round-{round_no}/"
                f"codings.parquet; `cda ls push --round {round_no} --recreate` makes a new, "
                "empty project for this coder",
            ) from None
    with talking(conn, "listing projects"):
        for project in ls.projects.list(title=name, page_size=100):
            if project.title == name:
                return project
    return None


class _NotFound(Exception):
    pass


def _get_project(ls, project_id: int):
    from label_studio_sdk.core.api_error import ApiError

    try:
        return ls.projects.get(id=project_id)
    except ApiError as exc:
        if exc.status_code == 404:
            raise _NotFound from None
        raise


def ensure_project(
    ls, conn, ws, config, round_no: int, coder: str, label_config: str, *, recreate: bool = False
):
    """Find or create the coder's project; keep its labeling config in step with the codebook."""
    name = title(config, round_no, coder)
    try:
        project = find_project(ls, conn, ws, config, round_no, coder)
    except ProjectGone:
        if not recreate:
            raise
        project = None
    with talking(conn, f"setting up project '{name}'"):
        if project is None:
            project = ls.projects.create(
                title=name,
                label_config=label_config,
                description=f"Blind coding of round {round_no} ({config.study}); coder {coder}.",
                show_skip_button=True,
                enable_empty_annotation=True,
                maximum_annotations=1,
            )
            log.info("created Label Studio project '%s' (id %s)", name, project.id)
        elif (project.label_config or "").strip() != label_config.strip():
            ls.projects.update(id=project.id, label_config=label_config)
            log.info("updated the labeling config of '%s' from the codebook", name)
    state = _state(ws, round_no)
    state[coder] = {"id": project.id, "title": name, "url": conn.url}
    _save_state(ws, round_no, state)
    return project


def export_tasks(
    ls, conn: Connection, project_id: int, name: str, *, annotated_only: bool = False
) -> list[dict]:
    """A project's tasks with their annotations, through export snapshots.

    Exporting costs Label Studio ~2-3 ms per task. A snapshot that leaves nested predictions,
    drafts and users as ids is about a third faster than the plain export, and a pull asks only
    for tasks with annotations: coded ones and skipped ones, two filters Label Studio applies
    in SQL (its "any annotation" filter checks task by task). Snapshots are deleted afterwards.
    """
    if not annotated_only:
        return _snapshot(ls, conn, project_id, name, {})
    tasks = {}
    for selection in ({"annotated": "only"}, {"skipped": "only"}):
        for task in _snapshot(ls, conn, project_id, name, selection):
            tasks.setdefault(task["id"], task)
    return list(tasks.values())


def _snapshot(ls, conn: Connection, project_id: int, name: str, selection: dict) -> list[dict]:
    lean = {
        "drafts": {"only_id": True},
        "predictions": {"only_id": True},
        "annotations__completed_by": {"only_id": True},
    }
    with talking(conn, f"exporting '{name}'"):
        snapshot = ls.projects.exports.create(
            id=project_id,
            title="cda export",
            task_filter_options=selection,
            serialization_options=lean,
        )
        try:
            while snapshot.status not in ("completed", "failed"):
                time.sleep(0.2)
                snapshot = ls.projects.exports.get(id=project_id, export_pk=snapshot.id)
            if snapshot.status == "failed":
                raise CdaError(
                    f"Label Studio could not export '{name}'",
                    hint="see the server's log (data/labelstudio/server.log)",
                )
            data = b"".join(
                ls.projects.exports.download(
                    id=project_id, export_pk=snapshot.id, export_type="JSON"
                )
            )
        finally:
            ls.projects.exports.delete(id=project_id, export_pk=snapshot.id)
    return json.loads(data)


def _deleted(ls, conn: Connection, task_ids: list[int]) -> set[int]:
    """Which of these task ids no longer exist (rather than having lost their annotations)."""
    from label_studio_sdk.core.api_error import ApiError

    gone = set()
    for task_id in task_ids:
        with talking(conn, f"checking task {task_id}"):
            try:
                ls.tasks.get(id=str(task_id))
            except ApiError as exc:
                if exc.status_code != 404:
                    raise
                gone.add(task_id)
    return gone


# tasks ------------------------------------------------------------------------------------------


def task_data(
    segments: pd.DataFrame, config: StudyConfig, audio: dict[str, str] | None = None
) -> list[dict]:
    """One task per segment: the segment, its dialogue context and (optionally) its audio URL.

    ``segments`` is the full pseudonymised table (context comes from neighbouring turns, coders
    and facilitator alike); facilitator turns are tasks only if ``include_facilitator``.
    """
    n = config.labelstudio.context_turns
    tasks = []
    for _, turns in segments.groupby("recording_id", sort=True):
        turns = turns.sort_values("segment_id").reset_index(drop=True)
        lines = [f"{row.speaker}: {row.text}" for row in turns.itertuples()]
        for i, row in enumerate(turns.itertuples()):
            if row.role == "facilitator" and not config.labelstudio.include_facilitator:
                continue
            data = {
                "segment_id": row.segment_id,
                "recording_id": row.recording_id,
                "group": row.group,
                "speaker": row.speaker,
                "start": None if pd.isna(row.start) else float(row.start),
                "end": None if pd.isna(row.end) else float(row.end),
                "heading": f"{row.speaker} ({row.group}) · {clock(row.start)}–{clock(row.end)}"
                f" · {row.segment_id}",
                "text": row.text,
                "before": "\n".join(lines[max(0, i - n) : i]) or "(start of the recording)",
                "after": "\n".join(lines[i + 1 : i + 1 + n]) or "(end of the recording)",
            }
            if audio is not None:
                data["audio"] = audio[row.segment_id]
            tasks.append(data)
    return tasks


def cut_clips(ws: Workspace, segments: pd.DataFrame) -> dict[str, Path] | None:
    """A WAV clip per segment from the ingested 16 kHz audio; None if any segment lacks audio.

    Clips are sliced from the WAV with the standard library (no re-encoding), written once and
    kept under a name with the segment's times, so pushing 5,000 segments again costs nothing.
    """
    clips: dict[str, Path] = {}
    needed = segments.dropna(subset=["start", "end"])
    if len(needed) < len(segments) or not all(
        ws.wav(r).is_file() for r in segments["recording_id"].unique()
    ):
        return None
    for recording_id, rows in needed.groupby("recording_id"):
        with wave.open(str(ws.wav(recording_id)), "rb") as source:
            rate, frames = source.getframerate(), source.getnframes()
            params = source.getparams()
            for row in rows.itertuples():
                # the times are in the name: a re-transcribed segment gets a new clip
                target = (
                    ws.clips_dir
                    / f"{row.segment_id}_{row.start * 1000:.0f}-{row.end * 1000:.0f}.wav"
                )
                clips[row.segment_id] = target
                if target.is_file():
                    continue
                first = max(0, int(row.start * rate))
                last = min(frames, int(row.end * rate) + 1)
                source.setpos(first)
                audio = source.readframes(max(0, last - first))
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_suffix(".tmp")
                with wave.open(str(tmp), "wb") as out:
                    out.setparams(params)
                    out.writeframes(audio)
                tmp.replace(target)
    return clips


def audio_urls(ws: Workspace, config: StudyConfig, segments: pd.DataFrame) -> dict[str, str] | None:
    """Task audio as Label Studio local-file URLs (relative to the server's document root)."""
    mode = config.labelstudio.audio
    if mode == "none":
        return None
    if mode == "recording":
        if not all(ws.wav(r).is_file() for r in segments["recording_id"].unique()):
            return None
        return {
            row.segment_id: _local_url(ws, ws.wav(row.recording_id))
            for row in segments.itertuples()
        }
    clips = cut_clips(ws, segments)
    if clips is None:
        return None
    return {segment: _local_url(ws, path) for segment, path in clips.items()}


def _local_url(ws: Workspace, path: Path) -> str:
    return f"/data/local-files/?d={path.relative_to(ws.data).as_posix()}"


def predictions_for(
    suggestions: pd.DataFrame, book: Codebook, codebook_hash: str, min_score: float
) -> dict[str, list[dict]]:
    """Machine suggestions as Label Studio predictions: one per segment and source.

    ``model_version`` is ``<source>@<codebook hash>``, so coders (and the pull) can tell which
    source and which version of the codebook proposed a code.
    """
    known = set(book.ids)
    usable = suggestions[suggestions["code"].isin(known) & (suggestions["score"] >= min_score)]
    out: dict[str, list[dict]] = {}
    for (segment, source), rows in usable.groupby(["segment_id", "source"], sort=True):
        codes = sorted(rows["code"].unique())
        out.setdefault(segment, []).append(
            {
                "model_version": f"{source}@{codebook_hash}",
                "score": float(rows["score"].max()),
                "result": [lsconfig.taxonomy_result(book, codes)],
            }
        )
    return out


# push -------------------------------------------------------------------------------------------


@dataclass
class PushResult:
    coder: str
    project_id: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_coded: list[str] = field(default_factory=list)
    predictions: int = 0
    retries: int = 0


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _segment_ids(tasks: list[dict]) -> set[str]:
    return {t["data"].get("segment_id") for t in tasks if t.get("data")}


def import_resumably(
    ls,
    conn: Connection,
    project_id: int,
    tasks: list[dict],
    *,
    batch_size: int,
    retries: int,
    listed: Callable[[], set[str]],
    backoff: float = 0.5,
    description: str = "pushing",
) -> int:
    """Import ``tasks`` in batches; after a failed request, resend only what is still missing.

    A request can fail after the server committed it (the answer is lost on the way back), so a
    blind retry would duplicate the batch. Instead the project's segment ids are listed again
    and the batch is reduced to the missing ones before each retry. The SDK's own retries are
    off for this call for the same reason. Returns the number of retries needed.
    """
    used = 0
    batches = list(_chunks(tasks, batch_size))
    for batch in track(batches, description=description, total=len(batches)):
        attempt = 0
        while batch:
            try:
                ls.projects.import_tasks(
                    id=project_id, request=batch, request_options={"max_retries": 0}
                )
                break
            except Exception as exc:
                if not _retryable(exc):
                    with talking(conn, "importing tasks"):
                        raise
                if attempt >= retries:
                    with talking(conn, "counting the tasks that arrived"):
                        arrived = len(listed())
                    raise CdaError(
                        f"push stopped after {retries} {'retry' if retries == 1 else 'retries'} "
                        f"({_reason(exc)}); the project holds {arrived} task(s)",
                        hint="run the same command again when the server answers: it sends only "
                        "the missing segments, so nothing is duplicated",
                    ) from None
                attempt += 1
                used += 1
                wait = backoff * 2 ** (attempt - 1)
                log.warning(
                    "import request failed (%s); checking what arrived, retry %d/%d in %.1f s",
                    type(exc).__name__, attempt, retries, wait,
                )  # fmt: skip
                time.sleep(wait)
                with talking(conn, "checking which tasks arrived"):
                    present = listed()
                batch = [t for t in batch if t["data"]["segment_id"] not in present]
    return used


def _round_inputs(ws: Workspace, config: StudyConfig, round_no: int) -> tuple[Loaded, pd.DataFrame]:
    loaded = load_round(ws, config, round_no)
    segments = read_table(ws.segments, SEGMENTS)
    return loaded, segments


def _suggestions(ws: Workspace, round_no: int, loaded: Loaded) -> pd.DataFrame | None:
    path = ws.suggestions(round_no)
    if not path.is_file():
        log.info("no suggestions for round %d: tasks go without predictions", round_no)
        return None
    table = read_table(path, SUGGESTIONS)
    stale = table[table["codebook"] != loaded.sha256[:12]]
    if len(stale):
        log.warning(
            "%s comes from another version of the codebook: no predictions pushed "
            "(run `make suggest ROUND=%d` first)", ws.display(path), round_no,
        )  # fmt: skip
        return None
    return table


def push(
    ws: Workspace,
    config: StudyConfig,
    round_no: int,
    *,
    coders: list[str] | None = None,
    recreate: bool = False,
    tasks: list[dict] | None = None,
    predictions: dict[str, list[dict]] | None = None,
) -> list[PushResult]:
    """Push a round's segments to one project per coder (or ``coders``); safe to repeat."""
    from pipeline.codebook import require_open

    loaded, segments = _round_inputs(ws, config, round_no)
    require_open(loaded)
    if tasks is None:
        audio = audio_urls(ws, config, segments)
        if audio is None and config.labelstudio.audio != "none":
            log.info("no extracted audio for every segment: tasks go without an audio player")
        tasks = task_data(segments, config, audio)
        suggestions = _suggestions(ws, round_no, loaded)
        predictions = (
            predictions_for(
                suggestions, loaded.book, loaded.sha256[:12], config.labelstudio.min_score
            )
            if suggestions is not None
            else {}
        )
    has_audio = bool(tasks) and "audio" in tasks[0]
    label_config = lsconfig.labeling_config(loaded.book, audio=has_audio)
    conn = connection(ws, config)
    with session(conn, config) as ls:
        return [
            _push_coder(ls, conn, ws, config, round_no, coder, label_config, tasks, predictions,
                        recreate=recreate, audio=has_audio)
            for coder in coders or config.labelstudio.coders_for(round_no)
        ]  # fmt: skip


def _push_coder(
    ls, conn, ws, config, round_no, coder, label_config, tasks, predictions, *, recreate, audio
) -> PushResult:
    project = ensure_project(ls, conn, ws, config, round_no, coder, label_config, recreate=recreate)
    if audio:
        folder = ws.clips_dir if config.labelstudio.audio == "clip" else ws.audio_dir
        _ensure_storage(ls, conn, project.id, folder)
    return _push_project(ls, conn, config, coder, project, tasks, predictions or {})


def _ensure_storage(ls, conn: Connection, project_id: int, folder: Path) -> None:
    """Local-files storage for the audio folder: Label Studio serves a file only through one."""
    folder.mkdir(parents=True, exist_ok=True)
    with talking(conn, "registering the audio folder"):
        existing = ls.import_storage.local.list(project=project_id)
        if any(Path(s.path or "") == folder for s in existing):
            return
        ls.import_storage.local.create(
            project=project_id, path=str(folder), title="cda audio", use_blob_urls=False
        )


def _push_project(
    ls, conn, config: StudyConfig, coder: str, project, tasks, predictions
) -> PushResult:
    result = PushResult(coder=coder, project_id=project.id)
    existing = {
        t["data"]["segment_id"]: t
        for t in export_tasks(ls, conn, project.id, project.title)
        if t.get("data", {}).get("segment_id")
    }
    fresh = []
    for data in tasks:
        segment = data["segment_id"]
        current = existing.get(segment)
        if current is None:
            fresh.append({"data": data, "predictions": predictions.get(segment, [])})
        elif current["data"] == data:
            result.unchanged += 1
        elif current.get("annotations"):
            result.kept_coded.append(segment)
        else:
            with talking(conn, f"updating the task of {segment}"):
                ls.tasks.update(id=str(current["id"]), data=data)
            result.updated += 1

    def listed() -> set[str]:
        return _segment_ids(export_tasks(ls, conn, project.id, project.title))

    result.retries = import_resumably(
        ls, conn, project.id, fresh,
        batch_size=config.labelstudio.batch_size, retries=config.labelstudio.retries,
        listed=listed, description=f"pushing to {project.title}",
    )  # fmt: skip
    result.created = len(fresh)
    result.predictions = sum(len(p["predictions"]) for p in fresh)
    if existing:
        result.predictions += _add_predictions(ls, conn, project.id, existing, predictions)
    if result.kept_coded:
        log.warning(
            "%d coded task(s) in '%s' have new text in the pipeline and were left as coded "
            "(their spans refer to the text the coder saw): %s",
            len(result.kept_coded), project.title, ", ".join(result.kept_coded[:5]),
        )  # fmt: skip
    return result


def _add_predictions(ls, conn, project_id: int, existing: dict, predictions: dict) -> int:
    """Predictions for tasks that already existed, skipping versions the task already has."""
    from label_studio_sdk import PredictionRequest

    with talking(conn, "listing predictions"):
        have = {(p.task, p.model_version) for p in ls.predictions.list(project=project_id)}
    new = [
        PredictionRequest(
            task=task["id"], model_version=p["model_version"], score=p["score"], result=p["result"]
        )
        for segment, task in existing.items()
        for p in predictions.get(segment, [])
        if (task["id"], p["model_version"]) not in have
    ]
    for batch in _chunks(new, 1000):
        with talking(conn, "importing predictions"):
            ls.projects.import_predictions(id=project_id, request=batch)
    return len(new)


# pull -------------------------------------------------------------------------------------------


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


@dataclass
class PullResult:
    table: pd.DataFrame
    written: bool
    changed_annotations: int
    unknown_codes: dict[str, int]


def pull(ws: Workspace, config: StudyConfig, round_no: int, *, force: bool = False) -> PullResult:
    """Export every coder's project of the round into ``codings.parquet`` (only if changed)."""
    loaded = load_round(ws, config, round_no)
    conn = connection(ws, config)
    path = ws.codings(round_no)
    previous = read_table(path, CODINGS) if path.is_file() else CODINGS.empty()
    with session(conn, config) as ls:
        table = _export_round(ls, conn, ws, config, round_no, loaded, previous)
    return _store_codings(ws, round_no, loaded, table, previous, force=force)


def _export_round(
    ls, conn, ws, config, round_no: int, loaded: Loaded, previous: pd.DataFrame
) -> pd.DataFrame:
    coders = list(config.labelstudio.coders_for(round_no))
    state = _state(ws, round_no)
    if ADJUDICATION in state:
        coders.append(ADJUDICATION)
    frames = []
    for coder in coders:
        name = title(config, round_no, coder)
        project = find_project(ls, conn, ws, config, round_no, coder)
        if project is None:
            log.warning("no project '%s' in Label Studio yet (push first)", name)
            frames.append(previous[previous["coder"] == coder])
            continue
        tasks = export_tasks(ls, conn, project.id, name, annotated_only=True)
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
        deleted = _deleted(ls, conn, checked) if checked else set()
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


# adjudication -----------------------------------------------------------------------------------


def adjudicate(ws: Workspace, config: StudyConfig, round_no: int) -> list[PushResult]:
    """Push the segments the coders disagree on into an adjudication project.

    Each coder's codes (and spans) become a prediction named after the coder, so the
    adjudicator sees both versions side by side and accepts, merges or overrides them.
    """
    from pipeline.codings.presence import disagreements

    loaded, segments = _round_inputs(ws, config, round_no)
    codings = read_table(ws.codings(round_no), CODINGS)
    codings = codings[codings["coder"] != ADJUDICATION]
    disputed = disagreements(codings)
    if disputed.empty:
        log.info("the coders agree on every segment of round %d: nothing to adjudicate", round_no)
        return []
    wanted = set(disputed["segment_id"])
    audio = audio_urls(ws, config, segments)
    tasks = [t for t in task_data(segments, config, audio) if t["segment_id"] in wanted]
    predictions = coder_versions(codings, wanted, loaded.book)
    return push(ws, config, round_no, coders=[ADJUDICATION], tasks=tasks, predictions=predictions)


def coder_versions(codings: pd.DataFrame, wanted: set[str], book: Codebook) -> dict[str, list]:
    """Each coder's version of each disputed segment, as a prediction named after the coder.

    A coder who coded the segment with no code at all made a judgement too: their version is
    a memo reading "(no code)" (followed by their own memo, if any), so the adjudicator sees
    "B applied nothing" rather than B missing from the list.
    """
    judged = codings[
        codings["status"].isin(["coded", "empty"]) & codings["segment_id"].isin(wanted)
    ]
    out: dict[str, list[dict]] = {}
    for (segment, coder), rows in judged.groupby(["segment_id", "coder"], sort=True):
        coded = rows[rows["status"] == "coded"]
        result = []
        choices = sorted(coded[coded["span_start"].isna()]["code"].dropna().unique())
        if choices:
            result.append(lsconfig.taxonomy_result(book, choices))
        for row in coded[coded["span_start"].notna()].itertuples():
            result.append(
                lsconfig.span_result(
                    row.code, int(row.span_start), int(row.span_end), row.span_text
                )
            )
        memo = rows["memo"].dropna()
        note = memo.iloc[0] if len(memo) else None
        if coded.empty:
            note = f"{NO_CODE} {note}" if note else NO_CODE
        if note:
            result.append(lsconfig.memo_result(note))
        out.setdefault(segment, []).append(
            {"model_version": f"coder {coder}", "score": 1.0, "result": result}
        )
    return out
