"""The ``transcribe`` stage: WhisperX on every ingested recording, step by step, cached.

Steps per recording: ``asr`` → ``align`` → ``diarise`` → ``assign``. Each step's output is
kept in ``data/private/transcribe/<recording_id>/`` under a cache key made of the media hash,
the settings that change that step's output, and the keys of the steps it reads. Changing a
diarisation setting therefore reruns diarisation and speaker assignment but never ASR. The
final WhisperX JSON is what ``cda import`` reads, through the same converter as any
imported transcript.

WhisperX runs in its own virtual environment (see :mod:`pipeline.transcribe.worker`); this
module plans the work, runs one worker process per recording (``--jobs N`` at once, or as a
SLURM array), shows progress and reports the real-time factor.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from pipeline.core.config import StudyConfig, TranscribeConfig
from pipeline.core.env import environment
from pipeline.core.errors import CdaError
from pipeline.core.io import sha256_file, write_csv, write_text
from pipeline.core.manifest import read_audio_index, read_manifest
from pipeline.core.paths import Workspace, local_tool
from pipeline.core.schemas import TRANSCRIPTS
from pipeline.transcribe.choice import Choice, choose_diariser
from pipeline.transcribe.jobs import Job, Outcome
from pipeline.transcribe.slurm import slurm_script, usable_cpus
from pipeline.transcribe.steps import (
    STEPS,
    pending_steps,
    read_state,
    rttm_path,
    speaker_bounds,
    state_file,
    step_keys,
    step_outputs,
)

__all__ = [
    "Job",
    "Outcome",
    "pending_steps",
    "plan",
    "real_time_factor",
    "resolve_python",
    "run_transcribe",
    "slurm_script",
    "step_keys",
    "usable_cpus",
]

log = logging.getLogger(__name__)

WORKER = Path(__file__).with_name("worker.py")


def localise(ws: Workspace, config: TranscribeConfig) -> TranscribeConfig:
    """Paths in cda.yaml are relative to the workspace root; model names stay names."""

    def folder(value: str | None) -> str | None:
        if value is None:
            return None
        path = Path(value).expanduser()
        # normpath, not resolve(): a venv's bin/python is a symlink that must stay unresolved.
        return os.path.normpath(path if path.is_absolute() else ws.root / path)

    def existing(value: str | None) -> str | None:
        local = folder(value)
        return local if local is not None and Path(local).exists() else value

    return config.model_copy(
        update={
            "model": existing(config.model),
            "align_model": existing(config.align_model),
            "python": folder(config.python),
            "nltk_data": folder(config.nltk_data),
            "model_dir": folder(config.model_dir),
        }
    )


def resolve_python(config: TranscribeConfig, env: dict[str, str]) -> Path:
    """The WhisperX environment's interpreter: cda.yaml, then CDA_WHISPERX_PYTHON, then .venvs."""
    value = config.python or env.get("CDA_WHISPERX_PYTHON")
    python = (
        Path(value).expanduser() if value else local_tool(".venvs", "whisperx", "bin", "python")
    )
    if not python.is_file():
        raise CdaError(
            f"WhisperX environment not found ({python})",
            hint="run `make setup-transcribe` (creates .venvs/whisperx, ~7.6 GB), or set "
            "transcribe.python / CDA_WHISPERX_PYTHON to the python of an environment with "
            "whisperx 3.8 installed",
        )
    return python


def worker_env(config: TranscribeConfig, env: dict[str, str], threads: int) -> dict[str, str]:
    """Environment of the worker: offline unless downloads are allowed, telemetry off."""
    out = dict(env)
    out.update(
        {
            "PYANNOTE_METRICS_ENABLED": "0",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": str(threads),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if not config.allow_download:
        out["HF_HUB_OFFLINE"] = "1"
        out["TRANSFORMERS_OFFLINE"] = "1"
    if config.nltk_data:
        out["NLTK_DATA"] = config.nltk_data
    if config.model_dir and "HF_HOME" not in env:
        out["HF_HOME"] = config.model_dir
    return out


def build_request(
    ws: Workspace,
    config: TranscribeConfig,
    *,
    recording_id: str,
    language: str,
    speakers: tuple[int | None, int | None],
    steps: tuple[str, ...],
    threads: int,
    choice: Choice | None = None,
) -> dict:
    model_dir, model, align_model = config.model_dir, config.model, config.align_model
    return {
        "audio": str(ws.wav(recording_id).resolve()),
        "steps": list(steps),
        "outputs": {k: str(v.resolve()) for k, v in step_outputs(ws, recording_id).items()},
        "language": language,
        "device": config.device,
        "compute_type": config.compute_type,
        "threads": threads,
        "allow_download": config.allow_download,
        "asr": {
            "model": model,
            "model_dir": model_dir,
            "batch_size": config.batch_size,
            "beam_size": config.beam_size,
            "chunk_size": config.chunk_size,
            "vad_method": config.vad_method,
            "vad_onset": config.vad_onset,
            "vad_offset": config.vad_offset,
            "initial_prompt": config.initial_prompt,
        },
        "align": {
            "enabled": config.align,
            "model": align_model,
            "model_dir": model_dir,
            "interpolate_method": config.interpolate_method,
        },
        "diarise": {
            "enabled": config.diarise,
            "method": choice.method if choice else config.diarise_method,
            "requested": choice.requested if choice else config.diarise_method,
            "why": choice.why if choice else "",
            "model": config.diarise_model,
            "model_dir": model_dir,
            "rttm": str(rttm_path(ws, recording_id).resolve()),
            "num_speakers": None,
            "min_speakers": speakers[0],
            "max_speakers": speakers[1],
        },
        "assign": {"fill_nearest": config.fill_nearest},
    }


def plan(
    ws: Workspace,
    config: StudyConfig,
    *,
    only: list[str] | None = None,
    force: bool = False,
    jobs: int = 1,
) -> list[Job]:
    """The recordings that need work, with the steps each needs. Pure: runs nothing."""
    manifest = read_manifest(ws, required=True)
    media = manifest[manifest["media"].notna() & manifest["transcript"].isna()]
    if only:
        unknown = sorted(set(only) - set(media["recording_id"]))
        if unknown:
            raise CdaError(
                f"no ingested recording called {', '.join(unknown)} in {ws.display(ws.manifest)}",
                hint="run `cda ingest FILE --group G` first; recordings with a transcript are "
                "imported, not transcribed",
            )
        media = media[media["recording_id"].isin(only)]
    audio = read_audio_index(ws)
    tconf = localise(ws, config.transcribe)
    threads = tconf.threads or max(1, usable_cpus(os.environ) // max(1, jobs))
    choice = choose_diariser(tconf, environment(ws))
    planned = []
    for _, row in media.iterrows():
        rid = row["recording_id"]
        wav = ws.wav(rid)
        info = audio.get(rid)
        if info is None or not wav.is_file() or info["media_sha256"] != row["media_sha256"]:
            raise CdaError(
                f"no current audio for '{rid}' in {ws.display(ws.audio_dir)}",
                hint="run `cda ingest` (or `make ingest`) first",
            )
        rttm_sha = None
        if tconf.diarise and choice.method == "rttm":
            rttm = rttm_path(ws, rid)
            if not rttm.is_file():
                raise CdaError(
                    f"transcribe.diarise_method is 'rttm' but {ws.display(rttm)} does not exist",
                    hint="put the speaker turns of the recording there, or use 'auto' "
                    "(pyannote with a token, else senko)",
                )
            rttm_sha = sha256_file(rttm)
        language = row["language"] if isinstance(row["language"], str) else config.language
        speakers = speaker_bounds(tconf, row)
        keys = step_keys(
            tconf,
            media_sha256=info["media_sha256"],
            language=language,
            speakers=speakers,
            rttm_sha256=rttm_sha,
            method=choice.method,
        )
        steps = pending_steps(keys, read_state(ws, rid), step_outputs(ws, rid), force=force)
        request = build_request(
            ws,
            tconf,
            recording_id=rid,
            language=language,
            speakers=speakers,
            steps=steps,
            threads=threads,
            choice=choice,
        )
        planned.append(Job(rid, wav, float(info["duration"]), steps, keys, request))
    return planned


EventHandler = Callable[[str, dict], None]


def run_worker(
    ws: Workspace, job: Job, python: Path, env: dict[str, str], on_event: EventHandler
) -> Outcome:
    """Run the worker for one job; translate its JSON-line events and errors."""
    folder = ws.transcribe_dir / job.recording_id
    folder.mkdir(parents=True, exist_ok=True)
    request_file = folder / "request.json"
    write_text(request_file, json.dumps(job.request, indent=2, ensure_ascii=False) + "\n")
    outcome = Outcome(job.recording_id, job.duration, {}, keys=job.keys)
    error: dict | None = None
    state = read_state(ws, job.recording_id)
    stderr: list[str] = []
    with subprocess.Popen(
        [str(python), str(WORKER), str(request_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        reader = threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True)
        reader.start()
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a library printing to stdout; the log keeps stderr
            kind = event.get("event")
            if kind == "device":
                outcome.device, outcome.compute_type = event["device"], event["compute_type"]
            elif kind == "done":
                step = event["step"]
                outcome.timings[step] = float(event["seconds"])
                state[step] = {
                    "key": job.keys[step],
                    "seconds": event["seconds"],
                    "device": outcome.device,
                    "compute_type": outcome.compute_type,
                }
                # Persist per step: a failure in a later step keeps what is already done.
                write_text(state_file(ws, job.recording_id), json.dumps(state, indent=2) + "\n")
            elif kind == "error":
                error = event
            on_event(job.recording_id, event)
        code = proc.wait()
        reader.join()
    log_file = folder / "worker.log"
    write_text(log_file, "".join(stderr))
    if error is not None:
        raise CdaError(f"{job.recording_id}: {error['message']}", hint=error["hint"])
    if code != 0:
        tail = next((s.strip() for s in reversed(stderr) if s.strip()), "no message")
        raise CdaError(
            f"{job.recording_id}: the WhisperX worker failed (exit {code}): {tail}",
            hint=f"see {ws.display(log_file)}",
        )
    return outcome


def transcript_summary(path: Path) -> tuple[int, int]:
    """Segments and distinct speakers in a final WhisperX JSON."""
    result = json.loads(path.read_text(encoding="utf-8"))
    segments = result.get("segments", [])
    speakers = {s["speaker"] for s in segments if s.get("speaker")}
    return len(segments), len(speakers)


def diarisation_provenance(ws: Workspace, recording_id: str) -> tuple[str | None, ...]:
    """Method, model and note of a recording's diarisation output (None where unknown).

    The note says why ``auto`` chose the method and which speaker-count hints the diariser
    applied, so a reader of the index or the report knows how far the speakers are guessed.
    """
    path = step_outputs(ws, recording_id)["diarise"]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None, None
    if not isinstance(data, dict):
        return None, None, None
    source = data.get("source")
    if data.get("method") == "rttm" and isinstance(source, str):
        source = Path(source).name
    notes = [data["why"]] if data.get("requested") == "auto" and data.get("why") else []
    notes += [n for n in data.get("notes", []) if isinstance(n, str)]
    if isinstance(data.get("speakers_found"), int):
        notes.append(f"{data['speakers_found']} speakers found")
    if data.get("method") == "senko":
        notes.append("one speaker at a time, so overlap is unknown")
    return data.get("method"), source, "; ".join(notes) or None


def collect(ws: Workspace, config: StudyConfig, planned: list[Job]) -> int:
    """Write the index from cached steps only, for work done elsewhere (a SLURM array).

    A recording with a pending step is refused, before anything is written, rather than run
    here: on a cluster's login node that would be the hours of ASR the array was for. Returns
    how many recordings were collected.
    """
    pending = [job for job in planned if job.steps]
    if pending:
        listed = "; ".join(f"{job.recording_id} ({'+'.join(job.steps)})" for job in pending[:5])
        more = f" and {len(pending) - 5} more" if len(pending) > 5 else ""
        raise CdaError(
            f"transcribe --collect: {len(pending)} recording(s) still have steps to run: "
            f"{listed}{more}",
            hint="a task failed or has not run: read the array's DIR/*.log, then write an "
            "array of just these with `cda transcribe --slurm DIR` and submit it; or drop "
            "--collect to run them here",
        )
    write_index(ws, config)
    return len(planned)


def write_index(ws: Workspace, config: StudyConfig) -> None:
    """One row per transcribed recording: what produced it and how long each step took."""
    manifest = read_manifest(ws, required=True)
    tconf = config.transcribe
    enabled = {
        "asr",
        "assign",
        *(["align"] if tconf.align else []),
        *(["diarise"] if tconf.diarise else []),
    }
    rows = []
    for _, row in manifest[manifest["media"].notna() & manifest["transcript"].isna()].iterrows():
        rid = row["recording_id"]
        final = ws.transcript_json(rid)
        state = read_state(ws, rid)
        if not final.is_file() or "assign" not in state:
            continue
        segments, speakers = transcript_summary(final)
        asr = state.get("asr", {})
        diarised = "diarise" in state and tconf.diarise
        method, model, note = diarisation_provenance(ws, rid) if diarised else (None,) * 3
        rows.append(
            {
                "recording_id": rid,
                "media_sha256": row["media_sha256"],
                "model": config.transcribe.model,
                "device": asr.get("device"),
                "compute_type": asr.get("compute_type"),
                "steps": "+".join(s for s in STEPS if s in state and s in enabled),
                "diarised": diarised,
                "diarise_method": method,
                "diarise_model": model,
                "diarise_note": note,
                "key": state["assign"]["key"],
                "audio_seconds": row["duration"],
                **{f"{s}_seconds": state.get(s, {}).get("seconds") for s in STEPS},
                "segments": segments,
                "speakers": speakers,
            }
        )
    frame = pd.DataFrame(rows, columns=TRANSCRIPTS.names) if rows else TRANSCRIPTS.empty()
    write_csv(frame, TRANSCRIPTS, ws.transcribe_index, only_if_changed=True)


def run_transcribe(
    ws: Workspace,
    config: StudyConfig,
    *,
    jobs: int = 1,
    only: list[str] | None = None,
    force: bool = False,
    on_event: EventHandler | None = None,
    planned: list[Job] | None = None,
) -> list[Outcome]:
    """Transcribe every ingested recording that needs it; ``jobs`` recordings at a time.

    ``planned`` is a :func:`plan` the caller already made (the CLI sizes its progress bars
    from it); otherwise the plan is made here.
    """
    if planned is None:
        planned = plan(ws, config, only=only, force=force, jobs=jobs)
    planned = [job for job in planned if job.steps]
    outcomes: list[Outcome] = []
    if planned:
        env = environment(ws)
        tconf = localise(ws, config.transcribe)
        python = resolve_python(tconf, env)
        threads = planned[0].request["threads"]
        wenv = worker_env(tconf, env, threads)
        handler = on_event or (lambda rid, event: None)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(run_worker, ws, job, python, wenv, handler) for job in planned]
            outcomes = [future.result() for future in futures]
    if not only:
        write_index(ws, config)
    return outcomes


def real_time_factor(outcomes: list[Outcome]) -> dict[str, float]:
    """Processing seconds per second of audio, per step and in total (lower is faster)."""
    audio = sum(o.duration for o in outcomes)
    if audio <= 0:
        return {}
    factors = {
        step: sum(o.timings.get(step, 0.0) for o in outcomes) / audio
        for step in STEPS
        if any(step in o.timings for o in outcomes)
    }
    factors["total"] = sum(o.seconds for o in outcomes) / audio
    return factors
