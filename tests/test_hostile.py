"""Hostile input: nothing escapes the workspace and nothing blows up (issue 17, in progress).

Each case runs the real `cda` in a subprocess and checks the exit status, that the message
names the file and what to do, that there is no traceback, and that nothing was written.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest
from hostile import GIB, cda, files_under, refused

from pipeline.cli.init import init_workspace
from pipeline.core.paths import Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace.at(tmp_path / "study" / "ws")
    init_workspace(workspace, study="hostile", groups=["burgers"])
    return workspace


def _jsonl(path: Path) -> Path:
    rows = [{"speaker": "A", "text": "Goedemorgen allemaal."}, {"speaker": "B", "text": "Ja."}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _tone(path: Path) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\x00\x01" * 16000)
    return path


@pytest.mark.parametrize("bad", ["../../../x/pwned", "/tmp/pwned", "a b", "..", "x/../../y"])
def test_a_recording_id_that_would_leave_the_workspace_is_refused(
    ws: Workspace, tmp_path: Path, bad: str
) -> None:
    source = _jsonl(tmp_path / "small.jsonl")
    before = files_under(tmp_path)
    proc = cda(
        "import", str(source), "--recording-id", bad, "--group", "burgers",
        "--workspace", str(ws.root),
    )  # fmt: skip
    refused(proc, "not a valid recording id", "--recording-id")
    assert files_under(tmp_path) == before  # nothing copied, no manifest row


def test_ingest_refuses_a_traversing_id_before_copying(ws: Workspace, tmp_path: Path) -> None:
    tone = _tone(tmp_path / "tone.wav")
    before = files_under(tmp_path)
    proc = cda(
        "ingest", str(tone), "--recording-id", "../../../../x/tone", "--group", "burgers",
        "--workspace", str(ws.root),
    )  # fmt: skip
    refused(proc, "not a valid recording id")
    assert files_under(tmp_path) == before


def test_a_file_name_that_is_no_valid_id_needs_an_explicit_one(
    ws: Workspace, tmp_path: Path
) -> None:
    source = _jsonl(tmp_path / "Workshop 1.jsonl")
    proc = cda("import", str(source), "--group", "burgers", "--workspace", str(ws.root))
    refused(proc, "'Workshop 1'", "give --recording-id")
    proc = cda(
        "import", str(source), "--recording-id", "workshop-1", "--group", "burgers",
        "--workspace", str(ws.root),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_a_hand_edited_manifest_with_a_traversing_id_is_refused(ws: Workspace) -> None:
    ws.manifest.write_text(
        "recording_id,group,date,language,media,transcript,sha256,media_sha256,duration,"
        "min_speakers,max_speakers\n../../evil,burgers,,,,,,,,,\n",
        encoding="utf-8",
    )
    proc = cda("import", "--workspace", str(ws.root))
    refused(proc, "data/recordings.csv:2", "'../../evil'")


def _laughs(levels: int = 9) -> str:
    """A "billion laughs": 9 levels of 9 aliases, about 387 million strings when expanded."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_in_cda_yaml_is_refused_in_bounded_memory(ws: Workspace) -> None:
    original = ws.config_file.read_text(encoding="utf-8")
    ws.config_file.write_text(original + _laughs().replace("a0:", "x_a0:", 1), encoding="utf-8")
    proc = cda("config", "show", "--workspace", str(ws.root), memory=GIB)
    refused(proc, "cda.yaml:", "alias *a0 is not accepted")


def test_a_yaml_alias_bomb_in_a_codebook_is_refused_in_bounded_memory(ws: Workspace) -> None:
    book = ws.codebooks / "hostile" / "round-1.yaml"
    book.parent.mkdir(parents=True, exist_ok=True)
    book.write_text("round: 1\ncodes: []\n" + _laughs(), encoding="utf-8")
    proc = cda("codebook", "check", "--workspace", str(ws.root), memory=GIB)
    refused(proc, "round-1.yaml:", "alias *a0 is not accepted")


def test_an_oversized_yaml_file_is_refused_without_reading_it(ws: Workspace) -> None:
    with ws.config_file.open("a", encoding="utf-8") as out:
        out.write("# " + "x" * (9 * 1024 * 1024) + "\n")
    proc = cda("config", "show", "--workspace", str(ws.root), memory=GIB)
    refused(proc, "cda.yaml", "too large")


def test_brackets_in_an_error_are_printed_not_read_as_markup(tmp_path: Path) -> None:
    """rich would swallow "[draft]" and fail on "[/]": the path must come out as it is."""
    missing = tmp_path / "reports [draft]" / "x[/]y"
    proc = cda("config", "show", "--workspace", str(missing))
    refused(proc, "reports [draft]/x[/]y")


def test_an_empty_key_in_the_environment_does_not_hide_the_env_file(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.core import env

    env.set_values(ws, {"LABEL_STUDIO_API_KEY": "from-the-file"})
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "")
    assert env.environment(ws)["LABEL_STUDIO_API_KEY"] == "from-the-file"
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "from-the-environment")
    assert env.environment(ws)["LABEL_STUDIO_API_KEY"] == "from-the-environment"


def test_a_port_in_time_wait_is_free_but_a_listening_one_is_not() -> None:
    """Right after a server crashed its port is in TIME_WAIT; restarting must not be refused."""
    import socket

    from pipeline.labelstudio.server import port_free

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    assert not port_free(port)
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = listener.accept()
    accepted.close()  # the server side closes first: its end of the pair goes to TIME_WAIT
    client.close()
    listener.close()
    assert port_free(port)
