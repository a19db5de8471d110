"""Coder names and the canonical order of codings.parquet rows (shared by Label Studio and
REFI-QDA import, so both write the same bytes for the same codes)."""

from __future__ import annotations

import json

import pandas as pd

from pipeline.core.paths import Workspace
from pipeline.core.schemas import CODINGS_ORDER


def label_studio_coders(ws: Workspace, round_no: int) -> set[str]:
    """Coders (adjudication included) that have a Label Studio project for the round."""
    return set(_ls_state(ws, round_no))


def sort_codings(frame: pd.DataFrame) -> pd.DataFrame:
    """The one row order of codings.parquet, whoever writes it (pull, cda import qdpx)."""
    order = frame.sort_values(CODINGS_ORDER, na_position="first", kind="stable")
    return order.reset_index(drop=True)


def _ls_state(ws: Workspace, round_no: int) -> dict:
    """The round's Label Studio projects per coder (written by ``cda ls push``)."""
    path = ws.ls_state(round_no)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
