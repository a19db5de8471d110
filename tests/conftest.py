"""Session fixtures: one real Label Studio server for every test that needs it.

The first run starts Label Studio on an empty data folder (~45 s of migrations) and keeps that
migrated workspace in ``test-artifacts/`` as a template (per Label Studio version); later runs
copy it and start in a few seconds. Without ``.venvs/labelstudio`` the tests skip, unless
``CDA_REQUIRE_LABELSTUDIO=1`` (CI) turns the skip into a failure.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LS_VENV = REPO / ".venvs" / "labelstudio"
# One e5 embedding cache for every test workspace (and run): entries are keyed by model and
# text, so sharing is safe, and the sample is embedded once rather than once per fixture.
os.environ.setdefault("CDA_EMBEDDING_CACHE", str(REPO / "test-artifacts" / "embeddings"))


@dataclass(frozen=True)
class Server:
    ws: object  # pipeline.core.paths.Workspace of the server (its data/ is the local-files root)
    url: str
    api_key: str
    client: object  # a label_studio_sdk.LabelStudio, closed when the session ends


def set_port(ws, port: int) -> None:
    text = ws.config_file.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith(("labelstudio:", "  port:"))]
    lines += ["labelstudio:", f"  port: {port}"]
    ws.config_file.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _template() -> Path:
    version = sorted(LS_VENV.glob("lib/python*/site-packages/label_studio-*.dist-info"))
    tag = version[0].name.removesuffix(".dist-info").split("-", 1)[1] if version else "unknown"
    template = REPO / "test-artifacts" / f"labelstudio-{tag}"
    template.parent.mkdir(parents=True, exist_ok=True)
    # test workers (pytest -n) build the template once: the second waits for the first
    with (template.parent / f".labelstudio-{tag}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_template(template)


def _build_template(template: Path) -> Path:
    from pipeline.cli.init import init_workspace
    from pipeline.core.config import load_config
    from pipeline.core.paths import Workspace
    from pipeline.labelstudio import server as labelstudio

    if (template / ".ready").is_file():
        return template
    shutil.rmtree(template, ignore_errors=True)
    ws = Workspace.at(template)
    init_workspace(ws, study="ls-server", groups=["burgers", "deskundigen"])
    set_port(ws, labelstudio.free_port())
    labelstudio.start(ws, load_config(ws))
    labelstudio.stop(ws)
    (template / ".ready").write_text("")
    return template


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory) -> Server:
    """A running Label Studio on 127.0.0.1 (a copy of the migrated template), stopped at the end."""
    if not (LS_VENV / "bin" / "label-studio").exists():
        message = "Label Studio not installed: run `make setup-labelstudio`"
        if os.environ.get("CDA_REQUIRE_LABELSTUDIO"):
            pytest.fail(message)
        pytest.skip(message)
    import httpx
    from dotenv import dotenv_values
    from label_studio_sdk import LabelStudio

    from pipeline.core.config import load_config
    from pipeline.core.paths import Workspace
    from pipeline.labelstudio import server as labelstudio

    root = tmp_path_factory.mktemp("ls") / "server"
    shutil.copytree(_template(), root, symlinks=True)
    ws = Workspace.at(root)
    set_port(ws, labelstudio.free_port())
    url = labelstudio.start(ws, load_config(ws))
    key = dotenv_values(root / ".env")[labelstudio.TOKEN_KEY]
    with httpx.Client(timeout=120) as http:
        yield Server(ws, url, key, LabelStudio(base_url=url, api_key=key, httpx_client=http))
    labelstudio.stop(ws)


@pytest.fixture
def ls_env(monkeypatch, label_studio: Server) -> Server:
    """The server's URL and key in the environment, as a user's .env would provide them."""
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.api_key)
    return label_studio


# Tiers: a test that uses one of these fixtures gets the marker, so `make test-fast` (which
# deselects them) never starts a server or WhisperX, without anyone remembering to mark it.
FIXTURE_MARKERS = {"label_studio": "server", "whisperx": "whisperx"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, marker in FIXTURE_MARKERS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)


# Every test that parses a workspace would otherwise run Frog (auto picks it when installed),
# paying its ~10 CPU-s start-up each time: pin the blank backend; Frog's own tests
# (tests/test_frog.py) choose Frog explicitly and share one run.
os.environ.setdefault("CDA_NLP_BACKEND", "blank")
