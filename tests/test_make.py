"""The make graph: a full run on the sample, a no-op rerun, and per-stage config invalidation."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.cli.init import init_workspace
from pipeline.core.paths import Workspace

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="GNU make not installed")


def make(ws: Path, *targets: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    proc = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), *targets, f"WS={ws}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def stages_run(output: str) -> set[str]:
    """Which `cda <stage>` commands make executed."""
    ran = set()
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith("/cda"):
            ran.add(parts[1])
    return ran


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    ws = tmp_path_factory.mktemp("make-ws")
    init_workspace(Workspace.at(ws), sample=True)
    return ws, make(ws, "report")


def test_full_run_builds_every_stage_and_prints_report_path(built: tuple[Path, str]) -> None:
    ws, output = built
    assert stages_run(output) == {
        "config",
        "ingest",
        "transcribe",
        "import",
        "pseudonymise",
        "nlp",
        "topics",
        "report",
    }
    report = ws / "reports" / "round-1" / "index.html"
    assert report.is_file()
    assert f"Report: {report}" in output


def test_second_run_reruns_nothing(built: tuple[Path, str]) -> None:
    ws, _ = built
    assert stages_run(make(ws, "report")) == set()


def test_editing_one_section_reruns_only_its_stage_and_dependents(built: tuple[Path, str]) -> None:
    ws, _ = built
    config = ws / "cda.yaml"
    original = config.read_text()
    config.write_text(original.replace("quotes: false", "quotes: true"))
    assert stages_run(make(ws, "report")) == {"config", "report"}
    config.write_text(
        original.replace("include_facilitator: false", "include_facilitator: true").replace(
            "quotes: false", "quotes: true"
        )
    )
    assert stages_run(make(ws, "report")) == {"config", "topics", "report"}
    # a comment-only edit changes no setting: the snapshots stay, no stage reruns
    config.write_text(config.read_text() + "\n# a note for colleagues\n")
    assert stages_run(make(ws, "report")) == {"config"}
    assert stages_run(make(ws, "report")) == set()


def test_a_stage_whose_output_did_not_change_does_not_rerun_its_dependents(
    built: tuple[Path, str],
) -> None:
    """The sample has no media: a transcription setting reruns `transcribe`, which finds
    nothing to do and keeps its index, so `import` and everything after it stay."""
    ws, _ = built
    config = ws / "cda.yaml"
    config.write_text(config.read_text() + "transcribe:\n  batch_size: 4\n")
    assert stages_run(make(ws, "report")) == {"config", "transcribe"}
    assert stages_run(make(ws, "report")) == set()


def test_editing_markers_reruns_only_the_matching(built: tuple[Path, str]) -> None:
    """Parses are cached and unchanged tables are not rewritten: topics and report stay."""
    ws, _ = built
    markers = ws / "codebooks" / "markers.yaml"
    markers.write_text(markers.read_text() + "# checked by the team on 12 March\n")
    assert stages_run(make(ws, "report")) == {"nlp"}
    assert stages_run(make(ws, "report")) == set()
