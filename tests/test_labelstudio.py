"""``cda labelstudio start|stop|status``: the workspace's own Label Studio server, for real."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import _template, set_port
from dotenv import dotenv_values

from pipeline.cli.init import init_workspace
from pipeline.core.config import load_config
from pipeline.core.errors import CdaError
from pipeline.core.paths import Workspace
from pipeline.labelstudio import server as labelstudio

CDA = str(Path(sys.executable).with_name("cda"))


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port`` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


def test_server_listens_on_loopback_only_and_answers_health(label_studio):
    port = int(label_studio.url.rsplit(":", 1)[1])
    assert _listening_addresses(port) == {"127.0.0.1"}
    assert httpx.get(label_studio.url + "/health").json()["status"] == "UP"


def test_credentials_live_in_a_private_env_file_and_never_in_the_log(label_studio):
    env_file = label_studio.ws.root / ".env"
    values = dotenv_values(env_file)
    assert set(values) >= {"LABEL_STUDIO_USERNAME", "LABEL_STUDIO_PASSWORD", "LABEL_STUDIO_API_KEY"}
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert ".env" in (label_studio.ws.root / ".gitignore").read_text().splitlines()
    assert (labelstudio.data_dir(label_studio.ws) / ".gitignore").read_text().endswith("*\n")
    log = labelstudio.log_file(label_studio.ws).read_text(errors="replace")
    assert values["LABEL_STUDIO_API_KEY"] not in log
    assert values["LABEL_STUDIO_PASSWORD"] not in log
    whoami = httpx.get(
        label_studio.url + "/api/current-user/whoami",
        headers={"Authorization": f"Token {values['LABEL_STUDIO_API_KEY']}"},
    )
    assert whoami.json()["email"] == labelstudio.USERNAME


def test_the_database_is_readable_by_its_owner_only(label_studio):
    """The sqlite database holds the API key (issue 17). The folder is 0700, so nothing in it
    is reachable by others, whatever mode Label Studio gives its later exports; the database
    itself is 0600."""
    folder = labelstudio.data_dir(label_studio.ws)
    assert folder.stat().st_mode & 0o777 == 0o700
    database = folder / "label_studio.sqlite3"
    assert database.is_file() and database.stat().st_mode & 0o777 == 0o600


def test_starting_again_finds_the_running_server(label_studio):
    pid = labelstudio.running_pid(label_studio.ws)
    assert labelstudio.start(label_studio.ws, load_config(label_studio.ws)) == label_studio.url
    assert labelstudio.running_pid(label_studio.ws) == pid
    status = subprocess.run(
        [CDA, "labelstudio", "status", "-w", str(label_studio.ws.root)],
        capture_output=True,
        text=True,
    )
    assert status.returncode == 0 and "running" in status.stdout


def test_a_busy_port_is_an_error_not_a_silent_move(tmp_path, label_studio):
    ws = Workspace.at(tmp_path / "other")
    init_workspace(ws, study="other", groups=["burgers"])
    set_port(ws, int(label_studio.url.rsplit(":", 1)[1]))
    with pytest.raises(CdaError, match="in use by another program"):
        labelstudio.start(ws, load_config(ws))
    assert not (ws.root / ".env").exists()
    assert not labelstudio.data_dir(ws).exists()


def test_missing_installation_says_how_to_install(tmp_path, label_studio):
    ws = Workspace.at(tmp_path / "ws")
    init_workspace(ws, study="proef", groups=["burgers"])
    set_port(ws, labelstudio.free_port())
    with ws.config_file.open("a") as handle:
        handle.write(f"  executable: {tmp_path / 'nowhere' / 'label-studio'}\n")
    with pytest.raises(CdaError, match="not installed") as failed:
        labelstudio.start(ws, load_config(ws))
    assert "make setup-labelstudio" in failed.value.hint


def test_a_database_without_its_env_file_is_refused(tmp_path, label_studio):
    root = tmp_path / "copy"
    shutil.copytree(_template(), root)
    (root / ".env").unlink()
    ws = Workspace.at(root)
    set_port(ws, labelstudio.free_port())
    with pytest.raises(CdaError, match="lacks"):
        labelstudio.start(ws, load_config(ws))
    assert not (root / ".env").exists()  # no fresh credentials that would not match


def test_stop_ends_the_server_and_start_brings_it_back_with_its_data(tmp_path, label_studio):
    root = tmp_path / "copy"
    shutil.copytree(_template(), root)
    ws = Workspace.at(root)
    set_port(ws, labelstudio.free_port())
    config = load_config(ws)
    url = labelstudio.start(ws, config)
    try:
        key = dotenv_values(root / ".env")["LABEL_STUDIO_API_KEY"]
        created = httpx.post(
            url + "/api/projects",
            json={"title": "blijft bestaan"},
            headers={"Authorization": f"Token {key}"},
        )
        assert created.status_code == 201
        assert labelstudio.stop(ws)
        assert not labelstudio.healthy(url)
        assert labelstudio.running_pid(ws) is None
        assert not labelstudio.stop(ws)
        labelstudio.start(ws, config)
        titles = httpx.get(url + "/api/projects", headers={"Authorization": f"Token {key}"})
        assert "blijft bestaan" in {p["title"] for p in titles.json()["results"]}
    finally:
        labelstudio.stop(ws)


def test_server_environment_drops_variables_label_studio_would_misread(monkeypatch, tmp_path):
    monkeypatch.setenv("USERNAME", "jan")
    monkeypatch.setenv("PORT", "9999")
    monkeypatch.setenv("LABEL_STUDIO_HOST", "http://0.0.0.0")
    ws = Workspace.at(tmp_path)
    env = labelstudio.server_environment(
        ws,
        {"LABEL_STUDIO_USERNAME": "a@b", "LABEL_STUDIO_PASSWORD": "p", "LABEL_STUDIO_API_KEY": "k"},
    )
    assert "USERNAME" not in env and "PORT" not in env and "LABEL_STUDIO_HOST" not in env
    assert env["COLLECT_ANALYTICS"] == "false" and env["LATEST_VERSION_CHECK"] == "false"
    assert env["LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"] == str(ws.data)
    assert env["LABEL_STUDIO_USER_TOKEN"] == "k"
