"""Which human codes count: the coding basis, stated once and applied the same way everywhere.

Two coders who disagree must never be pooled silently: a theme "raised by 9 speakers" that one
coder saw in 2 segments is not a finding. ``report.coding_basis`` names the rule, and the
report, ``themes.csv``/``themes.json`` and the exports all use :func:`settle`:

- ``settled`` (default): where an adjudicator coded the segment (codes, or deliberately none),
  the adjudicator's codes; elsewhere the codes that **every coder who coded the segment**
  applied. A segment only one coder has coded so far counts with that coder's codes, and is
  reported as single-coded;
- ``union``: codes that any coder applied (the adjudication is not consulted);
- ``intersection``: codes that every coder of the round applied to the segment, the strictest
  reading. The coders of the round are those who coded at least one segment (with codes or a
  deliberate "no code"); one of them who skipped this segment or has not reached it vetoes;
- ``coder:<name>``: one named coder's codes alone.

"Coded" means an annotation with codes or a deliberate "no code" (status ``coded`` or
``empty``); a skipped task is no judgement. With a codebook, a coder's child codes count for
their parent theme *before* coders are compared, so two coders who chose different sub-codes of
one theme agree on the theme. Whatever the rule, a (segment, code) on which the coders who coded
the segment differ and which no adjudicator settled is **unresolved** and counted as such.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pipeline.codebook import Codebook
from pipeline.codings.machine import human_rows
from pipeline.core.config import ADJUDICATION
from pipeline.core.errors import CdaError

RULES = ("settled", "union", "intersection")
JUDGED = ("coded", "empty")
NO_CODE = "(no code)"  # how a deliberate empty annotation is shown to people (exports, tasks)


@dataclass(frozen=True)
class Basis:
    """A parsed ``report.coding_basis``."""

    rule: str  # settled, union, intersection or coder
    coder: str | None = None

    @property
    def name(self) -> str:
        return f"coder:{self.coder}" if self.rule == "coder" else self.rule

    def describe(self) -> str:
        """The rule in one sentence, as the report states it."""
        return {
            "settled": "the adjudicated codes where an adjudicator coded the segment, elsewhere "
            "the codes every coder who coded the segment applied",
            "union": "the codes any coder applied (adjudication not consulted)",
            "intersection": "the codes every coder of the round applied to the segment",
            "coder": f"the codes of coder {self.coder} alone",
        }[self.rule]


def parse_basis(value: str) -> Basis:
    """``settled``, ``union``, ``intersection`` or ``coder:<name>``."""
    if value in RULES:
        return Basis(value)
    if value.startswith("coder:") and value.removeprefix("coder:").strip():
        return Basis("coder", value.removeprefix("coder:").strip())
    raise CdaError(
        f"report.coding_basis: unknown rule '{value}'",
        hint="use settled, union, intersection or coder:<name> in cda.yaml",
    )


@dataclass(frozen=True)
class Settled:
    """The codes that count under a basis, and what the coders left unresolved."""

    table: pd.DataFrame  # segment_id, code: the codes that count
    unresolved: pd.DataFrame  # segment_id, code: coders differ, nobody adjudicated
    single_coded: frozenset[str]  # segments only one coder has coded (and nobody adjudicated)
    coders: tuple[str, ...]  # the coders compared (adjudication excluded)
    basis: Basis


def rollup(pairs: pd.DataFrame, book: Codebook | None) -> pd.DataFrame:
    """Add every ancestor of each row's code (once), keeping the other columns."""
    if book is None or pairs.empty:
        return pairs.drop_duplicates()
    parents = {c.id: c.parent for c in book.codes}
    rows = []
    for record in pairs.to_dict("records"):
        code = record["code"]
        seen = set()
        while code is not None and code not in seen:
            seen.add(code)
            rows.append({**record, "code": code})
            code = parents.get(code)
    return pd.DataFrame(rows, columns=pairs.columns).drop_duplicates()


def settle(codings: pd.DataFrame, basis: Basis, *, book: Codebook | None = None) -> Settled:
    """Apply ``basis`` to ``codings.parquet`` rows; with ``book``, child codes roll up first.

    Codes outside ``book`` are dropped when a book is given (the report's themes are the
    codebook's), kept otherwise (an export shows codes as coded). Machine coders
    (``llm:<model>``) are no judges: their rows are left out before anything is compared.
    """
    codings = human_rows(codings)
    judged = codings[codings["status"].isin(JUDGED)]
    coded = judged[judged["code"].notna()]
    if book is not None:
        coded = coded[coded["code"].isin(book.ids)]
    pairs = rollup(coded[["segment_id", "coder", "code"]], book)
    coders_rows = judged[judged["coder"] != ADJUDICATION]
    coders = tuple(sorted(coders_rows["coder"].unique()))
    if basis.rule == "coder" and basis.coder not in coders:
        known = ", ".join(coders) or "none"
        raise CdaError(
            f"report.coding_basis names coder '{basis.coder}', who has no codings this round",
            hint=f"coders with codings: {known}",
        )
    adjudicated = set(judged.loc[judged["coder"] == ADJUDICATION, "segment_id"])
    by_coder = pairs[pairs["coder"] != ADJUDICATION]
    judges = coders_rows.groupby("segment_id")["coder"].nunique()
    votes = by_coder.groupby(["segment_id", "code"])["coder"].nunique().rename("votes")
    votes = votes.reset_index().join(judges.rename("judges"), on="segment_id")
    split = votes[(votes["votes"] < votes["judges"]) & ~votes["segment_id"].isin(adjudicated)]
    if basis.rule == "settled":
        agreed = votes[(votes["votes"] == votes["judges"]) & ~votes["segment_id"].isin(adjudicated)]
        from_adjudication = pairs[pairs["coder"] == ADJUDICATION]
        table = pd.concat(
            [agreed[["segment_id", "code"]], from_adjudication[["segment_id", "code"]]]
        )
    elif basis.rule == "union":
        table = votes[["segment_id", "code"]]
    elif basis.rule == "intersection":
        table = votes.loc[votes["votes"] == len(coders), ["segment_id", "code"]]
    else:
        table = by_coder.loc[by_coder["coder"] == basis.coder, ["segment_id", "code"]]
    single = set(judges[judges == 1].index) - adjudicated
    return Settled(
        table=_sorted(table),
        unresolved=_sorted(split[["segment_id", "code"]]),
        single_coded=frozenset(single),
        coders=coders,
        basis=basis,
    )


def _sorted(pairs: pd.DataFrame) -> pd.DataFrame:
    return (
        pairs.drop_duplicates()
        .sort_values(["segment_id", "code"])
        .reset_index(drop=True)[["segment_id", "code"]]
    )


def per_coder(codings: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Each coder's own codes (segment_id, code), adjudication included, as coded."""
    coded = codings[(codings["status"] == "coded") & codings["code"].notna()]
    return {
        coder: _sorted(rows[["segment_id", "code"]])
        for coder, rows in coded.groupby("coder", sort=True)
    }
