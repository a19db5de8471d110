"""``cda labelstudio start|stop|status``: a local Label Studio server for the workspace.

Label Studio lives in its own environment (``.venvs/labelstudio``, ``make setup-labelstudio``)
so that its Django pins never meet the pipeline's. The server:

- listens on 127.0.0.1 only, on ``labelstudio.port``; a busy port is an error, because Label
  Studio would otherwise drift silently to the next free port and the pipeline would talk to
  whatever holds the configured one;
- keeps its database and uploads in ``data/labelstudio/`` (git-ignored), so each study's
  coding lives with the study;
- is created headlessly on first start: an admin user, a random password and a random API
  token, stored in the workspace ``.env`` (mode 600). They are passed to the server through its
  environment, never on the command line where ``ps`` would show them;
- has telemetry, Sentry and update checks off, sign-up without an invite link off, and local
  file serving limited to the workspace's ``data/`` folder (for the audio clips of tasks).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from pipeline.core import env
from pipeline.core.config import StudyConfig
from pipeline.core.errors import CdaError
from pipeline.core.io import write_text
from pipeline.core.paths import Workspace, local_tool

log = logging.getLogger("pipeline")

USERNAME = "admin@cda.local"
URL_KEY, TOKEN_KEY = "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"
USER_KEY, PASSWORD_KEY = "LABEL_STUDIO_USERNAME", "LABEL_STUDIO_PASSWORD"
# Variables Label Studio also reads without its prefix: a user's USERNAME or PORT must not leak in.
_BARE = ("USERNAME", "PASSWORD", "HOST", "PORT", "USER_TOKEN", "DATABASE_NAME")
# Servers started by this process, so stop() can reap them (no zombies, no ResourceWarning).
_STARTED: dict[int, subprocess.Popen] = {}


@dataclass(frozen=True)
class Connection:
    """Where the server is and the key to use; ``repr`` never shows the key."""

    url: str
    api_key: str

    def __repr__(self) -> str:
        return f"Connection(url={self.url!r}, api_key=<hidden>)"


def data_dir(ws: Workspace) -> Path:
    return ws.data / "labelstudio"


def _pid_file(ws: Workspace) -> Path:
    return data_dir(ws) / "server.pid"


def log_file(ws: Workspace) -> Path:
    return data_dir(ws) / "server.log"


def local_url(config: StudyConfig) -> str:
    return f"http://127.0.0.1:{config.labelstudio.port}"


def connection(ws: Workspace, config: StudyConfig) -> Connection:
    """The server to talk to: environment, then ``.env``, then ``cda.yaml``; the key is required."""
    values = env.environment(ws)
    url = values.get(URL_KEY) or config.labelstudio.url or local_url(config)
    key = values.get(TOKEN_KEY)
    if not key:
        raise CdaError(
            f"no Label Studio API key: {TOKEN_KEY} is not set in the environment or in "
            f"{ws.root / '.env'}",
            hint="`make labelstudio WS=…` starts a local server and stores its key there; for "
            "another server, put your access token from its Account & Settings page in .env",
        )
    return Connection(url.rstrip("/"), key)


def executable(config: StudyConfig) -> Path:
    value = config.labelstudio.executable or os.environ.get("CDA_LABELSTUDIO")
    path = (
        Path(value).expanduser()
        if value
        else local_tool(".venvs", "labelstudio", "bin", "label-studio")
    )
    if not path.exists():
        raise CdaError(
            f"Label Studio is not installed: {path} not found",
            hint="run `make setup-labelstudio` (creates .venvs/labelstudio), or set "
            "labelstudio.executable in cda.yaml",
        )
    return path


def healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        response = httpx.get(f"{url}/health", timeout=timeout)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and "UP" in response.text


def port_free(port: int) -> bool:
    """Nothing listens on the port. SO_REUSEADDR, as the server itself binds: a port left in
    TIME_WAIT by a server that just crashed is free, not "in use by another program"."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port nothing listens on now (for throwaway servers: tests and benchmarks)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def running_pid(ws: Workspace) -> int | None:
    """The pid of this workspace's server if it is alive.

    The pid file is only trusted for a live process that is Label Studio: a damaged or stale
    file (a pid reused by another program after a reboot) must not make ``stop`` signal an
    unrelated process group.
    """
    path = _pid_file(ws)
    if not path.is_file():
        return None
    try:
        pid = int(path.read_text(encoding="utf-8", errors="replace").strip())
        if not 1 < pid < 1 << 22:  # Linux's pid_max ceiling
            return None
        os.kill(pid, 0)
    except (ValueError, OverflowError, ProcessLookupError, PermissionError):
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists() and b"label-studio" not in cmdline.read_bytes():
        return None  # where /proc exists (Linux) the process must be Label Studio
    return pid


def _credentials(ws: Workspace) -> dict[str, str]:
    """The admin's credentials from ``.env``, created on first use."""
    values = env.environment(ws)
    wanted = (USER_KEY, PASSWORD_KEY, TOKEN_KEY)
    if all(values.get(k) for k in wanted):
        return {k: values[k] for k in wanted}
    if (data_dir(ws) / "label_studio.sqlite3").exists():
        raise CdaError(
            f"{data_dir(ws)} holds a Label Studio database, but {ws.root / '.env'} lacks "
            f"{', '.join(k for k in wanted if not values.get(k))}",
            hint="restore the .env that belongs to this database (the admin's password and "
            "token are only stored there)",
        )
    created = {
        USER_KEY: USERNAME,
        PASSWORD_KEY: secrets.token_urlsafe(18),
        TOKEN_KEY: secrets.token_hex(20),
    }
    env.set_values(ws, created)
    return created


def _owner_only(folder: Path) -> None:
    """The server's folder and files readable by the owner only (the database holds the key),
    also for databases created before this rule."""
    folder.chmod(0o700)
    for path in folder.rglob("*"):
        path.chmod(0o700 if path.is_dir() else 0o600)


def _git_ignore(ws: Workspace) -> None:
    """Keep the credentials and the coding database out of git, in whatever repo holds ``ws``."""
    write_text(data_dir(ws) / ".gitignore", "# Label Studio's database: never commit.\n*\n",
               only_if_changed=True)  # fmt: skip
    ignore = ws.root / ".gitignore"
    lines = ignore.read_text(encoding="utf-8").splitlines() if ignore.is_file() else []
    if not {".env", "/.env", "*.env"} & {line.strip() for line in lines}:
        write_text(
            ignore, "\n".join([*lines, "# secrets (Label Studio key, HF_TOKEN)", ".env"]) + "\n"
        )


def server_environment(ws: Workspace, credentials: dict[str, str]) -> dict[str, str]:
    """The server's environment: this process's minus anything Label Studio would misread."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in _BARE and not k.startswith(("LABEL_STUDIO_", "HEARTEX_"))
    }
    clean.update(
        {
            "LABEL_STUDIO_USERNAME": credentials[USER_KEY],
            "LABEL_STUDIO_PASSWORD": credentials[PASSWORD_KEY],
            "LABEL_STUDIO_USER_TOKEN": credentials[TOKEN_KEY],
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir(ws)),
            "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
            "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(ws.data),
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
            "COLLECT_ANALYTICS": "false",
            "SENTRY_DSN": "",
            "FRONTEND_SENTRY_DSN": "",
            "LATEST_VERSION_CHECK": "false",
        }
    )
    return clean


def start(ws: Workspace, config: StudyConfig) -> str:
    """Start the workspace's server (or find it running) and return its URL once healthy."""
    url = local_url(config)
    port = config.labelstudio.port
    if running_pid(ws) is not None and healthy(url):
        log.info("Label Studio already running at %s", url)
        return url
    if not port_free(port):
        raise CdaError(
            f"port {port} on 127.0.0.1 is in use by another program",
            hint="stop that program, or set labelstudio.port in cda.yaml to a free port",
        )
    program = executable(config)
    credentials = _credentials(ws)
    folder = data_dir(ws)
    folder.mkdir(parents=True, exist_ok=True)
    _owner_only(folder)
    _git_ignore(ws)
    first = not (folder / "label_studio.sqlite3").exists()
    command = [
        str(program), "start", "--no-browser", "--internal-host", "127.0.0.1",
        "--port", str(port), "--data-dir", str(folder), "--enable-legacy-api-token",
    ]  # fmt: skip
    with open(log_file(ws), "ab") as output:
        process = subprocess.Popen(
            command,
            env=server_environment(ws, credentials),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            umask=0o077,  # the database it creates holds the API key: owner only
        )
    _STARTED[process.pid] = process
    _pid_file(ws).write_text(f"{process.pid}\n")
    _owner_only(folder)  # the log and pid file this process just made
    log.info(
        "starting Label Studio on %s%s",
        url,
        " (first start: creating the database, ~1 min)" if first else "",
    )
    deadline = time.monotonic() + config.labelstudio.startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _STARTED.pop(process.pid, None)
            _pid_file(ws).unlink(missing_ok=True)
            raise CdaError(
                f"Label Studio exited with status {process.returncode} while starting",
                hint=f"see {ws.display(log_file(ws))}:\n{_tail(log_file(ws))}",
            )
        if healthy(url):
            _check_token(url, credentials[TOKEN_KEY], ws)
            return url
        time.sleep(1)
    stop(ws)
    raise CdaError(
        f"Label Studio did not answer {url}/health in {config.labelstudio.startup_timeout:.0f} s",
        hint=f"see {ws.display(log_file(ws))}; raise labelstudio.startup_timeout on a slow machine",
    )


def _check_token(url: str, token: str, ws: Workspace) -> None:
    response = httpx.get(
        f"{url}/api/current-user/whoami", headers={"Authorization": f"Token {token}"}, timeout=10
    )
    if response.status_code in (401, 403):
        raise CdaError(
            f"the Label Studio at {url} does not accept the API key in {ws.root / '.env'}",
            hint="the database in data/labelstudio/ was created with other credentials: restore "
            "the matching .env",
        )


def _tail(path: Path, lines: int = 15) -> str:
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def stop(ws: Workspace, *, grace: float = 20.0) -> bool:
    """Stop the workspace's server (its whole process group). Returns whether one was running."""
    pid = running_pid(ws)
    if pid is None:
        _pid_file(ws).unlink(missing_ok=True)  # stale: the server died on its own
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
    if pid in _STARTED:
        _STARTED.pop(pid).wait(timeout=10)
    _pid_file(ws).unlink(missing_ok=True)
    return True


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
