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

from pipeline.core.errors import CdaError
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
    """The projects of one coding round: coder → ``{"id", "title", "url"}``, and once pushed
    ``"last_push": {"order", "created", "scored"}``."""

    ws: Workspace
    round_no: int

    @property
    def path(self) -> Path:
        return self.ws.ls_state(self.round_no)

    def read(self) -> dict[str, dict]:
        """The record: coder → entry; a damaged one is refused, naming the file.

        Only the coders are checked here (which coders a round has, for qdpx import); an
        entry is checked where its project is looked up (:meth:`get`).
        """
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (ValueError, RecursionError) as exc:  # not UTF-8, cut short, nested too deep
            raise self._damaged(f"not JSON ({str(exc)[:80]})") from None
        if not isinstance(data, dict):
            raise self._damaged(f"holds a {type(data).__name__}, not an object of coders")
        return data

    def get(self, coder: str) -> dict | None:
        entry = self.read().get(coder)
        if entry is not None and not (
            isinstance(entry, dict)
            and isinstance(entry.get("id"), int)
            and isinstance(entry.get("title"), str)
            and isinstance(entry.get("url"), str)
        ):
            raise self._damaged(f"coder {coder[:40]!r} has no project id, title and url")
        return entry

    def _damaged(self, problem: str) -> CdaError:
        return CdaError(
            f"{self.ws.display(self.path)}: damaged, {problem}",
            hint="delete it: the next `cda ls push` finds each coder's project again by its title",
        )

    def record(self, coder: str, *, project_id: int, title: str, url: str) -> None:
        """Note the coder's project (other coders' entries are kept as they are; so is what
        :meth:`note_push` noted about the same project)."""
        state = self.read()
        old = state.get(coder)
        entry = {"id": project_id, "title": title, "url": url}
        if isinstance(old, dict) and old.get("id") == project_id and "last_push" in old:
            entry["last_push"] = old["last_push"]
        state[coder] = entry
        self._write(state)

    def note_push(self, coder: str, *, order: str, created: int, scored: int) -> None:
        """Note how the coder's last push ordered its new tasks (``order``; ``scored`` of the
        ``created`` tasks had an uncertainty score and came first), so the order a coder's
        queue was built in can be told afterwards."""
        state = self.read()
        entry = state.get(coder)
        if isinstance(entry, dict):
            entry["last_push"] = {"order": order, "created": created, "scored": scored}
            self._write(state)

    def _write(self, state: dict) -> None:
        write_text(self.path, json.dumps(state, indent=2, sort_keys=True) + "\n")
