"""`cda --help` and `cda <stage> --help` import no data library: a fresh process stays fast.

Measured in a subprocess (a fresh interpreter, as the shell starts one), by what it imported,
not by a clock: which modules are loaded is what makes start-up slow, and it does not vary
with the machine's load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "numpy", "pyarrow", "pydantic", "sklearn", "scipy", "spacy", "jinja2", "yaml")

PROBE = """
import json, sys
from pipeline.cli import main
args, watched = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.argv = ["cda", *args]
try:
    main()
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in watched if m in sys.modules)
stages = sorted(m for m in sys.modules if m.startswith("pipeline.") and not (
    m.startswith("pipeline.cli") or m.startswith("pipeline.core")))
sys.stderr.write(json.dumps({"code": code, "heavy": heavy, "stages": stages}))
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["report", "--help"],
        ["nlp", "--help"],
        ["codebook", "new", "--help"],
        ["ls", "push", "--help"],
        ["export", "--help"],
    ],
)
def test_help_imports_no_data_library_and_no_stage(args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), json.dumps(HEAVY)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=120,
    )  # fmt: skip
    seen = json.loads(done.stderr.strip().splitlines()[-1])
    assert seen["code"] in (0, None), done.stderr
    assert "Usage" in done.stdout  # the help was rendered, not skipped
    assert seen["heavy"] == [], f"cda {' '.join(args)} imported {seen['heavy']}"
    assert seen["stages"] == [], f"cda {' '.join(args)} imported {seen['stages']}"


def test_help_text_is_typer_s_own() -> None:
    """The group class that skips pydantic changes no help: a subcommand's --help lists its
    options, and an unknown option is still refused by Typer with its usual exit status."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cda = [sys.executable, "-c", "from pipeline.cli import main; main()"]
    shown = subprocess.run([*cda, "report", "--help"], capture_output=True, text=True, env=env)
    assert shown.returncode == 0
    assert "--round" in shown.stdout and "--workspace" in shown.stdout
    wrong = subprocess.run([*cda, "report", "--nope"], capture_output=True, text=True, env=env)
    assert wrong.returncode == 2 and "No such option" in wrong.stderr
