"""``cda code --llm``: the contract with an OpenAI-compatible server, tested against a real HTTP
server on 127.0.0.1 that answers in the documented chat-completions shape.

No model runs here (none on a CPU is good enough to measure, see the issue): the server below
is the boundary. It answers from a script per segment: good replies, bad JSON, unknown codes,
refusals, server errors, timeouts and replies cut off at the token limit.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from hostile import cda, refused
from typer.testing import CliRunner

import pipeline.code as code_stage
from pipeline.agreement import agreement_tables, run_agreement
from pipeline.cli import app
from pipeline.code import prompt
from pipeline.code.endpoint import check_endpoint, is_loopback
from pipeline.codebook import load_round
from pipeline.codings.basis import Basis, settle
from pipeline.codings.machine import human_rows, is_machine_coder
from pipeline.codings.presence import disagreements
from pipeline.core.config import LlmConfig, load_config
from pipeline.core.errors import CdaError
from pipeline.core.io import frame_of, read_csv, read_table, write_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import CODINGS, NAMES, SEGMENTS, SPEAKER_KEY
from pipeline.importers.qdpx import import_qdpx
from pipeline.report.themes import assignments, coder_sources, human_coded

MODEL = "fake-7b"
CODER = f"llm:{MODEL}"
SEGMENT = re.compile(r"Segment to code \([^)]*\):\n(.*)\Z", re.S)


# --- the fake server ---------------------------------------------------------------------------
class FakeLLM:
    """A chat-completions server on 127.0.0.1; ``script(n, text)`` decides each answer.

    ``n`` counts requests from 1, ``text`` is the segment asked about. The script returns a
    dict: ``{"codes": [...], "quotes": {...}}`` (a good reply), ``{"content": str}`` (raw
    content), ``{"refusal": str}``, ``{"length": True}``, ``{"status": int}`` or
    ``{"sleep": s}`` (answer late, after ``s`` seconds).
    """

    def __init__(self, script) -> None:
        self.script = script
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                body = json.loads(raw)
                with fake.lock:
                    fake.bodies.append(body)
                    fake.headers.append(dict(self.headers))
                    n = len(fake.bodies)
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": "not found"})
                text = SEGMENT.search(body["messages"][-1]["content"]).group(1)
                action = fake.script(n, text)
                if "sleep" in action:
                    time.sleep(action["sleep"])
                    action = {"codes": []}
                if "status" in action:
                    return self._send(action["status"], {"error": {"message": "boom"}})
                self._send(200, completion(action, body["model"]))

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeLLM:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def completion(action: dict, model: str) -> dict:
    """The documented chat.completion object (choices[0].message, finish_reason, usage)."""
    refusal = action.get("refusal")
    if "content" in action:
        content = action["content"]
    elif refusal or action.get("length"):
        content = None if refusal else '{"codes": ["toekomst-spec'
    else:
        quotes = action.get("quotes", {})
        content = json.dumps(
            {
                "codes": action["codes"],
                "evidence": [{"code": c, "quote": q} for c, q in quotes.items()],
                "rationale": action.get("rationale", "past bij de beschrijving"),
            }
        )
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "logprobs": None,
                "finish_reason": "length" if action.get("length") else "stop",
            }
        ],
        "usage": {"prompt_tokens": 900, "completion_tokens": 30, "total_tokens": 930},
    }


def by_keyword(n: int, text: str) -> dict:
    """A plausible coder: 'overheid' → vertrouwen-overheid (quoting it), else no code."""
    at = text.casefold().find("overheid")
    if at < 0:
        return {"codes": []}
    return {"codes": ["vertrouwen-overheid"], "quotes": {"vertrouwen-overheid": text[at : at + 8]}}


# --- workspaces --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Workspace:
    """The bundled sample, imported and pseudonymised (what `cda code` reads)."""
    from pipeline.cli.init import init_workspace
    from pipeline.importers import import_transcripts
    from pipeline.pseudonymise import pseudonymise

    ws = Workspace.at(tmp_path_factory.mktemp("code") / "ws")
    init_workspace(ws, sample=True)
    config = load_config(ws)
    import_transcripts(ws, config)
    pseudonymise(ws, config)
    return ws


@pytest.fixture
def ws(sample, tmp_path, monkeypatch) -> Workspace:
    target = tmp_path / "ws"
    shutil.copytree(sample.root, target)
    monkeypatch.setattr(code_stage, "RETRY_PAUSE_S", 0.0)
    monkeypatch.delenv("CDA_LLM_API_KEY", raising=False)
    return Workspace.at(target)


def configure(ws: Workspace, url: str, **settings) -> None:
    """Set cda.yaml's llm section (replacing an earlier one)."""
    values = {"base_url": url, "model": MODEL, **settings}
    lines = ws.config_file.read_text(encoding="utf-8").splitlines()
    lines = [line for line in lines if not line.startswith("llm:")]
    ws.config_file.write_text("\n".join([*lines, "llm: " + json.dumps(values)]) + "\n")


def segments(ws: Workspace) -> pd.DataFrame:
    return read_table(ws.segments, SEGMENTS)


def participants(ws: Workspace) -> list[str]:
    seg = segments(ws)
    return seg.loc[seg["role"] == "participant", "segment_id"].tolist()


def human_codings(rows: list[tuple]) -> pd.DataFrame:
    """(segment, coder, code or None) rows, as Label Studio pulls them."""
    frame = pd.DataFrame(rows, columns=["segment_id", "coder", "code"])
    frame["status"] = frame["code"].map(lambda c: "empty" if c is None else "coded")
    frame["task_id"] = range(len(frame))
    frame["annotation_id"] = range(100, 100 + len(frame))
    return frame_of(frame, CODINGS, in_codebook=True, origin="labelstudio")


def llm_rows(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["coder"] == CODER]


# --- the contract ------------------------------------------------------------------------------
def test_each_participant_segment_is_coded_beside_the_humans_with_spans_from_the_quotes(ws):
    seg = segments(ws)
    humans = human_codings(
        [("burgers-0002", "A", "digitale-kloof"), ("burgers-0004", "A", None),
         ("burgers-0004", "B", "vertrouwen-overheid")]
    )  # fmt: skip
    write_table(humans, CODINGS, ws.codings(1))
    with FakeLLM(by_keyword) as server:
        configure(ws, server.url, context_turns=2, seed=7)
        result = code_stage.run_code(ws, load_config(ws), 1)

    table = read_table(ws.codings(1), CODINGS)
    # the humans' rows are exactly as they were
    kept = table[table["coder"] != CODER].reset_index(drop=True)
    assert kept.equals(read_table_like(humans))
    mine = llm_rows(table)
    # one judgement per participant segment, none for the facilitator's 25 turns
    assert sorted(mine["segment_id"].unique()) == sorted(participants(ws))
    assert len(server.bodies) == 123 == result.coded + result.empty
    assert (mine["origin"] == CODER).all() and mine["in_codebook"].all()
    text = seg.set_index("segment_id")["text"]
    overheid = [s for s in participants(ws) if "overheid" in text[s].casefold()]
    coded = mine[mine["status"] == "coded"]
    assert sorted(coded["segment_id"]) == sorted(overheid) and result.coded == len(overheid)
    for row in coded.itertuples():  # the span is where the quote is, in the stored text
        assert text[row.segment_id][row.span_start : row.span_end] == row.span_text
        assert row.span_text.casefold() == "overheid"
    empty = mine[mine["status"] == "empty"]
    assert empty["code"].isna().all() and len(empty) == 123 - len(overheid)
    assert (mine["memo"] == "past bij de beschrijving").all()

    # the request: model, parameters, strict schema over the codebook's ids, context turns
    book = load_round(ws, load_config(ws), 1).book
    body = server.bodies[2]
    assert body["model"] == MODEL and body["temperature"] == 0 and body["seed"] == 7
    schema = body["response_format"]
    assert schema["type"] == "json_schema" and schema["json_schema"]["strict"] is True
    items = schema["json_schema"]["schema"]["properties"]["codes"]["items"]
    assert items["enum"] == book.ids
    system, user = body["messages"]
    for code in book.codes:  # labels, descriptions, rules and examples are all sent
        assert code.id in system["content"] and code.label in system["content"]
        assert " ".join(code.description.split()) in system["content"]
        if code.exclude:
            assert " ".join(code.exclude.split()) in system["content"]
    # the third request is burgers-0004 (0001 is the facilitator's): context 0002 and 0003
    assert user["content"].endswith(text["burgers-0004"])
    assert f"P01: {text['burgers-0002']}\nP02: {text['burgers-0003']}" in user["content"]
    assert text["burgers-0001"] not in user["content"]  # two turns of context, not three


def read_table_like(frame: pd.DataFrame) -> pd.DataFrame:
    from pipeline.codings.order import sort_codings
    from pipeline.core.io import validate

    return sort_codings(validate(frame, CODINGS, where="test"))


SCRIPT = {
    # segment -> what the server answers to it, on every attempt unless said otherwise
    "burgers-0002": {"content": "Sure! Here are the codes: vertrouwen-overheid"},
    "burgers-0003": {"codes": ["vertrouwen-overheid", "made-up-code"]},
    "burgers-0004": {"refusal": "I can't help with that."},
    "burgers-0005": {"length": True},
    "burgers-0006": {"sleep": 1.5},
    "burgers-0007": {"codes": ["vertrouwen-overheid"], "quotes": {"vertrouwen-overheid": "X9"}},
}


def test_bad_replies_are_retried_then_failed_and_the_run_goes_on(ws):
    text = segments(ws).set_index("segment_id")["text"]
    ids = {text[s]: s for s in text.index}
    attempts: dict[str, int] = {}

    def script(n: int, asked: str) -> dict:
        sid = ids[asked]
        attempts[sid] = attempts.get(sid, 0) + 1
        if sid == "burgers-0009":  # HTTP 500 once, then a good reply
            return {"status": 500} if attempts[sid] == 1 else {"codes": []}
        return SCRIPT.get(sid, {"codes": []})

    with FakeLLM(script) as server:
        configure(ws, server.url, max_retries=1, timeout_s=0.5)
        result = code_stage.run_code(ws, load_config(ws), 1)

    assert result.failed == {
        "burgers-0002": "not JSON",
        "burgers-0003": "unknown code",
        "burgers-0004": "refusal",
        "burgers-0005": "truncated",
        "burgers-0006": "timeout",
        "burgers-0007": "quote not in the segment",
    }
    assert all(attempts[s] == 2 for s in SCRIPT)  # one retry each (max_retries: 1)
    assert attempts["burgers-0009"] == 2
    mine = llm_rows(read_table(ws.codings(1), CODINGS))
    assert not set(SCRIPT) & set(mine["segment_id"])  # a failure is no judgement: no row
    assert "burgers-0009" in set(mine["segment_id"])  # the 500 was retried into a good reply
    assert mine["segment_id"].nunique() == 123 - 6 == result.empty
    record = json.loads((ws.round_dir(1) / "llm.json").read_text())["coders"][CODER]
    assert record["counts"] == {"coded": 0, "empty": 117, "failed": 6}
    assert {f["segment_id"]: f["reason"] for f in record["failed"]} == result.failed

    runner = CliRunner()
    with FakeLLM(lambda n, t: {"codes": []}) as server:  # a rerun retries only the failed
        configure(ws, server.url)
        out = runner.invoke(app, ["code", "--llm", "-w", str(ws.root)])
        assert out.exit_code == 0, out.output
        assert len(server.bodies) == 6
    said = " ".join(out.output.split())
    assert "coded 6 segment(s)" in said and "117 coded before; 0 failed" in said


def test_the_summary_says_how_many_failed_and_why(ws):
    def script(n: int, asked: str) -> dict:
        return {"content": "no json"} if n <= 3 else {"codes": []}

    with FakeLLM(script) as server:
        configure(ws, server.url, max_retries=0)
        out = CliRunner().invoke(app, ["code", "--llm", "-w", str(ws.root)])
    assert out.exit_code == 0, out.output
    assert "3 failed (not JSON: 3)" in " ".join(out.output.split())


def test_a_server_failing_from_request_n_on_keeps_what_was_coded_and_a_rerun_finishes(ws):
    with FakeLLM(lambda n, t: {"status": 503} if n >= 11 else by_keyword(n, t)) as server:
        configure(ws, server.url, max_retries=0, batch_size=4)
        first = code_stage.run_code(ws, load_config(ws), 1)
    assert first.coded + first.empty == 10 and len(first.failed) == 113
    assert set(first.reasons) == {"HTTP 503"}
    done = set(llm_rows(read_table(ws.codings(1), CODINGS))["segment_id"])
    assert done == set(participants(ws)[:10])

    with FakeLLM(by_keyword) as server:
        configure(ws, server.url, max_retries=0, batch_size=4)
        second = code_stage.run_code(ws, load_config(ws), 1)
        asked = [SEGMENT.search(b["messages"][-1]["content"]).group(1) for b in server.bodies]
    text = segments(ws).set_index("segment_id")["text"]
    assert sorted(asked) == sorted(text[s] for s in participants(ws)[10:])  # only the rest
    assert second.already == 10 and not second.failed
    mine = llm_rows(read_table(ws.codings(1), CODINGS))
    assert mine["segment_id"].nunique() == 123
    assert not mine.duplicated(["segment_id", "code", "span_start"]).any()


def test_a_killed_run_keeps_its_written_batches_and_a_rerun_adds_no_duplicates(ws):
    """The real thing: the process is killed (SIGKILL) while it waits for request 4."""
    got_fourth = threading.Event()

    def script(n: int, text: str) -> dict:
        if n >= 4:
            got_fourth.set()
            return {"sleep": 30}
        return by_keyword(n, text)

    with FakeLLM(script) as server:
        configure(ws, server.url, batch_size=1)
        repo = Path(__file__).resolve().parents[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "code", "--llm", "-w", str(ws.root)],
            cwd=repo,
            env={**__import__("os").environ, "PYTHONPATH": str(repo)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert got_fourth.wait(60), "the run never reached the fourth segment"
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
    mine = llm_rows(read_table(ws.codings(1), CODINGS))
    assert sorted(mine["segment_id"].unique()) == participants(ws)[:3]

    with FakeLLM(by_keyword) as server:
        configure(ws, server.url, batch_size=1)
        result = code_stage.run_code(ws, load_config(ws), 1)
        assert len(server.bodies) == 120
    assert result.already == 3
    mine = llm_rows(read_table(ws.codings(1), CODINGS))
    assert sorted(mine["segment_id"].unique()) == sorted(participants(ws))
    assert len(mine) == mine["segment_id"].nunique()  # one row each: no duplicates


def test_a_rerun_with_another_prompt_or_codebook_is_refused_and_restart_replaces(ws, monkeypatch):
    with FakeLLM(by_keyword) as server:
        configure(ws, server.url)
        code_stage.run_code(ws, load_config(ws), 1)
        before = ws.codings(1).read_bytes()
        monkeypatch.setattr(prompt, "TEMPLATE_SHA256", "0" * 64)
        with pytest.raises(CdaError, match="another prompt_template") as err:
            code_stage.run_code(ws, load_config(ws), 1)
        assert "--restart" in err.value.hint and ws.codings(1).read_bytes() == before
        monkeypatch.undo()
        configure(ws, server.url, temperature=0.7)
        with pytest.raises(CdaError, match="another parameters"):
            code_stage.run_code(ws, load_config(ws), 1)
        n = len(server.bodies)
        again = code_stage.run_code(ws, load_config(ws), 1, restart=True)
        assert len(server.bodies) - n == 123 and again.already == 0
    mine = llm_rows(read_table(ws.codings(1), CODINGS))
    assert mine["segment_id"].nunique() == 123 and len(mine) == 123


# --- privacy and provenance --------------------------------------------------------------------
def test_segments_only_go_to_this_machine_unless_remote_is_allowed(ws):
    for url in ("http://10.0.0.5:8000/v1", "https://api.example.com/v1",
                "http://127.0.0.1.example.com/v1"):  # fmt: skip
        configure(ws, url)
        with pytest.raises(CdaError, match="not this machine"):
            code_stage.run_code(ws, load_config(ws), 1)
        assert not ws.codings(1).exists() and not (ws.round_dir(1) / "llm.json").exists()
    assert check_endpoint(LlmConfig(base_url="https://api.example.com/v1", allow_remote=True))
    for host in ("127.0.0.1", "127.8.9.10", "::1", "localhost", "LOCALHOST"):
        assert is_loopback(host), host
    for host in ("10.0.0.5", "0.0.0.0", "example.com", "::ffff:8.8.8.8"):
        assert not is_loopback(host), host
    assert check_endpoint(LlmConfig(base_url="http://[::1]:8080/v1")) == "::1"
    with pytest.raises(CdaError, match="holds credentials"):
        check_endpoint(LlmConfig(base_url="http://user:secret@127.0.0.1/v1"))
    configure(ws, "ftp://127.0.0.1/v1")
    refused(cda("code", "--llm", "-w", str(ws.root)), "not an http(s) URL")


def test_no_real_name_of_the_key_reaches_the_server_and_the_api_key_is_never_stored(ws, caplog):
    (ws.root / ".env").write_text("CDA_LLM_API_KEY=sk-test-0123456789\n", encoding="utf-8")
    key = read_csv(ws.speaker_key, SPEAKER_KEY)
    names = set(read_csv(ws.names, NAMES, required=False)["name"])
    names |= set(key.loc[key["role"] == "participant", "label"])
    names |= set(key["real_name"].dropna())
    assert {"Marloes", "Fatima", "Karim Benali", "Almere", "Datawijs"} <= names  # the sample's
    with FakeLLM(by_keyword) as server:
        configure(ws, server.url)
        code_stage.run_code(ws, load_config(ws), 1)
    # the transcript travels in the user message; the system message is the codebook alone
    book = load_round(ws, load_config(ws), 1).book
    system = prompt.SYSTEM_TEMPLATE.format(codebook=prompt.codebook_text(book))
    assert all(b["messages"][0]["content"] == system for b in server.bodies)
    sent = [b["messages"][1]["content"] for b in server.bodies]
    assert len(sent) == 123 and sum("[P0" in s for s in sent) > 10  # pseudonyms instead
    leaked = {n for n in names for s in sent if re.search(rf"\b{re.escape(n)}\b", s, re.I)}
    assert not leaked
    assert all(h["Authorization"] == "Bearer sk-test-0123456789" for h in server.headers)
    stored = (ws.round_dir(1) / "llm.json").read_text() + ws.codings(1).read_bytes().hex()
    assert "sk-test" not in stored and b"sk-test".hex() not in stored
    assert "sk-test" not in caplog.text


def test_llm_json_records_model_host_parameters_template_hash_and_counts(ws):
    with FakeLLM(by_keyword) as server:
        configure(ws, server.url, seed=3, context_turns=1)
        result = code_stage.run_code(ws, load_config(ws), 1)
    record = json.loads((ws.round_dir(1) / "llm.json").read_text())["coders"][CODER]
    assert record["model"] == MODEL and record["base_url_host"] == "127.0.0.1"
    assert record["parameters"] == {
        "temperature": 0.0, "seed": 3, "context_turns": 1, "timeout_s": 120.0, "max_retries": 2,
    }  # fmt: skip
    template = record["prompt_template"]
    assert template == {"system": prompt.SYSTEM_TEMPLATE, "user": prompt.USER_TEMPLATE}
    assert re.fullmatch(r"[0-9a-f]{64}", record["prompt_template_sha256"])
    assert record["prompt_template_sha256"] == prompt.TEMPLATE_SHA256
    loaded = load_round(ws, load_config(ws), 1)
    assert record["codebook_sha256"] == loaded.sha256
    assert loaded.sha256 == hashlib.sha256(loaded.path.read_bytes()).hexdigest()
    assert record["counts"] == {"coded": result.coded, "empty": result.empty, "failed": 0}
    assert result.coded + result.empty == record["segments"] == 123
    assert record["finished"] is not None and record["started"] <= record["finished"]


# --- humans only where humans are meant --------------------------------------------------------
def test_agreement_measures_the_llm_against_each_human_and_alpha_stays_human(ws):
    """Ten segments coded by A, B and the model; vertrouwen-overheid by hand:

    segment   1 2 3 4 5 6 7 8 9 10
    A         1 1 1 0 1 0 0 0 0 0
    B         1 1 0 0 1 0 0 0 0 0
    llm       1 1 1 1 0 0 0 0 0 0

    llm vs A: both 1 on 1-3 (3), llm only 4, A only 5, both 0 on 6-10 (5): po = 8/10;
      p(llm=1) = 4/10, p(A=1) = 4/10: pe = .4*.4 + .6*.6 = .52; kappa = (.8-.52)/.48 = 7/12.
    llm vs B: both 1 on 1-2 (2), llm only 3-4 (2), B only 5 (1), both 0 (5): po = 7/10;
      p(llm=1) = .4, p(B=1) = .3: pe = .12 + .42 = .54; kappa = (.7-.54)/.46 = 8/23.
    """
    ten = participants(ws)[:10]
    present = {"A": [0, 1, 2, 4], "B": [0, 1, 4], "llm": [0, 1, 2, 3]}
    code = "vertrouwen-overheid"
    rows = [(s, c, code if i in present[c] else None) for c in "AB" for i, s in enumerate(ten)]
    write_table(human_codings(rows), CODINGS, ws.codings(1))
    text = segments(ws).set_index("segment_id")["text"]
    llm_yes = {text[ten[i]] for i in present["llm"]}

    def script(n: int, asked: str) -> dict:
        return {"codes": [code]} if asked in llm_yes else {"codes": []}

    with FakeLLM(script) as server:
        configure(ws, server.url)
        code_stage.run_code(ws, load_config(ws), 1)
    config = load_config(ws)
    result = run_agreement(ws, config, 1)
    pairs = result.pairs.set_index(["code", "coder_a", "coder_b"])
    assert pairs.loc[(code, "A", CODER), "kappa"] == pytest.approx(7 / 12)
    assert pairs.loc[(code, "A", CODER), "percent_agreement"] == pytest.approx(0.8)
    assert pairs.loc[(code, "A", CODER), "units"] == 10
    assert pairs.loc[(code, "B", CODER), "kappa"] == pytest.approx(8 / 23)
    assert pairs.loc[(code, "B", CODER), "percent_agreement"] == pytest.approx(0.7)
    # A vs B: 1 1 1 0 1 / 1 1 0 0 1 + five 0s: po = .9, pe = .4*.3 + .6*.7 = .54, 0.36/.46
    assert pairs.loc[(code, "A", "B"), "kappa"] == pytest.approx(0.36 / 0.46)
    # alpha, percent agreement and the disagreements are the humans' alone
    codings = read_table(ws.codings(1), CODINGS)
    book = load_round(ws, config, 1).book
    humans_only, _ = agreement_tables(human_rows(codings), book.ids)
    assert result.codes.equals(humans_only)
    assert result.codes.set_index("code").loc[code, "coders"] == 2
    assert result.disagreements.equals(disagreements(human_rows(codings)))
    assert set(result.disagreements["segment_id"]) == {ten[2]}  # A and B differ on 3 only

    # a second model is measured against the humans, never against the first model
    other = llm_rows(codings).assign(coder="llm:other", origin="llm:other")
    tables, pairs2 = agreement_tables(pd.concat([codings, other]), book.ids)
    machine = pairs2[["coder_a", "coder_b"]].map(is_machine_coder)
    assert not machine.all(axis=1).any()
    assert {"llm:other", CODER} <= set(pairs2["coder_b"])
    assert tables.equals(humans_only)


def test_llm_codes_are_never_counted_as_human_findings(ws):
    seg = participants(ws)
    humans = human_codings([(seg[0], "A", "vertrouwen-overheid"), (seg[1], "A", None)])
    with FakeLLM(lambda n, t: {"codes": ["digitale-kloof", "vertrouwen-overheid"]}) as server:
        configure(ws, server.url)
        code_stage.run_code(ws, load_config(ws), 1)  # the model alone: no human codes yet
        book = load_round(ws, load_config(ws), 1).book
        only_llm = read_table(ws.codings(1), CODINGS)
        assert not human_coded(only_llm)
        assert assignments(only_llm, None, book, Basis("settled")) is None  # no themes
        assert assignments(only_llm, None, book, Basis("union")) is None
        write_table(pd.concat([only_llm, humans]), CODINGS, ws.codings(1))
    both = read_table(ws.codings(1), CODINGS)
    assert human_coded(both)
    for rule in ("settled", "union", "intersection"):
        with_llm = settle(both, Basis(rule), book=book)
        alone = settle(humans, Basis(rule), book=book)
        assert with_llm.table.values.tolist() == alone.table.values.tolist(), rule
        assert with_llm.single_coded == alone.single_coded
        assert with_llm.coders == ("A",) and with_llm.unresolved.empty
    themes = assignments(both, None, book, Basis("settled"))
    assert themes.table.values.tolist() == [[seg[0], "vertrouwen-overheid"]]
    assert [c["coder"] for c in coder_sources(both)] == ["A"]
    with pytest.raises(CdaError, match="who has no codings"):
        settle(both, Basis("coder", CODER), book=book)  # not even when named


def test_a_qdpx_import_keeps_the_llm_rows_and_refuses_a_machine_coders_name(ws, tmp_path):
    from pipeline.export.qdpx import write_qdpx

    with FakeLLM(by_keyword) as server:
        configure(ws, server.url)
        code_stage.run_code(ws, load_config(ws), 1)
    config = load_config(ws)
    mine = llm_rows(read_table(ws.codings(1), CODINGS)).reset_index(drop=True)
    # a person's codes from another tool: the sample's segments coded by A, exported, imported
    humans = human_codings([(participants(ws)[0], "A", "vertrouwen-overheid")])
    write_table(humans, CODINGS, ws.codings(1))
    archive = write_qdpx(ws, config, 1)
    write_table(pd.concat([mine, humans]), CODINGS, ws.codings(1))
    import_qdpx(ws, config, archive, 1, coder="C")
    table = read_table(ws.codings(1), CODINGS)
    assert llm_rows(table).reset_index(drop=True).equals(mine)
    assert set(table["coder"]) == {"A", "C", CODER}
    before = ws.codings(1).read_bytes()
    with pytest.raises(CdaError, match="machine coders"):
        import_qdpx(ws, config, archive, 1, coder=CODER)
    assert ws.codings(1).read_bytes() == before


def test_settings_and_commands_that_cannot_run_say_what_to_do(ws):
    root = str(ws.root)
    refused(cda("code", "-w", root), "cda code --llm")
    refused(cda("code", "--llm", "-w", root), "llm.model is not set")
    configure(ws, "http://127.0.0.1:9/v1")  # nothing listens on the discard port
    refused(cda("code", "--llm", "-w", root), "no model server answers at http://127.0.0.1:9/v1")
    assert not ws.codings(1).exists()
    from pipeline.core.config import LabelStudioConfig

    with pytest.raises(ValueError, match="machine coders"):
        LabelStudioConfig(coders=["A", "llm:me"])


def test_the_report_counts_only_human_codes_and_shows_the_llm_apart(tmp_path, monkeypatch):
    """A real report of the sample: themes.csv is byte for byte the same before and after a
    model coded every segment with two themes; the model appears only in its own table."""
    from helpers import sample_through_nlp

    from pipeline.report import run_report
    from pipeline.topics import run_topics

    monkeypatch.setattr(code_stage, "RETRY_PAUSE_S", 0.0)
    ws = sample_through_nlp(tmp_path / "ws")
    config = load_config(ws)
    run_topics(ws, config, round_no=1)
    ten = participants(ws)[:10]
    a = [(s, "A", "vertrouwen-overheid" if i < 4 else None) for i, s in enumerate(ten)]
    b = [(s, "B", "vertrouwen-overheid" if i < 3 else None) for i, s in enumerate(ten)]
    write_table(human_codings(a + b), CODINGS, ws.codings(1))
    run_agreement(ws, config, 1)
    report = run_report(ws, config, round_no=1)
    folder = report.path.parent
    human_only = {n: (folder / n).read_bytes() for n in ("themes.csv", "framing.csv")}
    assert "Machine coder" not in report.path.read_text(encoding="utf-8")

    both = {"codes": ["vertrouwen-overheid", "digitale-kloof"]}
    with FakeLLM(lambda n, t: both) as server:
        configure(ws, server.url)
        code_stage.run_code(ws, load_config(ws), 1)
    config = load_config(ws)
    run_agreement(ws, config, 1)
    report = run_report(ws, config, round_no=1)
    for name, data in human_only.items():
        assert (folder / name).read_bytes() == data, name
    html = " ".join(report.path.read_text(encoding="utf-8").split())
    assert "Machine coder against the human coders" in html
    # llm vs A on vertrouwen-overheid: llm 1 everywhere, A 1 on 4 of 10: po = .4, pe = .4
    # (p(llm=1) = 1): kappa = 0; percent agreement 40 %
    row = (
        '<td>llm:fake-7b (machine)</td><td>A</td><td class="num">0.00</td>'
        '<td class="num">40%</td><td class="num">10</td>'
    )
    assert row in html
    assert (
        "<th>Machine coder</th><td>llm:fake-7b (not a finding): model fake-7b at 127.0.0.1" in html
    )
    assert f"<code>{prompt.TEMPLATE_SHA256[:16]}</code>" in html
    themes = json.loads((folder / "themes.json").read_text())
    assert [c["coder"] for c in themes["coders"]] == ["A", "B"]
    assert themes["coding_basis"]["coders"] == ["A", "B"]
