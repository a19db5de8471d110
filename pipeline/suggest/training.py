"""What coders have already decided, as training labels for learned suggestions.

Labels come only from human codes under the report's coding basis
(:func:`pipeline.codings.basis.settle`), never from a pool of disagreeing coders: a (segment,
code) the coders who coded the segment differ on, and nobody adjudicated, is left out of that
code's training (neither positive nor negative). Machine coders (``llm:<model>``) never count.

The previous round counts too, mapped through the codebook's ``replaces``:

- a code kept under its id, or one that ``replaces`` earlier codes (a merge), is positive where
  any of them was applied and negative where the segment was coded without them;
- a code that was split (one earlier code replaced by several) takes only the negatives: an
  earlier positive does not say which part applies;
- a new code without ``replaces`` learns nothing from the earlier round.

This round's judgements win over the earlier round's for the same segment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.codebook import Codebook, Loaded, load_round
from pipeline.codings.basis import JUDGED, parse_basis, settle
from pipeline.codings.machine import human_rows
from pipeline.core.config import StudyConfig
from pipeline.core.io import read_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import CODINGS


@dataclass(frozen=True)
class Labels:
    """segment × code training labels: 1 applied, 0 not applied, NaN unknown (unresolved, or
    nothing to learn from); ``judged``: the segments coders judged this round (they get no
    suggestions from the model); ``counts``: where the labels came from, for provenance."""

    table: pd.DataFrame
    judged: frozenset[str]
    counts: dict[str, int]

    def digest(self, codebook_sha: str) -> str:
        """A hash of the training labels and the codebook: what a model's source names."""
        cells = self.table.stack(future_stack=True).dropna()
        rows = sorted(f"{s}\t{c}\t{int(v)}" for (s, c), v in cells.items())
        text = codebook_sha + "\n" + "\n".join(rows)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def round_labels(codings: pd.DataFrame, book: Codebook, basis: str) -> tuple[pd.DataFrame, set]:
    """(segment × code labels of one round's codings under ``basis``, its judged segments)."""
    codings = human_rows(codings)  # machine coders never train a model
    judged = set(codings.loc[codings["status"].isin(JUDGED), "segment_id"])
    table = pd.DataFrame(0.0, index=sorted(judged), columns=book.ids)
    if not judged:
        return table, judged
    settled = settle(codings, parse_basis(basis), book=book)
    for segment, code in settled.table.itertuples(index=False):
        if segment in table.index:
            table.loc[segment, code] = 1.0
    for segment, code in settled.unresolved.itertuples(index=False):
        if segment in table.index:
            table.loc[segment, code] = np.nan
    return table, judged


def carried(previous: pd.DataFrame, old: Codebook, new: Codebook) -> pd.DataFrame:
    """The earlier round's labels in the new round's codes (see the module docstring)."""
    sources: dict[str, list[str]] = {}
    for code in new.codes:
        if code.replaces:
            sources[code.id] = list(code.replaces)
        elif old.code(code.id) is not None:
            sources[code.id] = [code.id]
    taken: dict[str, int] = {}
    for olds in sources.values():
        for o in olds:
            taken[o] = taken.get(o, 0) + 1
    out = pd.DataFrame(np.nan, index=previous.index, columns=new.ids)
    for code, olds in sources.items():
        olds = [o for o in olds if o in previous.columns]
        if not olds:
            continue
        block = previous[olds]
        positive = (block == 1).any(axis=1)
        negative = (block == 0).all(axis=1)
        split = any(taken[o] > 1 for o in olds)
        out.loc[negative, code] = 0.0
        if not split:
            out.loc[positive, code] = 1.0
    return out


def training_labels(ws: Workspace, config: StudyConfig, round_no: int, loaded: Loaded) -> Labels:
    """This round's and (through ``replaces``) the previous round's human codes as labels."""
    basis = config.report.coding_basis
    book = loaded.book
    counts = {"this_round": 0, "previous_round": 0}
    frames = []
    judged: set[str] = set()
    if ws.codings(round_no).is_file():
        table, judged = round_labels(read_table(ws.codings(round_no), CODINGS), book, basis)
        counts["this_round"] = len(judged)
        frames.append(table)
    if book.based_on is not None:
        earlier = int(book.based_on.removeprefix("round-").removesuffix(".yaml"))
        if ws.codings(earlier).is_file():
            old = load_round(ws, config, earlier).book
            table, before = round_labels(read_table(ws.codings(earlier), CODINGS), old, basis)
            table = carried(table, old, book).drop(index=list(judged), errors="ignore")
            counts["previous_round"] = len(before - judged)
            frames.append(table)
    if not frames:
        empty = pd.DataFrame(columns=book.ids, dtype=float)
        return Labels(empty, frozenset(), counts)
    table = pd.concat(frames).reindex(columns=book.ids)
    table = table[~table.index.duplicated(keep="first")].sort_index()
    return Labels(table, frozenset(judged), counts)
