"""Secrets and tool settings from the environment or the workspace ``.env`` (never from code).

The process environment wins over ``.env``, so a CI secret or a cluster's module setup is not
overridden by a stale file; an empty variable counts as unset (``export KEY=`` must not hide
the key in ``.env``). Values are never logged.
"""

from __future__ import annotations

import os

from dotenv import dotenv_values

from pipeline.core.paths import Workspace


def environment(ws: Workspace) -> dict[str, str]:
    """``os.environ`` on top of the workspace's ``.env`` (if any)."""
    values = {}
    env_file = ws.root / ".env"
    if env_file.is_file():
        values = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    values.update({k: v for k, v in os.environ.items() if v != ""})
    return values


def set_values(ws: Workspace, values: dict[str, str]) -> None:
    """Set keys in the workspace ``.env``, keeping its other lines; readable by the owner only.

    Written atomically, so an interrupted write never leaves a half file that loses the
    credentials of a server holding weeks of coding.
    """
    from pipeline.core.io import write_text

    env_file = ws.root / ".env"
    lines = env_file.read_text(encoding="utf-8").splitlines() if env_file.is_file() else []
    pending = dict(values)
    kept = []
    for line in lines:
        key = line.split("=", 1)[0].strip()
        if key in pending:
            kept.append(f"{key}={_quote(pending.pop(key))}")
        else:
            kept.append(line)
    kept += [f"{key}={_quote(value)}" for key, value in pending.items()]
    write_text(env_file, "\n".join(kept) + "\n")
    env_file.chmod(0o600)


def _quote(value: str) -> str:
    return f"'{value}'" if any(ch in value for ch in " #\"'$") else value
