"""The README stays true: every command and stage target it must mention is there."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from pipeline.cli import app
from pipeline.core.config import STAGES

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_cli_command_is_documented() -> None:
    names = [c.name for c in app.registered_commands]
    for group in app.registered_groups:
        names += [f"{group.name} {c.name}" for c in group.typer_instance.registered_commands]
    missing = [n for n in names if f"`cda {n}`" not in README]
    assert names and not missing, f"README lacks: {missing}"


def test_every_stage_target_is_in_the_stage_table() -> None:
    help_text = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "help"], capture_output=True, text=True, check=True
    ).stdout
    targets = re.findall(r"^  ([a-z][a-z-]*) ", help_text, flags=re.MULTILINE)
    commands = {c.name for c in app.registered_commands}
    for stage in STAGES:
        assert stage in targets and stage in commands, stage
        assert f"| `{stage}` |" in README, stage


def test_readme_opens_with_one_sentence_then_the_two_commands() -> None:
    body = README.split("\n", 1)[1]
    commands = re.findall(r"^make \w+", body, flags=re.MULTILINE)
    assert commands[:2] == ["make demo", "make test"]
