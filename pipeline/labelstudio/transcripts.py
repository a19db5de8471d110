"""``cda ls push|pull --transcripts``: correcting machine transcripts in Label Studio.

One project per recording (``<study> · transcript · <recording>``), one task per segment with
its audio clip. The corrector sees and edits the **pseudonymised** segment text (privacy first:
the original labels and names never leave the workspace), prefilled as a prediction, and picks
the speaker among the recording's pseudonyms. A pull writes ``data/interim/corrections.parquet``
(one row per segment whose text or speaker was changed); ``cda pseudonymise`` applies it on top
of the imported transcript, which stays as it was. Segment ids do not change, so only the
stages after pseudonymise see new text. A timed segment's start and end are correctable too
(seconds, prefilled); a segment cannot be split or merged, since that would change ids.

A repeated push needs no export of a project while the server agrees with the record of the
last push (:mod:`pipeline.labelstudio.pushed`, per recording in ``transcripts.pushed.json``);
anything unexpected (no record, another project, a count or a task that disagrees) reads the
project in full, as every push did before.
"""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pandas as pd

from pipeline.core.citation import clock
from pipeline.core.config import StudyConfig
from pipeline.core.errors import CdaError
from pipeline.core.io import read_csv, read_table, write_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import CORRECTIONS, SEGMENTS, SPEAKER_KEY
from pipeline.core.transcript import in_turn_order
from pipeline.labelstudio import pushed
from pipeline.labelstudio.client import Client
from pipeline.labelstudio.projects import export_tasks
from pipeline.labelstudio.pushing import _ensure_storage, import_resumably
from pipeline.labelstudio.tasks import audio_urls

log = logging.getLogger("pipeline")
TRANSCRIPT, SPEAKER, TEXT = "transcript", "speaker", "text"
START, END = "start", "end"
TIME_TOLERANCE = 0.0005
"""A corrected time within half a millisecond of the one shown is the same time (a float
round trip through the browser), never a correction."""
MODEL_VERSION = "transcript-as-pushed"


def title(config: StudyConfig, recording_id: str) -> str:
    return f"{config.study} · transcript · {recording_id}"


def labeling_config(speakers: list[str], *, audio: bool, timed: bool = False) -> str:
    """The correction interface: audio, the text shown, an editable text box, the speaker and,
    for a timed recording, the segment's start and end in seconds."""
    view = ET.Element("View")
    ET.SubElement(view, "Header", value="$heading", size="5")
    if audio:
        ET.SubElement(view, "Audio", name="audio", value="$audio", hotkey="ctrl+space")
    ET.SubElement(view, "Text", name=TEXT, value="$text", selectionEnabled="false")
    ET.SubElement(view, "Header", value="Corrected text", size="6")
    ET.SubElement(
        view, "TextArea", name=TRANSCRIPT, toName=TEXT, editable="true", rows="4",
        maxSubmissions="1", required="true",
    )  # fmt: skip
    ET.SubElement(view, "Header", value="Speaker", size="6")
    choices = ET.SubElement(
        view, "Choices", name=SPEAKER, toName=TEXT, choice="single", showInline="true",
        required="true",
    )  # fmt: skip
    for pseudonym in speakers:
        ET.SubElement(choices, "Choice", value=pseudonym)
    if timed:
        for name, label in ((START, "Start (seconds)"), (END, "End (seconds)")):
            ET.SubElement(view, "Header", value=label, size="6")
            ET.SubElement(view, "Number", name=name, toName=TEXT, min="0", step="0.01")
    ET.indent(view)
    return ET.tostring(view, encoding="unicode")


def recording_speakers(ws: Workspace, segments: pd.DataFrame, recording_id: str) -> list[str]:
    """The recording's pseudonyms: those in its segments and in the key (never a label)."""
    found = set(segments.loc[segments["recording_id"] == recording_id, "speaker"])
    key = read_csv(ws.speaker_key, SPEAKER_KEY, required=False)
    found |= set(key.loc[key["recording_id"] == recording_id, "pseudonym"])
    return sorted(found)


def transcript_tasks(segments: pd.DataFrame, audio: dict[str, str] | None) -> list[dict]:
    """One task per segment of one recording, in turn order, with the prefilled prediction."""
    tasks = []
    for row in in_turn_order(segments).itertuples():
        data = {
            "segment_id": row.segment_id,
            "recording_id": row.recording_id,
            "speaker": row.speaker,
            "text": row.text,
            "heading": f"{row.speaker} · {clock(row.start)}–{clock(row.end)} · {row.segment_id}",
        }
        if audio is not None:
            data["audio"] = audio[row.segment_id]
        result = [
            {"from_name": TRANSCRIPT, "to_name": TEXT, "type": "textarea",
             "value": {"text": [row.text]}},
            {"from_name": SPEAKER, "to_name": TEXT, "type": "choices",
             "value": {"choices": [row.speaker]}},
        ]  # fmt: skip
        if _timed(row.start, row.end):
            data[START], data[END] = float(row.start), float(row.end)
            result += [
                {"from_name": name, "to_name": TEXT, "type": "number", "value": {"number": value}}
                for name, value in ((START, data[START]), (END, data[END]))
            ]
        prediction = {"model_version": MODEL_VERSION, "score": 1.0, "result": result}
        tasks.append({"data": data, "predictions": [prediction]})
    return tasks


def _timed(start: object, end: object) -> bool:
    return not (pd.isna(start) or pd.isna(end))


def _read_state(ws: Workspace) -> dict[str, dict]:
    path = ws.transcript_projects
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        state = None
    if not isinstance(state, dict):
        raise CdaError(
            f"{ws.display(path)}: damaged",
            hint="delete it: the next `cda ls push --transcripts` finds the projects by title",
        )
    return state


def _write_state(ws: Workspace, state: dict[str, dict]) -> None:
    path = ws.transcript_projects
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def _find(client: Client, ws: Workspace, recording_id: str):
    name = title(client.config, recording_id)
    with client.talking("listing projects"):
        for project in client.sdk.projects.list(title=name, page_size=100):
            if project.title == name:
                return project
    return None


def push_records(ws: Workspace) -> pushed.Records:
    """The record of what the last transcript push left in each recording's project."""
    return pushed.Records(ws.transcript_projects.with_name("transcripts.pushed.json"))


# segment → (hash of its task's data, model versions: none, since a transcript push adds
# predictions only with new tasks)
Seen = dict[str, tuple[str, frozenset[str]]]


def _present(
    client: Client, project, record: pushed.Record | None, *, created: bool
) -> tuple[Seen, tuple[int, int], bool]:
    """The project's segments (with their data hashes), its (tasks, predictions) counts and
    whether they came from the record.

    The record is believed only for its own project on this server and while the server
    agrees with it (:func:`pipeline.labelstudio.pushed.server_agrees`); a project created by
    this push is known to be empty; else the project is exported, as before the record.
    """
    if (
        record is not None
        and (record.project_id, record.url) == (project.id, client.url)
        and pushed.server_agrees(client, project, record)
    ):
        return dict(record.segments), (record.tasks, record.predictions), True
    if record is not None:
        log.info("'%s' changed since the last push: reading it in full", project.title)
    exported = [] if created else export_tasks(client, project.id, project.title)
    seen = {
        t["data"]["segment_id"]: (pushed.digest(t["data"]), frozenset())
        for t in exported
        if (t.get("data") or {}).get("segment_id")
    }
    before = (len(exported), sum(len(t.get("predictions") or []) for t in exported))
    return seen, before, False


@dataclass(frozen=True)
class TranscriptPush:
    recording_id: str
    project_id: int
    created: int
    unchanged: int


def push_transcripts(
    ws: Workspace, config: StudyConfig, *, recordings: list[str] | None = None
) -> list[TranscriptPush]:
    """A correction project per recording; a segment already there is not pushed again."""
    segments = read_table(ws.segments, SEGMENTS)
    wanted = recordings or sorted(segments["recording_id"].unique())
    unknown = sorted(set(wanted) - set(segments["recording_id"]))
    if unknown:
        raise CdaError(
            f"no segments for recording(s) {', '.join(unknown)} in {ws.display(ws.segments)}",
            hint="run `cda pseudonymise` first, or name a recording of data/recordings.csv",
        )
    audio = audio_urls(ws, config, segments)
    folder = ws.clips_dir if config.labelstudio.audio == "clip" else ws.audio_dir
    jobs = []
    for rid in wanted:
        rows = segments[segments["recording_id"] == rid]
        timed = bool((rows["start"].notna() & rows["end"].notna()).any())
        tasks = transcript_tasks(rows, audio)
        jobs.append((rid, recording_speakers(ws, segments, rid), timed, tasks))
    results = []
    state = _read_state(ws)
    records = push_records(ws)
    with Client.open(ws, config) as client:
        for rid, speakers, timed, tasks in jobs:
            name = title(config, rid)
            label_config = labeling_config(speakers, audio=audio is not None, timed=timed)
            project = _find(client, ws, rid)
            created = project is None
            with client.talking(f"setting up project '{name}'"):
                if project is None:
                    project = client.sdk.projects.create(
                        title=name, label_config=label_config, maximum_annotations=1,
                        description=f"Correct the transcript of {rid} ({config.study}).",
                        show_collab_predictions=True,
                        model_version=MODEL_VERSION,  # prefill from the pushed text
                    )  # fmt: skip
                elif (project.label_config or "").strip() != label_config.strip():
                    client.sdk.projects.update(id=project.id, label_config=label_config)
            if audio is not None:
                _ensure_storage(client, project.id, folder)
            seen, before, quick = _present(client, project, records.get(rid), created=created)
            fresh = [t for t in tasks if t["data"]["segment_id"] not in seen]

            def listed(pid: int = project.id, name: str = name) -> set[str]:
                return _segment_ids(export_tasks(client, pid, name))

            import_resumably(client, project.id, fresh, listed=listed, description=name)
            if not quick or fresh:
                for task in fresh:  # no versions: a task already there never gets predictions
                    seen[task["data"]["segment_id"]] = (pushed.digest(task["data"]), frozenset())
                made = sum(len(t["predictions"]) for t in fresh)
                expected = (before[0] + len(fresh), before[1] + made)
                pushed.note(client, records, rid, project.id, seen, expected)
            state[rid] = {"id": project.id, "title": name, "url": client.url}
            _write_state(ws, state)
            results.append(TranscriptPush(rid, project.id, len(fresh), len(tasks) - len(fresh)))
    return results


def _segment_ids(tasks: list[dict]) -> set[str]:
    return {t["data"].get("segment_id") for t in tasks if t.get("data")}


def corrections_from_export(
    tasks: list[dict], users: dict[int, str], *, where: str
) -> pd.DataFrame:
    """The tasks' latest annotations as correction rows, only where text or speaker changed.

    A corrected text is compared with the text shown after collapsing whitespace only; an
    annotation without text or speaker is refused (it would blank a segment), naming the task.
    Times count as corrected when start or end differs from the one shown by more than
    :data:`TIME_TOLERANCE`; an emptied time keeps the one shown, and an end before its start
    is refused, naming the task.
    """
    rows = []
    for task in tasks:
        data = task.get("data") or {}
        live = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
        if not data.get("segment_id") or not live:
            continue
        ann = max(live, key=lambda a: (a.get("updated_at") or "", a.get("id") or 0))
        text, speaker, times = None, None, {}
        for item in ann.get("result") or []:
            value = item.get("value") or {}
            if item.get("from_name") == TRANSCRIPT and value.get("text"):
                text = " ".join(" ".join(str(t) for t in value["text"]).split())
            elif item.get("from_name") == SPEAKER and value.get("choices"):
                speaker = str(value["choices"][0])
            elif item.get("from_name") in (START, END) and value.get("number") is not None:
                times[item["from_name"]] = value["number"]
        if not text or not speaker:
            raise CdaError(
                f"{where}: task {task['id']} ({data['segment_id']}) has an annotation without "
                f"{'text' if not text else 'a speaker'}",
                hint="open the task in Label Studio and fill in the corrected text and the "
                "speaker (to keep the machine's version, submit it unchanged)",
            )
        start, end = _corrected_times(task, data, times, where=where)
        moved = start is not None
        if text == " ".join(str(data["text"]).split()) and speaker == data["speaker"] and not moved:
            continue
        who = ann.get("completed_by")
        rows.append(
            {
                "recording_id": data["recording_id"],
                "segment_id": data["segment_id"],
                "text": text,
                "speaker": speaker,
                "original_text": data["text"],
                "original_speaker": data["speaker"],
                "corrector": users.get(who, f"user {who}"),
                "updated_at": ann.get("updated_at"),
                "task_id": task["id"],
                "annotation_id": ann.get("id"),
                "start": start,
                "end": end,
                "original_start": data.get(START) if moved else None,
                "original_end": data.get(END) if moved else None,
            }
        )
    return pd.DataFrame(rows, columns=CORRECTIONS.names)


def _corrected_times(
    task: dict, data: dict, times: dict, *, where: str
) -> tuple[float | None, float | None]:
    """(start, end) when the corrector changed either, else (None, None)."""
    shown = (data.get(START), data.get(END))
    if shown[0] is None or shown[1] is None:
        return None, None  # untimed, or pushed before times were correctable
    values = []
    for name, was in zip((START, END), shown, strict=True):
        value = times.get(name, was)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise CdaError(
                f"{where}: task {task['id']} ({data['segment_id']}): {name} {value!r} is not a "
                "time in seconds",
                hint="open the task in Label Studio and enter seconds from the start of the "
                "recording, e.g. 12.5",
            )
        values.append(float(value))
    start, end = values
    if end < start:
        raise CdaError(
            f"{where}: task {task['id']} ({data['segment_id']}): end {end:.3f}s is before "
            f"start {start:.3f}s",
            hint="open the task in Label Studio and correct the times",
        )
    if abs(start - shown[0]) <= TIME_TOLERANCE and abs(end - shown[1]) <= TIME_TOLERANCE:
        return None, None
    return round(start, 3), round(end, 3)


@dataclass(frozen=True)
class TranscriptPull:
    table: pd.DataFrame
    written: bool
    recordings: int


def pull_transcripts(ws: Workspace, config: StudyConfig) -> TranscriptPull:
    """Every recording's correction project into ``corrections.parquet`` (only if changed).

    Corrections of recordings that have no project any more are kept, so a deleted project
    never loses work.
    """
    state = _read_state(ws)
    if not state:
        raise CdaError("no transcript projects yet", hint="run `cda ls push --transcripts` first")
    path = ws.corrections
    previous = read_table(path, CORRECTIONS) if path.is_file() else CORRECTIONS.empty()
    frames, pulled = [], set()
    with Client.open(ws, config) as client:
        with client.talking("listing users"):
            users = {u.id: u.email or u.username for u in client.sdk.users.list()}
        for rid in sorted(state):
            project = _find(client, ws, rid)
            if project is None:
                log.warning("no transcript project for %s in Label Studio: corrections kept", rid)
                continue
            tasks = export_tasks(client, project.id, project.title, annotated_only=True)
            frames.append(corrections_from_export(tasks, users, where=project.title))
            pulled.add(rid)
    kept = previous[~previous["recording_id"].isin(pulled)]
    frames += [kept] if len(kept) else []
    frames = [f for f in frames if len(f)]
    table = (pd.concat(frames, ignore_index=True) if frames else CORRECTIONS.empty()).sort_values(
        "segment_id", ignore_index=True
    )
    written = write_table(table, CORRECTIONS, path, only_if_changed=True)
    return TranscriptPull(table, written, len(pulled))
