"""The grammar of each theme per group: agentless passives, nominalisations, modal verbs by
kind, pronoun perspective, and (where a parser ran) actors as agents or patients.

The findings are :func:`pipeline.language.grammar.clauses` of the report's own tokens table,
the rule set that writes ``data/interim/clauses.parquet``, so every count here can be recounted
from that file: for a theme and a group, the findings of the item (``feature``/``kind``, or
``agentless`` for passives) in the group's participant segments that carry the theme under the
coding basis, over the words (tokens that are not punctuation,
:func:`pipeline.language.corpus.words_per_segment`) of those segments, per 1,000. The segment ids
are listed with each count (``grammar.csv``). Only human codes count: a theme assigned by
machine suggestions has no grammar section. Actors count only when person-like (a personal
pronoun, a name or a noun); *agents* are subjects of active clauses and ``door`` phrases of
passives, *patients* subjects of passives and direct objects.

What is not sound without a parser (subjects, actors) is left out and the section says so;
without a tagger, or in a language without rules, there is no grammar at all.
"""

from __future__ import annotations

import pandas as pd

from pipeline.language.grammar import GrammarStatus

# (item as shown, feature, kind or None for any, extra condition)
ITEMS: tuple[tuple[str, str, str | None, str | None], ...] = (
    ("agentless passive", "passive", None, "agentless"),
    ("passive with agent", "passive", None, "agent"),
    ("nominalisation", "nominalisation", None, None),
    ("modal: obligation", "modal", "obligation", None),
    ("modal: possibility", "modal", "possibility", None),
    ("modal: permission", "modal", "permission", None),
    ("modal: volition", "modal", "volition", None),
    ("modal: future", "modal", "future", None),
    ("pronoun: us", "pronoun", "us", None),
    ("pronoun: them", "pronoun", "them", None),
    ("pronoun: self", "pronoun", "self", None),
    ("pronoun: you", "pronoun", "you", None),
    ("pronoun: men", "pronoun", "men", None),
    ("actor as agent", "actor", "agent", "person"),
    ("actor as patient", "actor", "patient", "person"),
)

COLUMNS = ["theme", "group", "item", "feature", "count", "words", "per_1000", "segments"]


def _select(found: pd.DataFrame, feature: str, kind: str | None, extra: str | None) -> pd.Series:
    mask = found["feature"] == feature
    if kind is not None:
        mask &= found["kind"] == kind
    if extra == "agentless":
        mask &= found["agentless"].fillna(False).astype(bool)
    elif extra == "agent":
        mask &= ~found["agentless"].fillna(True).astype(bool)
    elif extra == "person":
        mask &= found["actor_kind"].isin(["pronoun", "name", "noun"])
    return mask


def grammar_rows(
    theme: str,
    findings: pd.DataFrame,
    participants: pd.DataFrame,
    members: set[str],
    status: GrammarStatus,
) -> list[dict]:
    """One theme's rows: per group with words in the theme, per available item.

    ``participants``: participant segments with ``group`` and ``words``; ``members``: the
    theme's segments (human codes under the coding basis).
    """
    inside = participants[participants["segment_id"].isin(members)]
    items = [item for item in ITEMS if item[1] in status.available]
    rows = []
    for group, part in inside.groupby("group", sort=True):
        words = int(part["words"].sum())
        if not words:
            continue
        mine = findings[findings["segment_id"].isin(part["segment_id"])]
        for label, feature, kind, extra in items:
            hits = mine[_select(mine, feature, kind, extra)]
            rows.append(
                {
                    "theme": theme,
                    "group": group,
                    "item": label,
                    "feature": feature,
                    "count": len(hits),
                    "words": words,
                    "per_1000": 1000 * len(hits) / words,
                    "segments": "; ".join(sorted(hits["segment_id"].unique())),
                }
            )
    return rows


def grammar_note(status: GrammarStatus, *, human: bool) -> str | None:
    """What the section cannot show, in plain words (None: everything is shown)."""
    if not human:
        return "no grammar per theme: themes come from machine suggestions, not human codes"
    if not status.available:
        reason = next(iter(status.unavailable.values()), "no grammar")
        return f"no grammar per theme: {reason}"
    if status.unavailable:
        return (
            "no dependency parser ran: subjects and actors (agents, patients) are not shown; "
            "passives, nominalisations, modal verbs and pronouns come from the tags"
        )
    return None
