"""The ``report`` stage: a self-contained HTML report of a coding round.

Reads only pseudonymised tables (``data/interim``, ``data/processed``), never ``data/private``.
Segments are cited by id, speaker pseudonym and timestamp; verbatim (pseudonymised) text is
shown only when ``report.quotes`` is switched on. Everything is inline: the file opens offline
and prints.

Three steps (:func:`run_report` wires them): :func:`read_report` reads and validates every
input once; :func:`compute_report` is pure (inputs and settings in, tables and values out);
:func:`write_report` validates and renders everything, then writes. The theme section follows
the same split in :mod:`pipeline.report.section`.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import jinja2
import pandas as pd

from pipeline import __version__
from pipeline.core import registry
from pipeline.core.citation import cite, clock
from pipeline.core.config import STAGES, StudyConfig, stage_settings
from pipeline.core.corrections import correction_summary
from pipeline.core.errors import CdaError
from pipeline.core.io import read_csv, read_table, sha256_file, write_bytes, write_text
from pipeline.core.paths import Workspace
from pipeline.core.schemas import (
    CORRECTIONS,
    DOC_TOPICS,
    MARKERS,
    OLD_OUTLIER_LABEL,
    OUTLIER,
    REPLACEMENTS,
    SEGMENTS,
    TOKENS,
    TOO_SHORT,
    TOPICS,
    TRANSCRIPTS,
)
from pipeline.language.corpus import words_per_segment
from pipeline.report.section import (
    ThemeInputs,
    ThemeResult,
    compute_themes,
    read_themes,
    theme_files,
)
from pipeline.report.themes import SHARE_OF, measure


def speaking_time(segments: pd.DataFrame) -> pd.Series:
    return (segments["end"] - segments["start"]).clip(lower=0).fillna(0.0)


def overlap_summary(part: pd.DataFrame) -> tuple[int | None, float | None, int]:
    """(turns spoken over earlier turns, their overlap in seconds, turns whose overlap is known)
    of one recording.

    From the segments' ``overlap`` column (:mod:`pipeline.core.timing`): the count of turns with
    overlap > 0 and the sum of overlap, over the turns whose overlap is known (a turn after an
    untimed one is not); (None, None, 0) when none is, e.g. a transcript without times. The
    third number says how many turns the first two cover.
    """
    known = part["overlap"].dropna()
    if known.empty:
        return None, None, 0
    return int((known > 0).sum()), round(float(known.sum()), 3), len(known)


def recordings_table(
    segments: pd.DataFrame, tokens: pd.DataFrame, *, words: pd.Series | None = None
) -> list[dict]:
    """Per recording: turns, people, words (as everywhere in the report) and overlap.

    ``words``: :func:`words_per_segment` of ``tokens``, if counted already.
    """
    words = words if words is not None else words_per_segment(tokens)
    seg = segments.assign(words=segments["segment_id"].map(words).fillna(0).astype(int))
    rows = []
    for (rid, group), part in seg.groupby(["recording_id", "group"], sort=True):
        people = part[part["role"] == "participant"]["speaker"].nunique()
        overlapping, overlap, known = overlap_summary(part)
        rows.append(
            {
                "recording_id": rid,
                "group": group,
                "segments": len(part),
                "participants": people,
                "facilitator_turns": int((part["role"] == "facilitator").sum()),
                "duration": clock(part["end"].max()),
                "words": int(part["words"].sum()),
                "overlapping_turns": overlapping,
                "overlap_seconds": overlap,
                "overlap_known": known,
            }
        )
    return rows


def speakers_table(
    segments: pd.DataFrame, tokens: pd.DataFrame, *, words: pd.Series | None = None
) -> list[dict]:
    """Turns, speaking time and words per speaker, and their share of the group's talk.

    The share is of time when every participant turn is timed, else of words (see
    :func:`pipeline.report.themes.measure`), so an untimed transcript is not "0 % of the time".
    ``words``: :func:`words_per_segment` of ``tokens``, if counted already.
    """
    unit = measure(segments)
    words = words if words is not None else words_per_segment(tokens)
    seg = segments.assign(
        seconds=speaking_time(segments),
        words=segments["segment_id"].map(words).fillna(0).astype(int),
    )
    group_total = seg.groupby("group")[unit].sum()
    rows = []
    for (group, speaker, role), part in seg.groupby(["group", "speaker", "role"], sort=True):
        total = group_total.get(group, 0.0)
        rows.append(
            {
                "group": group,
                "speaker": speaker,
                "role": role,
                "turns": len(part),
                "seconds": round(float(part["seconds"].sum())) if unit == "seconds" else None,
                "words": int(part["words"].sum()),
                "share": (float(part[unit].sum()) / total) if total else None,
            }
        )
    return rows


def _overlap_row(part: pd.DataFrame) -> dict:
    """Turns, turns whose overlap is known, turns spoken over earlier ones, their overlap in
    seconds, and that overlap as a share of the known turns' speaking time (None: unknown)."""
    known = part[part["overlap"].notna()]
    timed = float((known["end"] - known["start"]).clip(lower=0).sum())
    seconds = round(float(known["overlap"].sum()), 3) if len(known) else None
    return {
        "turns": len(part),
        "overlap_known": len(known),
        "overlapping_turns": int((known["overlap"] > 0).sum()) if len(known) else None,
        "overlap_seconds": seconds,
        "overlap_share": seconds / timed if seconds is not None and timed > 0 else None,
    }


def overlap_tables(segments: pd.DataFrame) -> dict | None:
    """Overlapping speech per speaker and per group, from the segments' ``overlap`` column.

    A turn's overlap is the time it is spoken over earlier turns (:mod:`pipeline.core.timing`),
    so it counts for the speaker who starts while someone is still talking, once. Only turns
    whose overlap is known are counted (``overlap_known`` says how many); a group without any
    gets None, not 0, and the whole section is None when no turn anywhere has overlap known
    (no times): the report then says so instead of showing zeros. The share is overlap over
    the speaking time of the same known turns, so an analyst can redo it from the table.
    """
    if not segments["overlap"].notna().any():
        return None
    speakers = []
    for (group, speaker, role), part in segments.groupby(["group", "speaker", "role"], sort=True):
        speakers.append({"group": group, "speaker": speaker, "role": role, **_overlap_row(part)})
    groups = []
    for group, part in segments.groupby("group", sort=True):
        row = _overlap_row(part)
        known = part[part["overlap"].notna()]
        over = known.loc[known["overlap"] > 0, "speaker"].nunique()
        groups.append(
            {
                "group": group,
                **row,
                "speakers": int(part["speaker"].nunique()),
                "speakers_overlapping": int(over) if len(known) else None,
            }
        )
    return {"speakers": speakers, "groups": groups}


KINDS = {OUTLIER: "outliers", TOO_SHORT: "too short"}


def topics_table(
    topics: pd.DataFrame, doc_topics: pd.DataFrame, segments: pd.DataFrame, *, quotes: bool
) -> tuple[list[dict], list[str]]:
    """Rows of the report's topic table: topics by size, then outliers (-1), then too-short
    units (-2), each with units per group and breadth (distinct speakers) per group."""
    groups = sorted(segments["group"].unique())
    merged = doc_topics.merge(segments[["segment_id", "group", "speaker"]], on="segment_id")
    by_id = segments.set_index("segment_id", drop=False)
    rows = []
    ordered = topics.assign(_special=-topics["topic"].clip(upper=0)).sort_values(
        ["_special", "size", "topic"], ascending=[True, False, True]
    )
    for topic in ordered.drop(columns="_special").itertuples(index=False):
        members = merged[merged["topic"] == topic.topic]
        per_group = {g: int((members["group"] == g).sum()) for g in groups}
        breadth = {g: int(members[members["group"] == g]["speaker"].nunique()) for g in groups}
        reps = [
            cite(by_id.loc[s], quotes=quotes)
            for s in filter(None, topic.representative_segments.split("; "))
        ]
        rows.append(
            {
                "topic": topic.topic,
                "label": topic.label,
                "keywords": topic.keywords,
                "size": topic.size,
                "per_group": per_group,
                "breadth": breadth,
                "representatives": reps,
                "outlier": topic.topic < 0,
                "kind": "outliers or too short"
                if topic.label == OLD_OUTLIER_LABEL
                else KINDS.get(topic.topic, "topic"),
            }
        )
    return rows, groups


def git_commit(path: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=path,
            text=True,
            capture_output=True,
            check=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@dataclass(frozen=True)
class Report:
    path: Path
    context: dict


@dataclass(frozen=True, eq=False)
class ReportInputs:
    """Everything a round's report is computed from, read once (:func:`read_report`): the
    pseudonymised tables, the theme section's inputs, and the provenance of the run."""

    round_no: int
    segments: pd.DataFrame
    tokens: pd.DataFrame
    topics: pd.DataFrame
    doc_topics: pd.DataFrame
    replacements: pd.DataFrame
    markers: pd.DataFrame | None
    themes: ThemeInputs | None  # None: no theme section (no codebook, or nothing coded)
    nlp: dict  # data/interim/nlp.json: which spaCy pipeline ran, what it lacked
    embeddings: dict  # round-N/topics.json and suggest.json: which embeddings ran ({} if none)
    machine_coders: tuple[dict, ...]  # round-N/llm.json: which model coded, how (() if none)
    files: tuple[tuple[str, str], ...]  # (file as shown, sha256 prefix) of every input read
    commit: str
    generated: str
    # data/private/transcribe/index.csv: per machine-transcribed recording, the model and
    # who said what (diarisation method and model); () when nothing was transcribed here
    transcription: tuple[dict, ...] = ()


def transcription_rows(ws: Workspace) -> tuple[dict, ...]:
    """What transcribed and diarised each recording, and who corrected its transcript by hand
    (``cda ls pull --transcripts``), for the provenance: recording ids, models, methods,
    counts and the correctors, never text."""
    rows = {}
    if ws.transcribe_index.is_file():
        for row in machine_rows(read_csv(ws.transcribe_index, TRANSCRIPTS)):
            rows[row["recording_id"]] = row
    if ws.corrections.is_file():
        summary = correction_summary(read_table(ws.corrections, CORRECTIONS))
        for fix in summary.to_dict("records"):
            row = rows.setdefault(fix["recording_id"], {"recording_id": fix["recording_id"]})
            row["corrected"] = {k: v for k, v in fix.items() if k != "recording_id"}
    return tuple(rows[rid] for rid in sorted(rows))


def machine_rows(index: pd.DataFrame) -> list[dict]:
    """The transcribe index's rows as the provenance shows them."""
    rows = []
    for row in index.sort_values("recording_id").itertuples(index=False):
        rows.append(
            {
                "machine": True,
                "recording_id": row.recording_id,
                "model": row.model,
                "device": row.device if isinstance(row.device, str) else "",
                "diarised": bool(row.diarised),
                "method": row.diarise_method if isinstance(row.diarise_method, str) else "",
                "diarise_model": row.diarise_model if isinstance(row.diarise_model, str) else "",
                "note": row.diarise_note if isinstance(row.diarise_note, str) else "",
                "speakers": None if pd.isna(row.speakers) else int(row.speakers),
            }
        )
    return rows


NLP_TEXT_FIELDS = ("pipeline", "spacy_version", "requested", "note", "markers")
NLP_LIST_FIELDS = ("components", "disabled_features")


def read_nlp_info(ws: Workspace) -> dict:
    """``data/interim/nlp.json``: which spaCy pipeline the nlp stage ran (for provenance).

    The file is derived, so a damaged one is not guessed around: the report would state a
    pipeline that did not run. The message says how to write it again.
    """
    path = ws.interim / "nlp.json"
    if not path.is_file():
        return {}
    shown = ws.display(path)
    hint = "the nlp stage writes it: run `cda nlp` (or `cda run nlp --force`) to write it again"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:  # not UTF-8, cut short, nested too deep
        raise CdaError(f"{shown}: damaged, not JSON ({str(exc)[:80]})", hint=hint) from None
    if not isinstance(data, dict):
        raise CdaError(f"{shown}: damaged: holds a {type(data).__name__}, not an object", hint=hint)
    for field in (*NLP_TEXT_FIELDS, *NLP_LIST_FIELDS):
        value = data.get(field)
        fits = (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
            if field in NLP_LIST_FIELDS
            else isinstance(value, str)
        )
        if value is not None and not fits:
            kind = "a list of texts" if field in NLP_LIST_FIELDS else "a text"
            raise CdaError(f"{shown}: damaged: '{field}' is not {kind}", hint=hint)
    return data


def run_record(ws: Workspace, path: Path, stage: str) -> dict:
    """A stage's record of what ran (``topics.json``, ``suggest.json``); {} when absent."""
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CdaError(
            f"{ws.display(path)} is not valid JSON ({exc})",
            hint=f"rerun `cda {stage}` for this round to rewrite it",
        ) from None
    return record if isinstance(record, dict) else {}


MACHINE_FIELDS = ("coder", "model", "base_url_host", "prompt_template_sha256", "finished")


def machine_coders(coders: object) -> tuple[dict, ...]:
    """What the provenance says of each machine coder of ``llm.json`` (``cda code --llm``):
    model, host, template hash, parameters and counts; a field of the wrong kind is left out
    rather than shown as something it is not."""
    if not isinstance(coders, dict):
        return ()
    shown = []
    for name, record in sorted(coders.items()):
        if not isinstance(record, dict):
            continue
        entry = {f: record.get(f) for f in MACHINE_FIELDS if isinstance(record.get(f), str)}
        entry["coder"] = str(name)
        for field in ("parameters", "counts"):
            value = record.get(field)
            entry[field] = value if isinstance(value, dict) else {}
        shown.append(entry)
    return tuple(shown)


def read_report(ws: Workspace, config: StudyConfig, round_no: int) -> ReportInputs:
    """Read and validate every input of the round's report, from pseudonymised tables only."""
    segments = read_table(ws.segments, SEGMENTS)
    tokens = read_table(ws.tokens, TOKENS)
    topics = read_table(ws.topics(round_no), TOPICS)
    doc_topics = read_table(ws.doc_topics(round_no), DOC_TOPICS)
    replacements = read_csv(ws.replacements, REPLACEMENTS, required=False)
    markers = read_table(ws.markers, MARKERS) if ws.markers.is_file() else None
    themes = read_themes(ws, config, round_no, segments=segments, tokens=tokens, markers=markers)
    nlp_info = read_nlp_info(ws)
    embeddings = {
        stage: run_record(ws, ws.round_dir(round_no) / f"{stage}.json", stage)
        for stage in ("topics", "suggest")
    }
    machine = run_record(ws, ws.round_dir(round_no) / "llm.json", "code --llm").get("coders")
    # provenance: every input the stage registry declares for the report, as found
    paths = registry.existing_inputs(ws.root, registry.stage("report"), round_no)
    files = [(ws.display(p), sha256_file(p)[:16]) for p in paths]
    return ReportInputs(
        round_no=round_no,
        segments=segments,
        tokens=tokens,
        topics=topics,
        doc_topics=doc_topics,
        replacements=replacements,
        markers=markers,
        themes=themes,
        nlp=nlp_info,
        embeddings=embeddings,
        machine_coders=machine_coders(machine),
        files=tuple(files),
        commit=git_commit(Path(__file__).parent) or "unknown",
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        transcription=transcription_rows(ws),
    )


@dataclass(frozen=True, eq=False)
class ReportResult:
    """The report computed (:func:`compute_report`), nothing written: what the template
    shows but the theme section, and that section (:class:`ThemeResult`)."""

    context: dict
    themes: ThemeResult | None


def compute_report(inputs: ReportInputs, config: StudyConfig) -> ReportResult:
    """Everything the report shows, from its inputs and the study's settings (no I/O)."""
    round_no, segments, tokens = inputs.round_no, inputs.segments, inputs.tokens
    quotes = config.report.quotes
    topic_rows, groups = topics_table(inputs.topics, inputs.doc_topics, segments, quotes=quotes)
    # the one count of words behind every table: once for the report, not once per table
    words = words_per_segment(tokens)
    themes = (
        compute_themes(
            inputs.themes, config, words=words if inputs.themes.tokens is tokens else None
        )
        if inputs.themes is not None
        else None
    )
    # every section a stage behind make reads, in pipeline order (from the stage registry)
    settings = {
        name: values for stage in STAGES for name, values in stage_settings(config, stage).items()
    }
    # The round this report is of (`cda report --round N`), not cda.yaml's default round.
    settings["report"]["round"] = round_no
    replaced = inputs.replacements.groupby("recording_id")["replacements"].sum()
    context = {
        "study": config.study,
        "round": round_no,
        "quotes": quotes,
        "groups": groups,
        "recordings": recordings_table(segments, tokens, words=words),
        "speakers": speakers_table(segments, tokens, words=words),
        "overlap": overlap_tables(segments),
        "share_of": SHARE_OF[measure(segments)],
        "topics": topic_rows,
        "max_topic": max((t["size"] for t in topic_rows), default=1) or 1,
        "min_tokens": config.topics.min_tokens,
        "replacements": replaced.to_dict(),
        "undiarised": sorted(
            segments.loc[segments["speaker"] == "unknown", "recording_id"].unique()
        ),
        "provenance": {
            "pipeline_version": __version__,
            "commit": inputs.commit,
            "generated": inputs.generated,
            "nlp": inputs.nlp,
            "embeddings": inputs.embeddings,
            "machine_coders": list(inputs.machine_coders),
            "transcription": list(inputs.transcription),
            "settings": json.dumps(settings, indent=1, ensure_ascii=False),
            "config_sha256": hashlib.sha256(
                json.dumps(settings, sort_keys=True).encode()
            ).hexdigest()[:16],
            "inputs": [{"file": name, "sha256": sha} for name, sha in inputs.files],
        },
    }
    return ReportResult(context, themes)


def write_report(result: ReportResult, folder: Path) -> Report:
    """Validate and render everything first, then write the theme files (each only if changed)
    and ``index.html``: a table that breaks its schema, or a template error, writes nothing."""
    themes = theme_files(result.themes, folder) if result.themes is not None else None
    context = {**result.context, "themes": themes.section if themes is not None else None}
    html = render(context)
    for path, data in themes.files.items() if themes is not None else ():
        write_bytes(path, data, only_if_changed=True)
    path = folder / "index.html"
    write_text(path, html)
    return Report(path, context)


def render(context: dict) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2").render(**context)


def run_report(ws: Workspace, config: StudyConfig, *, round_no: int | None = None) -> Report:
    """Build the round's report: read -> compute -> write. Its old outputs are removed first:
    a report that fails to build must not leave the previous one looking current."""
    round_no = round_no or config.report.round
    folder = ws.report_dir(round_no)
    for name in STALE:
        (folder / name).unlink(missing_ok=True)
    inputs = read_report(ws, config, round_no)
    return write_report(compute_report(inputs, config), folder)


STALE = ("index.html", "themes.csv", "themes.json", "framing.csv", "grammar.csv")
