"""The exploration notebooks run, cell by cell, against a real round (so they never rot)."""

from __future__ import annotations

from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))


@pytest.fixture(scope="module")
def demo_round(tmp_path_factory: pytest.TempPathFactory):
    from helpers import sample_through_nlp

    from pipeline.core.config import load_config
    from pipeline.report import run_report
    from pipeline.suggest import run_suggest
    from pipeline.topics import run_topics

    ws = sample_through_nlp(tmp_path_factory.mktemp("nb") / "ws")
    config = load_config(ws)
    run_suggest(ws, config, round_no=1)
    run_topics(ws, config, round_no=1)
    run_report(ws, config, round_no=1)
    return ws


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_and_reproduces_its_figures(path, demo_round, monkeypatch):
    notebook = jupytext.read(path)
    assert notebook.metadata["jupytext"]["formats"] == "ipynb,py:percent"  # paired
    monkeypatch.setenv("CDA_WORKSPACE", str(demo_round.root))
    monkeypatch.setenv("CDA_ROUND", "1")
    namespace: dict = {"__name__": "__main__"}
    for cell in notebook.cells:
        if cell.cell_type == "code":
            exec(compile(cell.source, f"{path.name}:{cell.get('id', '?')}", "exec"), namespace)
    out = demo_round.report_dir(1) / "notebook"
    for figure in ("theme-shares.png", "theme-cooccurrence.png"):
        assert (out / figure).read_bytes()[:4] == b"\x89PNG", figure


def test_there_is_at_least_one_notebook():
    assert NOTEBOOKS
