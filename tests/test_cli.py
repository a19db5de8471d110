"""The ``cda`` entry point itself: help without the heavy imports. Each test runs the real
console entry point in a subprocess."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pipeline

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
