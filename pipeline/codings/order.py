"""Coder names and the canonical order of codings.parquet rows (shared by Label Studio and
REFI-QDA import, so both write the same bytes for the same codes), and the record of which
Label Studio project holds which coder's tasks in a round.

The record (``ws.ls_state(round_no)``) lets a push find its own projects again by id, so a
project deleted in the UI is noticed rather than silently recreated empty. Lost, it is rebuilt
from the project titles on the next push.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.core.io import write_text
from pipeline.core.paths import Workspace
from pipeline.core.schemas import CODINGS_ORDER


def label_studio_coders(ws: Workspace, round_no: int) -> set[str]:
    """Coders (adjudication included) that have a Label Studio project for the round."""
    return set(RoundProjects(ws, round_no).read())


def sort_codings(frame: pd.DataFrame) -> pd.DataFrame:
    """The one row order of codings.parquet, whoever writes it (pull, cda import qdpx)."""
    order = frame.sort_values(CODINGS_ORDER, na_position="first", kind="stable")
    return order.reset_index(drop=True)


@dataclass(frozen=True)
class RoundProjects:
    """The projects of one coding round: coder → ``{"id", "title", "url"}``."""

    ws: Workspace
    round_no: int

    @property
    def path(self) -> Path:
        return self.ws.ls_state(self.round_no)

    def read(self) -> dict[str, dict]:
        return json.loads(self.path.read_text(encoding="utf-8")) if self.path.is_file() else {}

    def get(self, coder: str) -> dict | None:
        return self.read().get(coder)

    def record(self, coder: str, *, project_id: int, title: str, url: str) -> None:
        """Note the coder's project (other coders' entries are kept as they are)."""
        state = self.read()
        state[coder] = {"id": project_id, "title": title, "url": url}
        write_text(self.path, json.dumps(state, indent=2, sort_keys=True) + "\n")
