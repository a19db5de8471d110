"""Secrets and tool settings from the environment or the workspace ``.env`` (never from code).

The process environment wins over ``.env``, so a CI secret or a cluster's module setup is not
overridden by a stale file. Values are never logged.
"""

from __future__ import annotations

import os

from dotenv import dotenv_values

from pipeline.paths import Workspace


def environment(ws: Workspace) -> dict[str, str]:
    """``os.environ`` on top of the workspace's ``.env`` (if any)."""
    values = {}
    env_file = ws.root / ".env"
    if env_file.is_file():
        values = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    values.update(os.environ)
    return values
