"""``cda ls push --order uncertainty`` and the "why suggested" line, against a real Label Studio
(the session's server, see conftest.py) where it matters: the order a coder is served tasks in,
and what a task stores. Refusals are checked without a server: they come before any request.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest
from test_ls import annotate, make_ws, project_id, project_tasks
from typer.testing import CliRunner

from pipeline import labelstudio as ls
from pipeline.cli import app
from pipeline.codebook import load_round
from pipeline.core.config import load_config
from pipeline.core.errors import CdaError
from pipeline.core.io import read_table, write_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import SEGMENTS, SUGGESTIONS, UNCERTAINTY
from pipeline.labelstudio.tasks import NO_SUGGESTION, order_tasks

CDA = str(Path(sys.executable).with_name("cda"))


def uncertainty_table(ws: Workspace, probabilities: dict[str, float], codebook: str | None = None):
    """The learned model's table as `cda suggest` writes it: u = 1 - |2p - 1| per segment."""
    if codebook is None:
        codebook = load_round(ws, load_config(ws), 1).sha256[:12]
    return pd.DataFrame(
        {
            "segment_id": list(probabilities),
            "uncertainty": [1 - abs(2 * p - 1) for p in probabilities.values()],
            "code": "china-dystopie",
            "probability": list(probabilities.values()),
            "source": "model:tfidf@0123abcd",
            "codebook": codebook,
        }
    )


def served_order(server, pid: int, n: int) -> list[str]:
    """Segment ids in the order Label Studio's labeling stream gives them to a coder: ask for
    the next task (`/api/projects/<id>/next`, what "Label All Tasks" does), code it, ask again."""
    order = []
    headers = {"Authorization": f"Token {server.api_key}"}
    for _ in range(n):
        task = httpx.get(f"{server.url}/api/projects/{pid}/next", headers=headers, timeout=60)
        task.raise_for_status()
        order.append(task.json()["data"]["segment_id"])
        server.client.annotations.create(id=task.json()["id"], result=[])
    return order


def listed_order(server, pid: int) -> list[str]:
    """Segment ids as the project's task list (the Data Manager, no sorting chosen) shows them."""
    return [t.data["segment_id"] for t in server.client.tasks.list(project=pid)]


# ordering, no server -----------------------------------------------------------------------------


def test_order_puts_the_most_uncertain_first_ties_and_unscored_in_segment_order():
    tasks = [{"segment_id": s} for s in ("a", "b", "c", "d", "e")]
    uncertainty = pd.DataFrame(
        {"segment_id": ["d", "b", "e", "z"], "uncertainty": [0.8, 0.8, 1.0, 1.0]}
    )
    ordered, scored = order_tasks(tasks, uncertainty)
    # e (1.0); b and d tie at 0.8 and keep segment order; a, c unscored; z is no task
    assert [t["segment_id"] for t in ordered] == ["e", "b", "d", "a", "c"]
    assert scored == 3
    assert [t["segment_id"] for t in tasks] == ["a", "b", "c", "d", "e"]  # input untouched


def test_an_uncertainty_outside_0_1_is_refused_naming_the_column(tmp_path):
    ws = make_ws(tmp_path / "ws", n=2)
    table = uncertainty_table(ws, {"burgers-1-0001": 0.5}).assign(uncertainty=1.5)
    with pytest.raises(CdaError, match="uncertainty"):
        write_table(table, UNCERTAINTY, ws.uncertainty(1))
    assert not ws.uncertainty(1).exists()


# refusals: before any request (nothing listens at the URL, so reaching it would say so) ---------


@pytest.fixture
def nowhere(monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "k" * 40)


def test_uncertainty_order_without_the_table_is_refused_before_contacting_the_server(
    tmp_path, nowhere
):
    ws = make_ws(tmp_path / "ws", n=6)
    with pytest.raises(CdaError, match=r"uncertainty\.parquet, which does not exist") as failed:
        ls.push(ws, load_config(ws), 1, order="uncertainty")
    assert "cda suggest --round 1" in failed.value.hint
    assert "--order segment" in failed.value.hint
    with pytest.raises(CdaError, match="unknown task order 'random'"):
        ls.push(ws, load_config(ws), 1, order="random")
    assert not ws.ls_state(1).exists()


def test_uncertainty_of_another_codebook_version_or_of_no_segment_is_refused(tmp_path, nowhere):
    ws = make_ws(tmp_path / "ws", n=6)
    config = load_config(ws)
    write_table(
        uncertainty_table(ws, {"burgers-1-0001": 0.5}, codebook="0123456789ab"),
        UNCERTAINTY,
        ws.uncertainty(1),
    )
    with pytest.raises(CdaError, match="another version of the codebook") as failed:
        ls.push(ws, config, 1, order="uncertainty")
    assert "0123456789ab" in failed.value.message and "cda suggest" in failed.value.hint
    write_table(UNCERTAINTY.empty(), UNCERTAINTY, ws.uncertainty(1))
    with pytest.raises(CdaError, match="scores no segment"):
        ls.push(ws, config, 1, order="uncertainty")
    assert not ws.ls_state(1).exists()


def test_the_config_key_sets_the_order_and_the_cli_flag_wins(tmp_path, nowhere):
    ws = make_ws(tmp_path / "ws", n=6, order="uncertainty")
    assert load_config(ws).labelstudio.order == "uncertainty"
    by_config = subprocess.run(
        [CDA, "ls", "push", "-w", str(ws.root)], capture_output=True, text=True
    )
    output = by_config.stdout + by_config.stderr
    assert by_config.returncode == 2 and "Traceback" not in output, output
    assert "uncertainty.parquet" in output and "--order segment" in output
    by_flag = subprocess.run(
        [CDA, "ls", "push", "-w", str(ws.root), "--order", "segment"],
        capture_output=True,
        text=True,
    )
    output = by_flag.stdout + by_flag.stderr
    assert by_flag.returncode == 2, output
    assert "cannot reach Label Studio at http://127.0.0.1:9" in output  # past the order check
    assert "uncertainty.parquet" not in output


# a real push -------------------------------------------------------------------------------------


def test_uncertainty_order_is_the_order_label_studio_serves_and_lists_new_tasks(tmp_path, ls_env):
    ws = make_ws(tmp_path / "ws", n=12, coders=("A",))
    # participant turns burgers-1-0001..0005 and deskundigen-1-0007..0011 (0000, 0006: facilitator)
    probabilities = {
        "burgers-1-0003": 0.5,  # u = 1 - |1.0 - 1| = 1.0
        "deskundigen-1-0009": 0.4,  # u = 1 - |0.8 - 1| = 0.8
        "deskundigen-1-0011": 0.6,  # u = 1 - |1.2 - 1| = 0.8, a tie: after 0009 (segment order)
        "burgers-1-0001": 0.95,  # u = 1 - |1.9 - 1| = 0.1
        "deskundigen-1-0006": 0.5,  # the facilitator's turn: no task, no place
    }
    write_table(uncertainty_table(ws, probabilities), UNCERTAINTY, ws.uncertainty(1))
    expected = [
        "burgers-1-0003", "deskundigen-1-0009", "deskundigen-1-0011", "burgers-1-0001",
        # unscored, in segment order
        "burgers-1-0002", "burgers-1-0004", "burgers-1-0005",
        "deskundigen-1-0007", "deskundigen-1-0008", "deskundigen-1-0010",
    ]  # fmt: skip

    (result,) = ls.push(ws, load_config(ws), 1, order="uncertainty")

    assert (result.created, result.scored, result.order) == (10, 4, "uncertainty")
    pid = project_id(ws, "A")
    assert listed_order(ls_env, pid) == expected
    assert served_order(ls_env, pid, 10) == expected
    assert json.loads(ws.ls_state(1).read_text())["A"]["last_push"] == {
        "order": "uncertainty",
        "created": 10,
        "scored": 4,
    }

    # two new turns; 0002 becomes the most uncertain, but it is pushed already: it stays put
    segments = read_table(ws.segments, SEGMENTS)
    extra = pd.concat(
        [
            segments.iloc[[1]].assign(segment_id="burgers-1-0098", start=500.0, end=505.0),
            segments.iloc[[1]].assign(segment_id="burgers-1-0099", start=510.0, end=515.0),
        ]
    )
    write_table(pd.concat([segments, extra]), SEGMENTS, ws.segments)
    probabilities |= {"burgers-1-0002": 0.5, "burgers-1-0099": 0.45}  # 0099: u = 0.9
    write_table(uncertainty_table(ws, probabilities), UNCERTAINTY, ws.uncertainty(1))

    again = CliRunner().invoke(app, ["ls", "push", "-w", str(ws.root), "--order", "uncertainty"])

    assert again.exit_code == 0, again.output
    # 0099 is scored (first), 0098 is not; the ten coded tasks keep their place in front
    assert listed_order(ls_env, pid) == [*expected, "burgers-1-0099", "burgers-1-0098"]
    assert (
        "coder A: 2 new task(s) in uncertainty order: 1 scored, most uncertain first, then 1 "
        "unscored in segment order; 10 task(s) already pushed keep their place (not reordered)"
    ) in " ".join(again.output.split())
    assert json.loads(ws.ls_state(1).read_text())["A"]["last_push"] == {
        "order": "uncertainty",
        "created": 2,
        "scored": 1,
    }


def test_tasks_show_why_each_code_was_suggested_and_predictions_keep_their_scores(tmp_path, ls_env):
    ws = make_ws(tmp_path / "ws", n=6, coders=("A",), min_score=0.3)
    config = load_config(ws)
    loaded = load_round(ws, config, 1)
    rows = [
        ("burgers-1-0001", "china-dystopie", 0.75, "keyword", "China"),
        ("burgers-1-0001", "china-dystopie", 0.62, "similarity:tfidf",
         "nearest coded example burgers-1-0004"),
        ("burgers-1-0001", "vertrouwen-overheid", 0.41, "similarity:tfidf",
         "nearest coded example deskundigen-1-0002"),
        ("burgers-1-0001", "havenots", 0.2, "keyword", "apparaat"),  # below min_score 0.3
        ("burgers-1-0002", "china-dystopie", 0.9, "keyword", "x" * 200),
    ]  # fmt: skip
    suggestions = pd.DataFrame(rows, columns=["segment_id", "code", "score", "source", "evidence"])
    suggestions["codebook"] = loaded.sha256[:12]
    write_table(suggestions, SUGGESTIONS, ws.suggestions(1))

    (result,) = ls.push(ws, config, 1)

    pid = project_id(ws, "A")
    assert '<Text name="why" value="$why" selectionEnabled="false"' in (
        ls_env.client.projects.get(id=pid).label_config
    )
    tasks = {t["data"]["segment_id"]: t for t in project_tasks(ls_env, pid)}
    # by source, then score; labels as the coder sees them; the 0.2 suggestion stays out
    assert tasks["burgers-1-0001"]["data"]["why"] == (
        "keyword 0.75 · China als dystopie: China\n"
        "similarity:tfidf 0.62 · China als dystopie: nearest coded example burgers-1-0004\n"
        "similarity:tfidf 0.41 · Vertrouwen in de overheid: nearest coded example "
        "deskundigen-1-0002"
    )
    # 200 characters of evidence: the first 119 and an ellipsis, 120 in all
    assert tasks["burgers-1-0002"]["data"]["why"] == "keyword 0.90 · China als dystopie: " + (
        "x" * 119 + "…"
    )
    assert tasks["deskundigen-1-0003"]["data"]["why"] == NO_SUGGESTION  # none for it
    stored = {
        (p.task, p.model_version): (p.score, p.result[0]["value"])
        for p in ls_env.client.predictions.list(project=pid)
    }
    task = tasks["burgers-1-0001"]["id"]
    version = loaded.sha256[:12]
    assert stored[(task, f"keyword@{version}")] == (0.75, {"taxonomy": [["china-dystopie"]]})
    assert stored[(task, f"similarity:tfidf@{version}")] == (
        0.62,
        {"taxonomy": [["china-dystopie"], ["vertrouwen-overheid"]]},
    )
    assert result.predictions == 3

    # the coder codes 0001; new evidence reaches the coded task (same text, so its spans hold)
    annotate(ls_env, pid, {"burgers-1-0001": ["china-dystopie"]})
    suggestions.loc[0, "evidence"] = "China, alles"
    write_table(suggestions, SUGGESTIONS, ws.suggestions(1))

    (again,) = ls.push(ws, config, 1)

    assert (again.updated, again.kept_coded, again.created) == (1, [], 0)
    task = {t["data"]["segment_id"]: t for t in project_tasks(ls_env, pid)}["burgers-1-0001"]
    assert task["data"]["why"].startswith("keyword 0.75 · China als dystopie: China, alles\n")
    assert len(task["annotations"]) == 1


DEBATE_BOOK = """\
study: {study}
round: 1
codes:
  - id: herstel
    label: Herstel van de toeslagenaffaire
    description: Het herstel voor gedupeerde ouders en de uitvoeringsorganisatie.
    keywords: [herstel, gedupeerden, ouders]
  - id: schulden
    label: Schulden en deurwaarders
    description: Schulden, beslag en gerechtsdeurwaarders.
    keywords: [schulden, deurwaarder, gerechtsdeurwaarders]
"""


def test_the_real_debate_goes_most_uncertain_first_with_real_keyword_evidence(tmp_path, ls_env):
    """The shared ParlaMint debate (untimed, one recording), real keyword suggestions, a push."""
    import uuid

    from helpers import parlamint_jsonl

    from pipeline.cli.init import init_workspace
    from pipeline.importers import import_transcripts, register
    from pipeline.pseudonymise import pseudonymise
    from pipeline.suggest import run_suggest

    ws = Workspace.at(tmp_path / "ws")
    study = f"toeslagen-{uuid.uuid4().hex[:8]}"
    init_workspace(ws, study=study, groups=["kamer"])
    with ws.config_file.open("a", encoding="utf-8") as handle:
        handle.write('labelstudio: {"coders": ["A"], "audio": "none"}\n')
        handle.write('suggest: {"similarity": "none"}\n')
    config = load_config(ws)
    register(ws, config, parlamint_jsonl(tmp_path / "debat.jsonl"), recording_id="debat",
             group="kamer")  # fmt: skip
    import_transcripts(ws, config)
    pseudonymise(ws, config)
    (ws.codebooks / study).mkdir(parents=True, exist_ok=True)
    (ws.codebooks / study / "round-1.yaml").write_text(DEBATE_BOOK.format(study=study))
    run_suggest(ws, config, round_no=1)
    segments = read_table(ws.segments, SEGMENTS)
    turns = sorted(segments[segments["role"] != "facilitator"]["segment_id"])  # turn order
    assert len(turns) > 50
    first = {turns[-1]: 0.5, turns[len(turns) // 2]: 0.3, turns[3]: 0.9}  # u = 1.0, 0.6, 0.2
    write_table(uncertainty_table(ws, first), UNCERTAINTY, ws.uncertainty(1))

    (result,) = ls.push(ws, config, 1, order="uncertainty")

    pid = project_id(ws, "A")
    rest = [s for s in turns if s not in first]
    assert listed_order(ls_env, pid) == [turns[-1], turns[len(turns) // 2], turns[3], *rest]
    assert served_order(ls_env, pid, 3) == [turns[-1], turns[len(turns) // 2], turns[3]]
    assert (result.created, result.scored) == (len(turns), 3)
    # every keyword line quotes words of the text the coder sees in that task
    suggested = read_table(ws.suggestions(1), SUGGESTIONS)
    keyword = suggested[suggested["source"] == "keyword"]
    assert len(keyword) >= 5
    tasks = {t["data"]["segment_id"]: t["data"] for t in project_tasks(ls_env, pid)}
    labels = {"herstel": "Herstel van de toeslagenaffaire", "schulden": "Schulden en deurwaarders"}
    for row in keyword.itertuples():
        why, text = tasks[row.segment_id]["why"], tasks[row.segment_id]["text"]
        head = f"keyword {row.score:.2f} · {labels[row.code]}: "
        (line,) = [x for x in why.splitlines() if x.startswith(head)]
        spans = line.removeprefix(head).rstrip("…").split("; ")  # a cut span is still a quote
        assert all(span and span in text for span in spans), (line, text)
    unsuggested = set(turns) - set(suggested["segment_id"])
    assert unsuggested and all(tasks[s]["why"] == NO_SUGGESTION for s in unsuggested)
