"""The ``cda`` entry point itself: help without the heavy imports, and errors with or without
their causes (``--verbose``). Each test runs the real console entry point in a subprocess."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline
from pipeline.cli._util import cause_text
from pipeline.cli.init import init_workspace
from pipeline.core.errors import CdaError
from pipeline.core.paths import Workspace

ROOT = Path(__file__).resolve().parents[1]

# Render `cda --help` and the help of every command and group below it, as a user would (each
# through main(), which exits), then report what that imported and how many helps were shown.
HELP_EVERYTHING = """
import json, sys
import typer.main
from typer._click import Context
from pipeline.cli import app, main

def paths(cmd, path):
    yield path
    if hasattr(cmd, "list_commands"):
        for name in cmd.list_commands(Context(cmd)):
            yield from paths(cmd.get_command(Context(cmd), name), [*path, name])

shown = []
for path in paths(typer.main.get_command(app), []):
    sys.argv = ["cda", *path, "--help"]
    try:
        main()
    except SystemExit as exit:
        shown.append([path, exit.code])
print(json.dumps({"shown": shown, "modules": sorted(sys.modules)}))
"""


def python(*args: str) -> subprocess.CompletedProcess:
    """Run this interpreter on this checkout; ``-m pipeline`` is the ``cda`` script's main()."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env
    )


def test_help_imports_neither_pandas_nor_any_stage() -> None:
    run = python("-c", HELP_EVERYTHING)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.splitlines()[-1])
    helps = {" ".join(path): code for path, code in result["shown"]}
    # the whole tree was shown: the root, the groups and their commands (e.g. export qdpx)
    assert {"", "nlp", "kwic", "codebook", "codebook check", "ls pull", "export qdpx"} <= set(helps)
    assert set(helps.values()) == {0}
    loaded = set(result["modules"])
    heavy = {"pandas", "numpy", "pyarrow", "spacy", "sklearn"}
    # every package and module of the library except the CLI itself and core (errors, paths)
    stages = {
        f"pipeline.{m.name}"
        for m in pkgutil.iter_modules(pipeline.__path__)
        if m.name not in ("cli", "core", "resources", "__main__")
    }
    assert {
        "pipeline.nlp",
        "pipeline.labelstudio",
        "pipeline.report",
        "pipeline.codebook",
    } <= stages
    assert loaded & heavy == set()
    assert loaded & stages == set()
    assert "pipeline.core.io" not in loaded  # it imports pandas


def _broken_config(tmp_path: Path) -> Path:
    ws = Workspace.at(tmp_path / "ws")
    init_workspace(ws, study="s", groups=["a"])
    # an unclosed flow sequence: PyYAML fails with a ParserError on line 2
    ws.config_file.write_text("study: s\ngroups: [a, b\nlanguage: nl\n", encoding="utf-8")
    return ws.root


def test_a_user_error_is_one_line_and_a_hint_without_verbose(tmp_path: Path) -> None:
    root = _broken_config(tmp_path)
    run = python("-m", "pipeline", "config", "show", "--workspace", str(root))
    assert run.returncode == 2
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 2, run.stderr
    assert lines[0].startswith(f"error: {root / 'cda.yaml'}:") and "invalid YAML" in lines[0]
    assert lines[1] == "hint: check indentation and quoting"


@pytest.mark.parametrize("flag", ["--verbose", "-v"])
def test_verbose_shows_what_caused_a_user_error(tmp_path: Path, flag: str) -> None:
    root = _broken_config(tmp_path)
    quiet = python("-m", "pipeline", "config", "show", "--workspace", str(root))
    run = python("-m", "pipeline", flag, "config", "show", "--workspace", str(root))
    assert run.returncode == 2
    err = run.stderr
    # the YAML error was raised `from None`; verbose shows it all the same, with its traceback
    cause = err.index("yaml.parser.ParserError")
    link = err.index("During handling of the above exception, another exception occurred:")
    raised = err.index("pipeline.core.errors.CdaError:")
    assert err.index("Traceback (most recent call last):") < cause < link < raised
    assert 'pipeline/core/yamlfile.py", line' in err
    # ... and ends with the same line and hint as without --verbose
    assert err.endswith(quiet.stderr)
    assert "Traceback" not in quiet.stderr


def test_verbose_shows_why_a_parquet_file_is_unreadable(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path / "ws")
    init_workspace(ws, study="s", groups=["a"])
    ws.segments.parent.mkdir(parents=True, exist_ok=True)
    ws.segments.write_bytes(b"not parquet at all")
    args = ("-m", "pipeline", "kwic", "word", "--workspace", str(ws.root))
    quiet = python(*args)
    assert quiet.returncode == 2
    assert quiet.stderr.splitlines()[0].startswith(f"error: {ws.segments}: not a readable parquet")
    assert "Traceback" not in quiet.stderr
    loud = python("-m", "pipeline", "-v", *args[2:])
    assert loud.returncode == 2
    assert "pyarrow.lib.ArrowInvalid" in loud.stderr
    assert loud.stderr.index("ArrowInvalid") < loud.stderr.index("CdaError:")
    assert loud.stderr.endswith(quiet.stderr)


def test_cause_text_follows_direct_and_suppressed_causes_oldest_first() -> None:
    def fail() -> None:
        try:
            try:
                {}["speaker"]
            except KeyError:
                raise ValueError("no speaker column") from None
        except ValueError as exc:
            raise CdaError("segments.parquet: no speakers", hint="rerun import") from exc

    with pytest.raises(CdaError) as caught:
        fail()
    text = cause_text(caught.value)
    key = text.index("KeyError: 'speaker'")
    value = text.index("ValueError: no speaker column")
    error = text.index("CdaError: segments.parquet: no speakers")
    assert key < value < error
    # KeyError -> ValueError was suppressed (context); ValueError -> CdaError is a direct cause
    between_key_and_value = text[key:value]
    between_value_and_error = text[value:error]
    assert "During handling of the above exception" in between_key_and_value
    assert "direct cause of the following exception" in between_value_and_error
    assert text.count("Traceback (most recent call last):") == 3
