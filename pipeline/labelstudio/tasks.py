"""What a coder sees in a task: the segment in its dialogue, its audio, machine suggestions.

Everything here is read from the workspace and computed without the server, so a push can be
prepared (and fail on bad input) before anything is sent.
"""

from __future__ import annotations

import logging
import wave
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from pipeline.codebook import Codebook, Loaded, load_round
from pipeline.core.citation import clock
from pipeline.core.config import StudyConfig
from pipeline.core.errors import CdaError
from pipeline.core.io import read_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import SEGMENTS, SUGGESTIONS, UNCERTAINTY
from pipeline.core.transcript import in_turn_order
from pipeline.labelstudio import labeling as lsconfig

log = logging.getLogger("pipeline")

WHY = lsconfig.WHY  # the task field behind the "why suggested" line of the labeling config
NO_SUGGESTION = "(no machine suggestion)"
EVIDENCE_CHARS = 120


def round_inputs(ws: Workspace, config: StudyConfig, round_no: int) -> tuple[Loaded, pd.DataFrame]:
    """The round's codebook and the pseudonymised segments its tasks are made of."""
    loaded = load_round(ws, config, round_no)
    segments = read_table(ws.segments, SEGMENTS)
    return loaded, segments


def task_data(
    segments: pd.DataFrame,
    config: StudyConfig,
    audio: dict[str, str] | None = None,
    *,
    why: Mapping[str, str] | None = None,
) -> list[dict]:
    """One task per segment: the segment, its dialogue context and (optionally) its audio URL.

    ``segments`` is the full pseudonymised table (context comes from neighbouring turns, coders
    and facilitator alike); facilitator turns are tasks only if ``include_facilitator``.
    ``why`` (segment id → text, from :func:`why_suggested`) is what the task's "why suggested"
    line shows; every task has the field, since the labeling config refers to it.
    """
    why = why or {}
    n = config.labelstudio.context_turns
    tasks = []
    for _, turns in segments.groupby("recording_id", sort=True):
        turns = in_turn_order(turns).reset_index(drop=True)
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
                WHY: why.get(row.segment_id, NO_SUGGESTION),
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
    # one pass over plain lists: a pandas group per (segment, source) costs ~1 ms, 5 s for 5,000
    groups: dict[tuple[str, str], tuple[set[str], float]] = {}
    columns = (usable[c].tolist() for c in ("segment_id", "source", "code", "score"))
    for segment, source, code, score in zip(*columns, strict=True):
        codes, best = groups.setdefault((segment, source), (set(), score))
        codes.add(code)
        if score > best:
            groups[segment, source] = (codes, score)
    out: dict[str, list[dict]] = {}
    for segment, source in sorted(groups):  # segments in order, then sources, as before
        codes, best = groups[segment, source]
        out.setdefault(segment, []).append(
            {
                "model_version": f"{source}@{codebook_hash}",
                "score": float(best),
                "result": [lsconfig.taxonomy_result(book, sorted(codes))],
            }
        )
    return out


def why_suggested(
    suggestions: pd.DataFrame, book: Codebook, *, min_score: float = 0.0
) -> dict[str, str]:
    """Per segment, one line per suggested code: source, score, code label and evidence.

    The same suggestions as :func:`predictions_for` (codes of the codebook, score at least
    ``min_score``), so a coder sees why each prediction was made: the matched words, or the
    nearest coded example's id. Evidence of a keyword match quotes the pseudonymised text the
    coder sees anyway; it stays in Label Studio and never goes into a report. Lines are sorted
    by source, then score (scores are comparable within a source only).
    """
    labels = {c.id: c.label for c in book.codes}
    usable = suggestions[suggestions["code"].isin(labels) & (suggestions["score"] >= min_score)]
    usable = usable.sort_values(
        ["segment_id", "source", "score", "code"], ascending=[True, True, False, True]
    )
    lines = (
        usable["source"].astype(str)
        + " "
        + usable["score"].map("{:.2f}".format)
        + " · "
        + usable["code"].map(labels)
        + ": "
        + usable["evidence"].map(_short)
    )
    by_segment: dict[str, list[str]] = {}
    for segment, line in zip(usable["segment_id"].tolist(), lines.tolist(), strict=True):
        by_segment.setdefault(segment, []).append(line)
    return {segment: "\n".join(found) for segment, found in by_segment.items()}


def _short(evidence: str, limit: int = EVIDENCE_CHARS) -> str:
    """Evidence on one line, cut at ``limit`` characters (marked with …): a hint, not a quote."""
    flat = " ".join(str(evidence).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def round_uncertainty(ws: Workspace, round_no: int, loaded: Loaded) -> pd.DataFrame:
    """The learned model's uncertainty per uncoded segment, for ``ls push --order uncertainty``.

    Refused (rather than silently falling back to segment order) when the table is missing,
    empty, or made for another version of the codebook: the coder would otherwise code in an
    order nobody chose.
    """
    path = ws.uncertainty(round_no)
    fix = (
        f"run `cda suggest --round {round_no}` after some segments of the round (or of the "
        "round it `replaces`) are coded, so the learned model can score the rest; or push "
        "with `--order segment`"
    )
    if not path.is_file():
        raise CdaError(
            f"--order uncertainty needs {ws.display(path)}, which does not exist", hint=fix
        )
    table = read_table(path, UNCERTAINTY)
    if table.empty:
        raise CdaError(f"{ws.display(path)} scores no segment: nothing to order by", hint=fix)
    current = loaded.sha256[:12]
    stale = sorted(set(table["codebook"]) - {current})
    if stale:
        raise CdaError(
            f"{ws.display(path)} was made for another version of the codebook "
            f"({', '.join(stale[:3])}, the round's codebook is now {current})",
            hint=fix,
        )
    return table


def order_tasks(tasks: list[dict], uncertainty: pd.DataFrame) -> tuple[list[dict], int]:
    """Tasks most uncertain first; ties and unscored segments keep their segment order.

    Label Studio's labeling stream (sequential sampling, its default) and its task list
    (no sorting chosen) both go by task id, and ids follow import order, so importing in this
    order is what puts the uncertain segments in front of the coder. Returns the tasks and how
    many of them had an uncertainty row.
    """
    scores = dict(zip(uncertainty["segment_id"], uncertainty["uncertainty"], strict=True))
    scored = [(i, t) for i, t in enumerate(tasks) if t["segment_id"] in scores]
    rest = [t for t in tasks if t["segment_id"] not in scores]
    scored.sort(key=lambda pair: (-scores[pair[1]["segment_id"]], pair[0]))
    return [t for _, t in scored] + rest, len(scored)


def round_suggestions(ws: Workspace, round_no: int, loaded: Loaded) -> pd.DataFrame | None:
    """The round's suggestions, or None if absent or made for another version of the codebook."""
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
