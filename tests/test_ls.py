"""``cda ls push|pull|adjudicate`` against a real Label Studio server (see conftest.py)."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from pipeline import labelstudio as ls
from pipeline.cli import app
from pipeline.cli.init import init_workspace
from pipeline.codebook import load_round, set_state
from pipeline.codings.order import RoundProjects
from pipeline.core.config import load_config
from pipeline.core.errors import CdaError
from pipeline.core.io import read_table, write_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import CODINGS, SEGMENTS, SUGGESTIONS
from pipeline.labelstudio import labeling as lsconfig
from pipeline.labelstudio import pushing
from pipeline.labelstudio.client import Client
from pipeline.labelstudio.server import Connection

CDA = str(Path(sys.executable).with_name("cda"))
CODEBOOK = """\
study: {study}
round: 1
codes:
  - id: digitale-kloof
    label: Digitale kloof
    description: Wie niet mee kan in de digitale samenleving.
  - id: havenots
    label: Have-nots
    description: Geen apparaat of verbinding.
    parent: digitale-kloof
  - id: china-dystopie
    label: China als dystopie
    description: China als voorbeeld van digitale controle.
    keywords: [china]
  - id: vertrouwen-overheid
    label: Vertrouwen in de overheid
    description: Vertrouwen of wantrouwen in de digitale overheid.
"""


def make_ws(
    root: Path, n: int = 12, coders: tuple[str, ...] = ("A", "B"), **ls_settings
) -> Workspace:
    """A workspace with ``n`` pseudonymised segments (two recordings) and a round-1 codebook."""
    ws = Workspace.at(root)
    study = f"t-{uuid.uuid4().hex[:8]}"  # own project titles on the shared server
    init_workspace(ws, study=study, groups=["burgers", "deskundigen"])
    settings = {"rounds": {1: list(coders)}, **ls_settings}
    with ws.config_file.open("a", encoding="utf-8") as handle:
        handle.write("labelstudio: " + json.dumps(settings) + "\n")
    rows = []
    for i in range(n):
        recording = "burgers-1" if i < n / 2 else "deskundigen-1"
        rows.append(
            {
                "recording_id": recording,
                "group": recording.split("-")[0],
                "segment_id": f"{recording}-{i:04d}",
                "start": 10.0 * i,
                "end": 10.0 * i + 8,
                "overlap": 0.0,  # 2 s between turns
                "speaker": "F01" if i % 6 == 0 else f"P{i % 5 + 1:02d}",
                "role": "facilitator" if i % 6 == 0 else "participant",
                "text": f"Segment {i}: in China weten ze alles van je, zegt spreker {i}.",
                "source": "test",
            }
        )
    write_table(pd.DataFrame(rows), SEGMENTS, ws.segments)
    folder = ws.codebooks / study
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "round-1.yaml").write_text(CODEBOOK.format(study=study), encoding="utf-8")
    return ws


def coded_segments(ws: Workspace) -> list[str]:
    segments = read_table(ws.segments, SEGMENTS)
    return segments[segments["role"] != "facilitator"]["segment_id"].tolist()


def project_tasks(server, project_id: int) -> list[dict]:
    data = b"".join(
        server.client.projects.exports.download_sync(project_id, download_all_tasks=True)
    )
    return json.loads(data)


def annotate(server, project_id: int, codes_by_segment: dict[str, list[str]], **extra) -> dict:
    """Create one annotation per segment as a coder would in the UI; returns segment → id."""
    client = server.client
    ids = {}
    for task in project_tasks(server, project_id):
        segment = task["data"]["segment_id"]
        if segment not in codes_by_segment:
            continue
        codes = codes_by_segment[segment]
        if codes == ["<skip>"]:
            ann = client.annotations.create(id=task["id"], result=[], was_cancelled=True)
        else:
            result = (
                [
                    {
                        "from_name": "codes",
                        "to_name": "text",
                        "type": "taxonomy",
                        "value": {"taxonomy": [[c] for c in codes]},
                    }
                ]
                if codes
                else []
            )
            result += extra.get("regions", {}).get(segment, [])
            ann = client.annotations.create(id=task["id"], result=result, lead_time=4.5)
        ids[segment] = ann.id
    return ids


def project_id(ws: Workspace, coder: str) -> int:
    return json.loads(ws.ls_state(1).read_text())[coder]["id"]


# the client and the round's project record (no server needed) -------------------------------------


def test_the_client_turns_each_kind_of_failure_into_one_line_that_never_shows_the_key(tmp_path):
    from label_studio_sdk.core.api_error import ApiError

    ws = make_ws(tmp_path / "ws", n=2)
    key = "k" * 40
    client = Client(Connection("http://127.0.0.1:9", key), load_config(ws), sdk=None)
    cases = [
        (httpx.ConnectError("refused"), "cannot reach Label Studio at http://127.0.0.1:9 while "
         "listing projects", "make labelstudio"),
        (httpx.ReadTimeout("slow"), "network error talking to Label Studio at "
         "http://127.0.0.1:9 while listing projects (ReadTimeout)", "run the same command again"),
        (ApiError(status_code=403, body={"detail": f"Token {key}"}),
         "rejected the API key (HTTP 403) while listing projects", "LABEL_STUDIO_API_KEY"),
        (ApiError(status_code=500, body={"detail": "database is locked"}),
         "answered HTTP 500 while listing projects: database is locked", "server.log"),
    ]  # fmt: skip
    for exc, message, hint in cases:
        with pytest.raises(CdaError) as failed, client.talking("listing projects"):
            raise exc
        assert message in failed.value.message and hint in failed.value.hint
        assert key not in str(failed.value)
    assert key not in repr(client)
    with client.talking("listing projects"):
        pass  # no failure, no error


def test_the_client_retries_lost_connections_and_server_errors_only_with_doubling_waits(tmp_path):
    from label_studio_sdk.core.api_error import ApiError

    ws = make_ws(tmp_path / "ws", n=2, retries=3)
    client = Client(Connection("http://127.0.0.1:9", "k"), load_config(ws), sdk=None, backoff=0.5)
    assert client.retries == 3
    assert Client.retryable(httpx.ReadError("reset")) and Client.retryable(httpx.ReadTimeout("t"))
    assert Client.retryable(ApiError(status_code=502, body=None))
    assert not Client.retryable(ApiError(status_code=404, body=None))  # sending again won't help
    assert not Client.retryable(ApiError(status_code=400, body=None))
    assert not Client.retryable(ValueError("a bug"))
    assert [client.wait(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert Client.reason(ApiError(status_code=502, body=None)) == "HTTP 502"
    assert Client.reason(httpx.ReadError("reset")) == "ReadError"


def test_opening_a_client_without_a_key_fails_before_any_request(tmp_path, monkeypatch):
    ws = make_ws(tmp_path / "ws", n=2)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")  # nothing listens there
    with (
        pytest.raises(CdaError, match="no Label Studio API key") as failed,
        Client.open(ws, load_config(ws)),
    ):
        pass
    assert "make labelstudio" in failed.value.hint


def test_recording_a_coders_project_keeps_the_other_coders(tmp_path):
    ws = make_ws(tmp_path / "ws", n=2)
    projects = RoundProjects(ws, 1)
    assert projects.read() == {} and projects.get("A") is None
    projects.record("A", project_id=3, title="t · round-1 · coder A", url="http://x")
    projects.record("B", project_id=4, title="t · round-1 · coder B", url="http://x")
    projects.record("A", project_id=7, title="t · round-1 · coder A", url="http://x")
    assert json.loads(ws.ls_state(1).read_text()) == {
        "A": {"id": 7, "title": "t · round-1 · coder A", "url": "http://x"},
        "B": {"id": 4, "title": "t · round-1 · coder B", "url": "http://x"},
    }
    assert RoundProjects(ws, 2).read() == {}  # another round, another record


# push --------------------------------------------------------------------------------------------


def with_suggestions(ws, segments: list[str]) -> None:
    """One keyword suggestion (china-dystopie, 0.75) per given segment, for round 1."""
    loaded = load_round(ws, load_config(ws), 1)
    table = pd.DataFrame(
        {
            "segment_id": segments,
            "code": "china-dystopie",
            "score": 0.75,
            "source": "keyword",
            "evidence": "China",
            "codebook": loaded.sha256[:12],
        }
    )
    write_table(table, SUGGESTIONS, ws.suggestions(1))


def test_push_200_tasks_twice_creates_no_duplicates_and_keeps_predictions_single(tmp_path, ls_env):
    ws = make_ws(tmp_path / "ws", n=240)
    config = load_config(ws)
    segments = coded_segments(ws)
    assert len(segments) == 200  # 240 turns, every sixth the facilitator's
    with_suggestions(ws, segments)
    loaded = load_round(ws, config, 1)

    first = ls.push(ws, config, 1)
    second = ls.push(ws, config, 1)

    assert [(r.coder, r.created, r.predictions) for r in first] == [
        ("A", 200, 200),
        ("B", 200, 200),
    ]
    assert [(r.created, r.updated, r.unchanged, r.predictions) for r in second] == [
        (0, 0, 200, 0),
        (0, 0, 200, 0),
    ]
    for coder in ("A", "B"):
        tasks = project_tasks(ls_env, project_id(ws, coder))
        ids = [t["data"]["segment_id"] for t in tasks]
        assert sorted(ids) == sorted(segments)
        assert all(t["total_predictions"] == 1 for t in tasks)
    prediction = ls_env.client.predictions.list(project=project_id(ws, "A"))[0]
    assert prediction.model_version == f"keyword@{loaded.sha256[:12]}"
    assert prediction.result[0]["value"] == {"taxonomy": [["china-dystopie"]]}


def test_tasks_show_dialogue_context_with_pseudonyms_and_a_taxonomy_from_the_codebook(
    tmp_path, ls_env
):
    ws = make_ws(tmp_path / "ws", n=12)
    ls.push(ws, load_config(ws), 1)
    project = ls_env.client.projects.get(id=project_id(ws, "A"))
    assert project.title.endswith("round-1 · coder A")
    config = project.label_config
    # parent theme holds its child; the choice shows the label and stores the id
    assert '<Choice value="Digitale kloof" alias="digitale-kloof"' in config
    assert config.index('alias="havenots"') > config.index('alias="digitale-kloof"')
    assert '<Labels name="spans" toName="text">' in config and 'name="memo"' in config
    task = next(
        t for t in project_tasks(ls_env, project.id) if t["data"]["segment_id"] == "burgers-1-0002"
    )
    assert task["data"]["before"] == (
        "F01: Segment 0: in China weten ze alles van je, zegt spreker 0.\n"
        "P02: Segment 1: in China weten ze alles van je, zegt spreker 1."
    )
    assert task["data"]["after"].startswith("P04: Segment 3:")
    assert task["data"]["heading"] == "P03 (burgers) · 0:00:20–0:00:28 · burgers-1-0002"


def test_push_again_updates_uncoded_text_keeps_coded_tasks_and_adds_new_segments(tmp_path, ls_env):
    ws = make_ws(tmp_path / "ws", n=12, coders=("A",))
    config = load_config(ws)
    ls.push(ws, config, 1)
    pid = project_id(ws, "A")
    annotate(ls_env, pid, {"burgers-1-0001": ["china-dystopie"]})
    segments = read_table(ws.segments, SEGMENTS)
    edited = segments["segment_id"].isin(["burgers-1-0001", "burgers-1-0004"])
    segments.loc[edited, "text"] = "Gecorrigeerde transcriptie."
    extra = segments.iloc[[1]].assign(segment_id="burgers-1-0099", start=500.0, end=505.0)
    write_table(pd.concat([segments, extra]), SEGMENTS, ws.segments)

    (result,) = ls.push(ws, config, 1)

    assert result.created == 1
    assert result.kept_coded == ["burgers-1-0001"]
    tasks = {t["data"]["segment_id"]: t for t in project_tasks(ls_env, pid)}
    assert tasks["burgers-1-0004"]["data"]["text"] == "Gecorrigeerde transcriptie."
    assert tasks["burgers-1-0001"]["data"]["text"].startswith("Segment 1:")  # as coded
    assert tasks["burgers-1-0001"]["annotations"][0]["result"][0]["value"] == {
        "taxonomy": [["china-dystopie"]]
    }
    assert len(tasks) == 11  # 10 participant turns + the new one, no duplicates


# pull and agreement -------------------------------------------------------------------------------


def _two_coders(ws: Workspace, server) -> dict[str, dict[str, int]]:
    """Coders A and B code six participant segments; the expected values are worked out below."""
    ls.push(ws, load_config(ws), 1)
    span = {
        "burgers-1-0001": [
            {
                "from_name": "spans",
                "to_name": "text",
                "type": "labels",
                "value": {"start": 15, "end": 20, "text": "China", "labels": ["china-dystopie"]},
            },
            {
                "from_name": "memo",
                "to_name": "text",
                "type": "textarea",
                "value": {"text": ["China als schrikbeeld"]},
            },
        ]
    }
    a = annotate(
        server,
        project_id(ws, "A"),
        {
            "burgers-1-0001": ["china-dystopie"],
            "burgers-1-0002": ["china-dystopie"],
            "burgers-1-0003": [],
            "burgers-1-0004": ["vertrouwen-overheid"],
            "burgers-1-0005": ["<skip>"],
        },
        regions=span,
    )
    b = annotate(
        server,
        project_id(ws, "B"),
        {
            "burgers-1-0001": ["china-dystopie"],
            "burgers-1-0002": [],
            "burgers-1-0003": [],
            "burgers-1-0004": ["vertrouwen-overheid", "havenots"],
            "burgers-1-0005": ["china-dystopie"],
        },
    )
    return {"A": a, "B": b}


def test_pull_writes_codings_and_agreement_matches_hand_computation(tmp_path, ls_env):
    ws = make_ws(tmp_path / "ws", n=12)
    config = load_config(ws)
    _two_coders(ws, ls_env)

    result = ls.pull(ws, config, 1)

    table = read_table(ws.codings(1), CODINGS)
    assert result.written and result.changed_annotations == 10
    a = table[table["coder"] == "A"]
    assert a[a["status"] == "skipped"]["segment_id"].tolist() == ["burgers-1-0005"]
    assert a[a["status"] == "empty"]["segment_id"].tolist() == ["burgers-1-0003"]
    spans = a[a["span_start"].notna()]
    assert spans[["segment_id", "code", "span_start", "span_end", "span_text"]].values.tolist() == [
        ["burgers-1-0001", "china-dystopie", 15, 20, "China"]
    ]
    assert set(a[a["segment_id"] == "burgers-1-0001"]["memo"]) == {"China als schrikbeeld"}
    assert a["lead_time"].dropna().eq(4.5).all() and a["updated_at"].notna().all()
    assert table["in_codebook"].all()

    from pipeline.agreement import run_agreement

    agreement = run_agreement(ws, config, 1).codes.set_index("code")
    # china-dystopie on the 4 segments both coded (0005 was skipped by A):
    #   A: 1 1 0 0   B: 1 0 0 0  -> values 1,1 | 1,0 | 0,0 | 0,0 ; n = 8, n1 = 3, n0 = 5
    #   coincidences o10 = o01 = 1 ; alpha = 1 - (n-1) * 2 / (2 * n1 * n0) = 1 - 7*2/30
    assert agreement.loc["china-dystopie", "alpha"] == pytest.approx(1 - 14 / 30)
    assert agreement.loc["china-dystopie", "units"] == 4
    assert agreement.loc["china-dystopie", "percent_agreement"] == pytest.approx(3 / 4)
    # vertrouwen-overheid: identical (1 on 0004 only) -> alpha 1
    assert agreement.loc["vertrouwen-overheid", "alpha"] == pytest.approx(1.0)
    # havenots: only B on 0004 -> A 0 0 0 0, B 0 0 0 1; n1 = 1, n0 = 7: 1 - 7*2/(2*7) = 0
    assert agreement.loc["havenots", "alpha"] == pytest.approx(0.0)


def test_second_pull_is_a_no_op_and_an_edit_after_pull_is_picked_up(tmp_path, ls_env):
    ws = make_ws(tmp_path / "ws", n=12)
    config = load_config(ws)
    ids = _two_coders(ws, ls_env)
    ls.pull(ws, config, 1)
    before = ws.codings(1).stat().st_mtime_ns

    again = ls.pull(ws, config, 1)
    assert not again.written and again.changed_annotations == 0
    assert ws.codings(1).stat().st_mtime_ns == before

    ls_env.client.annotations.update(
        id=ids["B"]["burgers-1-0002"],
        result=[
            {
                "from_name": "codes",
                "to_name": "text",
                "type": "taxonomy",
                "value": {"taxonomy": [["china-dystopie"]]},
            }
        ],
    )
    # a third coder's codings imported from a QDPX archive are not Label Studio's to drop
    pulled = read_table(ws.codings(1), CODINGS)
    imported = pulled.iloc[:1].assign(coder="C", task_id=None, annotation_id=None,
                                      annotator=None, origin="qdpx:maxqda.qdpx")  # fmt: skip
    write_table(pd.concat([pulled, imported]), CODINGS, ws.codings(1))
    edited = ls.pull(ws, config, 1)
    assert edited.written and edited.changed_annotations == 1
    table = read_table(ws.codings(1), CODINGS)
    row = table[(table["coder"] == "B") & (table["segment_id"] == "burgers-1-0002")]
    assert row["code"].tolist() == ["china-dystopie"]
    kept = table[table["coder"] == "C"]
    assert kept["origin"].tolist() == ["qdpx:maxqda.qdpx"]
    assert set(table[table["coder"] != "C"]["origin"]) == {"labelstudio"}


def test_a_pull_never_drops_the_machine_coders_rows(tmp_path, ls_env, monkeypatch):
    """`cda code --llm` after a pull keeps the humans; the next pull keeps the model's rows."""
    from test_code import CODER, FakeLLM, configure

    import pipeline.code as code_stage

    monkeypatch.setattr(code_stage, "RETRY_PAUSE_S", 0.0)
    ws = make_ws(tmp_path / "ws", n=12)
    ids = _two_coders(ws, ls_env)
    ls.pull(ws, load_config(ws), 1)
    humans = read_table(ws.codings(1), CODINGS)
    china = {"codes": ["china-dystopie"], "quotes": {"china-dystopie": "China"}}
    with FakeLLM(lambda n, text: china) as server:
        configure(ws, server.url)
        code_stage.run_code(ws, load_config(ws), 1)
    coded = read_table(ws.codings(1), CODINGS)
    mine = coded[coded["coder"] == CODER].reset_index(drop=True)
    assert len(mine) == 10  # every participant segment (two of the twelve are the facilitator's)
    assert coded[coded["coder"] != CODER].reset_index(drop=True).equals(humans)

    ls_env.client.annotations.update(
        id=ids["B"]["burgers-1-0002"],
        result=[{"from_name": "codes", "to_name": "text", "type": "taxonomy",
                 "value": {"taxonomy": [["vertrouwen-overheid"]]}}],
    )  # fmt: skip
    pulled = ls.pull(ws, load_config(ws), 1)
    assert pulled.written and pulled.changed_annotations == 1
    table = read_table(ws.codings(1), CODINGS)
    assert table[table["coder"] == CODER].reset_index(drop=True).equals(mine)


def test_unknown_codes_are_reported_and_kept(tmp_path, ls_env, caplog):
    ws = make_ws(tmp_path / "ws", n=6, coders=("A",))
    config = load_config(ws)
    ls.push(ws, config, 1)
    annotate(ls_env, project_id(ws, "A"), {"burgers-1-0001": ["oud-thema"]})
    result = ls.pull(ws, config, 1)
    assert result.unknown_codes == {"oud-thema": 1}
    assert "oud-thema (1×)" in caplog.text
    row = result.table[result.table["code"] == "oud-thema"]
    assert row["in_codebook"].tolist() == [False]


def test_closed_round_is_frozen_unless_forced(tmp_path, ls_env):
    ws = make_ws(tmp_path / "ws", n=12)
    config = load_config(ws)
    ids = _two_coders(ws, ls_env)
    ls.pull(ws, config, 1)
    set_state(ws, config, 1, "coding")
    set_state(ws, config, 1, "closed")
    frozen = ws.codings(1).read_bytes()
    assert not ls.pull(ws, config, 1).written  # nothing changed: fine

    ls_env.client.annotations.delete(id=ids["A"]["burgers-1-0002"])
    with pytest.raises(CdaError, match="round 1 is closed"):
        ls.pull(ws, config, 1)
    assert ws.codings(1).read_bytes() == frozen
    with pytest.raises(CdaError, match="closed"):
        ls.push(ws, config, 1)
    forced = ls.pull(ws, config, 1, force=True)
    assert forced.written
    # the coder withdrew that annotation (the task still exists): its rows go, nothing else
    a = forced.table[forced.table["coder"] == "A"]
    assert "burgers-1-0002" not in set(a["segment_id"])
    assert set(a["status"]) == {"coded", "empty", "skipped"}


def test_adjudication_project_gets_disagreements_with_both_coders_as_predictions(tmp_path, ls_env):
    ws = make_ws(tmp_path / "ws", n=12)
    config = load_config(ws)
    _two_coders(ws, ls_env)
    ls.pull(ws, config, 1)

    (result,) = ls.adjudicate(ws, config, 1)
    assert ls.adjudicate(ws, config, 1)[0].created == 0  # again: no duplicates

    tasks = project_tasks(ls_env, result.project_id)
    # 0002 (china), 0004 (havenots) differ; 0005 was skipped by A so it has one coder only
    assert sorted(t["data"]["segment_id"] for t in tasks) == ["burgers-1-0002", "burgers-1-0004"]
    predictions = ls_env.client.predictions.list(project=result.project_id)
    by_version = {(p.task, p.model_version): p.result for p in predictions}
    task = next(t for t in tasks if t["data"]["segment_id"] == "burgers-1-0004")
    assert by_version[(task["id"], "coder A")][0]["value"] == {
        "taxonomy": [["vertrouwen-overheid"]]
    }
    assert by_version[(task["id"], "coder B")][0]["value"] == {
        "taxonomy": [["digitale-kloof", "havenots"], ["vertrouwen-overheid"]]
    }
    # B coded 0002 with no code at all: a judgement the adjudicator must see, not an absence
    task = next(t for t in tasks if t["data"]["segment_id"] == "burgers-1-0002")
    assert by_version[(task["id"], "coder B")] == [lsconfig.memo_result("(no code)")]
    assert by_version[(task["id"], "coder A")][0]["value"] == {"taxonomy": [["china-dystopie"]]}
    annotate(ls_env, result.project_id, {"burgers-1-0002": ["china-dystopie"]})
    pulled = ls.pull(ws, config, 1).table
    decided = pulled[pulled["coder"] == "adjudication"]
    assert decided[["segment_id", "code"]].values.tolist() == [["burgers-1-0002", "china-dystopie"]]

    from pipeline.agreement import run_agreement

    assert run_agreement(ws, config, 1).codes["coders"].max() == 2  # adjudication is no coder


# faults -------------------------------------------------------------------------------------------


def test_unreachable_server_is_a_clear_error(tmp_path, monkeypatch, label_studio):
    ws = make_ws(tmp_path / "ws", n=6)
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.api_key)
    proc = subprocess.run([CDA, "ls", "push", "-w", str(ws.root)], capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "cannot reach Label Studio at http://127.0.0.1:9" in output
    assert "Traceback" not in output and label_studio.api_key not in output


def test_wrong_token_is_rejected_without_showing_either_token(tmp_path, monkeypatch, label_studio):
    ws = make_ws(tmp_path / "ws", n=6)
    wrong = "f" * 40
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", wrong)
    proc = subprocess.run([CDA, "ls", "pull", "-w", str(ws.root)], capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "rejected the API key (HTTP 401)" in output
    assert wrong not in output and label_studio.api_key not in output
    assert not ws.codings(1).exists()


def test_deleted_project_keeps_the_codings_and_can_be_recreated(tmp_path, ls_env):
    ws = make_ws(tmp_path / "ws", n=12)
    config = load_config(ws)
    _two_coders(ws, ls_env)
    ls.pull(ws, config, 1)
    saved = ws.codings(1).read_bytes()
    ls_env.client.projects.delete(id=project_id(ws, "B"))

    with pytest.raises(CdaError, match="no longer exists") as pulled:
        ls.pull(ws, config, 1)
    assert "codings.parquet" in pulled.value.hint
    assert ws.codings(1).read_bytes() == saved
    with pytest.raises(CdaError, match="deleted in the UI"):
        ls.push(ws, config, 1)

    results = ls.push(ws, config, 1, recreate=True)
    assert [(r.coder, r.created) for r in results] == [("A", 0), ("B", 10)]


def test_deleted_task_keeps_its_codings_and_is_pushed_again(tmp_path, ls_env):
    ws = make_ws(tmp_path / "ws", n=12)
    config = load_config(ws)
    _two_coders(ws, ls_env)
    ls.pull(ws, config, 1)
    pid = project_id(ws, "A")
    task = next(
        t for t in project_tasks(ls_env, pid) if t["data"]["segment_id"] == "burgers-1-0001"
    )
    ls_env.client.tasks.delete(id=str(task["id"]))

    table = ls.pull(ws, config, 1).table
    kept = table[(table["coder"] == "A") & (table["segment_id"] == "burgers-1-0001")]
    assert set(kept["status"]) == {"task-deleted"}
    assert set(kept["code"]) == {"china-dystopie"}  # the choice and the span, both kept
    assert len(kept) == 2

    results = ls.push(ws, config, 1)
    assert [(r.coder, r.created) for r in results] == [("A", 1), ("B", 0)]


class _FlakyProxy:
    """Forwards to Label Studio; drops the answer to chosen import requests after forwarding.

    That is the worst case for duplicates: the server committed the batch, the client saw
    the connection drop.
    """

    def __init__(self, upstream: str, drop: set[int], refuse: set[int] = frozenset()) -> None:
        self.upstream, self.drop, self.refuse, self.imports = upstream, drop, refuse, 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                is_import = self.command == "POST" and self.path.split("?")[0].endswith("/import")
                proxy.imports += is_import
                if is_import and proxy.imports in proxy.refuse:  # upstream unreachable
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                response = httpx.request(
                    self.command, proxy.upstream + self.path, headers=headers, content=body,
                    timeout=120,
                )  # fmt: skip
                if is_import and proxy.imports in proxy.drop:
                    self.close_connection = True
                    return  # committed upstream, no answer here
                self.send_response(response.status_code)
                for key, value in response.headers.items():
                    if key.lower() not in (
                        "transfer-encoding",
                        "content-encoding",
                        "connection",
                        "content-length",
                    ):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_network_error_half_way_through_a_push_is_retried_without_duplicates(
    tmp_path, monkeypatch, label_studio
):
    ws = make_ws(tmp_path / "ws", n=120, coders=("A",), batch_size=25)
    proxy = _FlakyProxy(label_studio.url, drop={2, 4})
    monkeypatch.setenv("LABEL_STUDIO_URL", proxy.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.api_key)
    monkeypatch.setattr(pushing.time, "sleep", lambda s: None)
    try:
        (result,) = ls.push(ws, load_config(ws), 1)
    finally:
        proxy.close()
    assert result.retries == 2
    tasks = project_tasks(label_studio, project_id(ws, "A"))
    ids = [t["data"]["segment_id"] for t in tasks]
    assert len(ids) == len(set(ids)) == 100


def test_a_push_that_gives_up_resumes_later_without_duplicates(tmp_path, monkeypatch, label_studio):
    ws = make_ws(tmp_path / "ws", n=120, coders=("A",), batch_size=25, retries=1)
    proxy = _FlakyProxy(label_studio.url, drop={2}, refuse=set(range(3, 100)))
    monkeypatch.setenv("LABEL_STUDIO_URL", proxy.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.api_key)
    monkeypatch.setattr(pushing.time, "sleep", lambda s: None)
    try:
        with pytest.raises(CdaError, match="stopped after 1 retry") as failed:
            ls.push(ws, load_config(ws), 1)
    finally:
        proxy.close()
    assert label_studio.api_key not in str(failed.value)
    assert "sends only the missing segments" in failed.value.hint
    arrived = len(project_tasks(label_studio, project_id(ws, "A")))
    assert arrived == 50  # batch 1, and batch 2 whose answer was lost

    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    (result,) = ls.push(ws, load_config(ws), 1)
    assert result.created == 100 - arrived and result.unchanged == arrived
    ids = [t["data"]["segment_id"] for t in project_tasks(label_studio, project_id(ws, "A"))]
    assert len(ids) == len(set(ids)) == 100


def test_the_api_key_never_reaches_outputs_logs_or_state(tmp_path, ls_env):
    ws = make_ws(tmp_path / "ws", n=12)
    runner = CliRunner()
    outputs = [
        runner.invoke(app, ["-v", "ls", cmd, "-w", str(ws.root)]) for cmd in ("push", "pull")
    ]
    outputs.append(runner.invoke(app, ["agreement", "-w", str(ws.root)]))
    assert [r.exit_code for r in outputs] == [0, 0, 0], [r.output for r in outputs]
    key = ls_env.api_key.encode()
    for result in outputs:
        assert ls_env.api_key not in result.output
    for path in ws.root.rglob("*"):
        if path.is_file():
            assert key not in path.read_bytes(), path


def test_audio_clips_are_cut_and_served_by_the_workspace_server(label_studio, monkeypatch):
    """Tasks play audio: clips are cut from the ingested WAV and served through local storage."""
    import wave

    ws = label_studio.ws
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.api_key)
    root = make_ws(ws.root.parent / "scratch", n=6, coders=("A",)).root
    # the server's own workspace: its data/ is the local-files root
    for name in ("codebooks", "data/interim/segments.parquet"):
        source, target = root / name, ws.root / name
        if source.is_dir():
            import shutil

            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    study = next(p for p in (root / "codebooks").iterdir() if p.is_dir()).name
    text = ws.config_file.read_text().replace("study: ls-server", f"study: {study}")
    ws.config_file.write_text(text + "  rounds: {1: [A]}\n")
    for recording in ("burgers-1", "deskundigen-1"):
        ws.wav(recording).parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(ws.wav(recording)), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(16000)
            out.writeframes(bytes(range(256)) * (16000 * 2 * 60 // 256))  # 60 s

    ls.push(ws, load_config(ws), 1)

    pid = json.loads(ws.ls_state(1).read_text())["A"]["id"]
    task = next(
        t for t in project_tasks(label_studio, pid) if t["data"]["segment_id"] == "burgers-1-0001"
    )
    url = task["data"]["audio"]
    assert url == "/data/local-files/?d=interim/labelstudio/clips/burgers-1-0001_10000-18000.wav"
    served = httpx.get(
        label_studio.url + url, headers={"Authorization": f"Token {label_studio.api_key}"}
    )
    assert served.status_code == 200
    clip = ws.clips_dir / "burgers-1-0001_10000-18000.wav"
    assert served.content == clip.read_bytes()
    with wave.open(str(clip)) as cut:
        assert cut.getnframes() == pytest.approx(8 * 16000, abs=1)  # 10.0 s to 18.0 s
    assert (
        '<Audio name="audio" value="$audio"'
        in label_studio.client.projects.get(id=pid).label_config
    )
