"""The make graph is truthful: `make -n`/`make -q` say exactly which stages are out of date.

A full run on the sample, then: a no-op rerun, per-stage settings, markers, a stage whose
output did not change, goals that build each other's optional inputs in one call, and the
whole matrix of "touch a module or a declared input → which stages are out of date", with the
expected answer worked out from the stage registry (declared inputs, outputs and import
closure).
"""

from __future__ import annotations

import glob
import html
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pipeline.cli.init import init_workspace
from pipeline.core import registry
from pipeline.core.paths import Workspace

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.make,
    pytest.mark.skipif(shutil.which("make") is None, reason="GNU make not installed"),
]
# the stages behind make that the sample can build (agreement needs human codings)
GOALS = ["ingest", "transcribe", "import", "pseudonymise", "nlp", "topics", "suggest", "report"]


def make(
    ws: Path, *targets: str, dry: bool = False, check: bool = True, project: Path = ROOT
) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    flags = ["-n"] if dry else []
    proc = subprocess.run(
        ["make", "--no-print-directory", "-C", str(project), *flags, *targets, f"WS={ws}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def invoked(output: str) -> set[str]:
    """Stages make called (`cda run STAGE`), plus `config` when it synced the settings."""
    ran = set()
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].endswith("/cda") and parts[1] == "run":
            ran.add(parts[2])
    return ran


def worked(output: str) -> set[str]:
    """Stages that did their work: called, and not skipped as unchanged."""
    skipped = {
        line.split(":")[0]
        for line in output.splitlines()
        if line.endswith(": inputs, code and settings unchanged; outputs kept")
    }
    return invoked(output) - skipped


def up_to_date(ws: Path, stage: str) -> bool:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    proc = subprocess.run(
        ["make", "-q", "-C", str(ROOT), stage, f"WS={ws}"], capture_output=True, env=env
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode == 0


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    ws = tmp_path_factory.mktemp("make-ws")
    init_workspace(Workspace.at(ws), sample=True)
    return ws, make(ws, "suggest", "report")


def test_full_run_builds_every_stage(built: tuple[Path, str]) -> None:
    ws, output = built
    assert worked(output) == set(GOALS)
    assert (ws / "reports" / "round-1" / "index.html").is_file()
    assert f"report: {ws / 'reports' / 'round-1' / 'index.html'}" in output


def test_up_to_date_workspace_has_nothing_to_do(built: tuple[Path, str]) -> None:
    ws, _ = built
    dry = make(ws, *GOALS, dry=True)
    assert invoked(dry) == set(), dry
    assert all(up_to_date(ws, stage) for stage in GOALS)
    assert invoked(make(ws, "report")) == set()


def test_editing_one_section_reruns_only_its_stage(built: tuple[Path, str]) -> None:
    ws, _ = built
    config = ws / "cda.yaml"
    original = config.read_text()
    config.write_text(original.replace("quotes: false", "quotes: true"))
    assert not up_to_date(ws, "report") and up_to_date(ws, "topics")
    assert invoked(make(ws, "report")) == {"report"}
    config.write_text(
        original.replace("include_facilitator: false", "include_facilitator: true").replace(
            "quotes: false", "quotes: true"
        )
    )
    out = make(ws, "report")
    assert invoked(out) == worked(out) == {"topics", "report"}
    # a comment-only edit changes no setting: the snapshots stay, no stage reruns
    config.write_text(config.read_text() + "\n# a note for colleagues\n")
    assert invoked(make(ws, "report")) == set()


def test_a_stage_whose_output_did_not_change_costs_its_dependents_no_work(
    built: tuple[Path, str],
) -> None:
    """The sample has no media: a transcription setting reruns `transcribe`, which finds
    nothing to do; make calls the stages after it, and each sees unchanged inputs, except
    the report, whose provenance shows every stage's settings."""
    ws, _ = built
    config = ws / "cda.yaml"
    original = config.read_text()
    config.write_text(original + "transcribe:\n  batch_size: 4\n")
    out = make(ws, "report")
    assert worked(out) == {"transcribe", "report"}
    page = html.unescape((ws / "reports" / "round-1" / "index.html").read_text())
    assert '"batch_size": 4' in page
    assert {"import", "pseudonymise", "nlp", "report"} <= invoked(out)
    assert invoked(make(ws, "report")) == set()


def test_a_marker_edit_reruns_the_matching_and_the_report_not_topics(
    built: tuple[Path, str],
) -> None:
    ws, _ = built
    markers = ws / "codebooks" / "markers.yaml"
    original = markers.read_text()
    assert "terms: [wij, we, ons, onze]" in original
    markers.write_text(original.replace("terms: [wij, we, ons, onze]", "terms: [wij, we, ons]"))
    assert not up_to_date(ws, "report")
    out = make(ws, "report")
    assert worked(out) == {"nlp", "report"}, out  # tokens are the same: topics do no work
    themes = (ws / "reports" / "round-1" / "themes.json").stat().st_mtime_ns
    markers.write_text(original)
    make(ws, "report")
    assert (ws / "reports" / "round-1" / "themes.json").stat().st_mtime_ns > themes


def test_goals_that_write_each_others_inputs_in_one_call(built: tuple[Path, str]) -> None:
    """`make suggest report` with no suggestions when make starts: the report must follow
    them (a `$(wildcard)` evaluated at start-up would leave it as it was)."""
    ws, _ = built
    suggestions = ws / "data" / "processed" / "round-1" / "suggestions.parquet"
    suggestions.unlink()
    cda = ROOT / ".venv" / "bin" / "cda"
    subprocess.run([str(cda), "report", "--workspace", str(ws)], check=True, capture_output=True)
    out = make(ws, "suggest", "report")
    assert worked(out) == {"suggest", "report"}, out
    assert invoked(make(ws, "suggest", "report")) == set()


def test_a_real_name_added_to_the_speaker_key_is_masked(built: tuple[Path, str]) -> None:
    """The key is for analysts to fill in by hand: an edit must rerun pseudonymisation."""
    import pandas as pd

    ws, _ = built
    key_path = ws / "data" / "private" / "speakers.csv"
    key = pd.read_csv(key_path, dtype=str, keep_default_na=False)
    segments = pd.read_parquet(ws / "data" / "interim" / "segments.parquet")
    assert segments["text"].str.count(r"\bNederland\b").sum() == 3  # in the sample's talk
    key.loc[key["label"] == "Henk", "real_name"] = "Henk Nederland"
    key.to_csv(key_path, index=False)
    assert not up_to_date(ws, "pseudonymise")
    assert "pseudonymise" in worked(make(ws, "report"))
    masked = pd.read_parquet(ws / "data" / "interim" / "segments.parquet")
    assert masked["text"].str.count(r"\bNederland\b").sum() == 0
    assert invoked(make(ws, "report")) == set()


def test_a_deleted_output_or_snapshot_is_made_again(built: tuple[Path, str]) -> None:
    ws, _ = built
    tokens = ws / "data" / "interim" / "tokens.parquet"  # not nlp's first output
    tokens.unlink()
    assert not up_to_date(ws, "nlp")
    make(ws, "report")
    assert tokens.is_file()
    (ws / ".cda" / "config" / "report.json").unlink()
    make(ws, "report")
    assert (ws / ".cda" / "config" / "report.json").is_file()
    assert invoked(make(ws, *GOALS, dry=True)) == set()


def _downstream(stages: set[str], ws: Path) -> set[str]:
    """Stages reading (transitively) what these write: the registry's inputs and outputs."""
    writers = registry.producers()
    result = set(stages)
    changed = True
    while changed:
        changed = False
        for s in registry.STAGES:
            if s.name in result or s.always:
                continue
            for inp in s.inputs:
                if inp.later_rounds:
                    continue
                present = glob.glob(str(ws / inp.path.format(round=1)))
                if writers.get(inp.path) in result and present:
                    result.add(s.name)
                    changed = True
    return result


def _matches(ws: Path, stage: registry.Stage, path: Path) -> bool:
    for pattern in stage.files("inputs", 1):
        if path in {Path(p) for p in glob.glob(str(ws / pattern))}:
            return True
    return False


def _project_copy(tmp: Path) -> Path:
    """The Makefile and package in a scratch folder (modification times kept), so touching
    its files cannot disturb the checkout, nor edits in the checkout the test."""
    project = tmp / "project"
    shutil.copytree(
        ROOT / "pipeline", project / "pipeline", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("Makefile", "pyproject.toml", "requirements"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, project / name)
    (project / ".venv").symlink_to(ROOT / ".venv")
    return project


def test_touching_any_module_or_input_makes_exactly_its_stages_out_of_date(
    built: tuple[Path, str], tmp_path: Path
) -> None:
    """Each file of every stage's code, each package data file and each declared input in
    the workspace: touched alone, `make -n` must list the stages whose code or inputs hold
    it, and every stage downstream of them, and nothing else."""
    ws, _ = built
    project = _project_copy(tmp_path)
    assert invoked(make(ws, *GOALS, dry=True, project=project)) == set()
    # the generated rules do not change when a file is only touched: keep make from
    # regenerating them on every touch (it would, correctly, and cost 0.6 s a time)
    rules = project / "build" / "stages.mk"
    os.utime(rules, ns=(time.time_ns() + 10**12, time.time_ns() + 10**12))
    runnable = [registry.stage(name) for name in GOALS]
    root = project / "pipeline"
    code = {s.name: set(registry.code_files(s, root)) for s in runnable}
    files = sorted(set().union(*code.values()))
    inputs = sorted(
        {
            Path(p)
            for s in runnable
            for pat in s.files("inputs", 1)
            for p in glob.glob(str(ws / pat))
        }
    )
    assert len(files) > 40 and len(inputs) >= 8
    mismatches = []
    for path in [*files, *inputs]:
        stat = path.stat()
        try:
            future = time.time_ns() + 5_000_000_000  # newer than every output
            os.utime(path, ns=(stat.st_atime_ns, future))
            direct = {s.name for s in runnable if path in code[s.name] or _matches(ws, s, path)}
            expected = _downstream(direct, ws)
            got = invoked(make(ws, *GOALS, dry=True, project=project))
            if got != expected:
                mismatches.append(f"{path}: make says {sorted(got)}, expected {sorted(expected)}")
        finally:
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert not mismatches, "\n".join(mismatches)
    assert invoked(make(ws, *GOALS, dry=True, project=project)) == set()


@pytest.mark.parametrize(
    ("name", "escapable"),
    [("Workshop 1 #2; burgers: deel|1 (100%) [a].txt", True), ("Kosten $5.txt", False)],
)
def test_a_raw_file_name_with_spaces_or_make_syntax_is_one_input(
    tmp_path: Path, name: str, escapable: bool
) -> None:
    """make splits prerequisites at spaces and reads # : ; | as syntax: a transcript called
    "Workshop 1.txt" broke every target. It is one escaped input now; a name make cannot hold
    at all ($) makes its stage run every time, and `cda run` then skips the unchanged work."""
    ws = tmp_path / "ws"
    init_workspace(Workspace.at(ws), study="spaces", groups=["burgers"])
    transcript = tmp_path / name
    transcript.write_text("A: Goedemorgen allemaal.\nB: Ja, goedemorgen.\n", encoding="utf-8")
    cda = ROOT / ".venv" / "bin" / "cda"
    subprocess.run(
        [str(cda), "import", str(transcript), "--recording-id", "workshop-1", "--group",
         "burgers", "--workspace", str(ws)],
        check=True, capture_output=True,
    )  # fmt: skip
    raw = ws / "data" / "raw" / name
    assert raw.is_file()
    out = make(ws, "nlp")
    assert {"import", "nlp"} <= worked(out), out
    assert up_to_date(ws, "import") is escapable
    os.utime(raw, (time.time() + 5, time.time() + 5))  # touched: import is out of date
    assert not up_to_date(ws, "import")
    again = make(ws, "nlp")
    assert "import" in invoked(again) and "import" not in worked(again), again
