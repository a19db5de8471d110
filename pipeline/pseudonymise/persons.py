"""One person, one pseudonym, across recordings: the ``person`` column of the speaker key.

Diarised labels (``SPEAKER_00``) are per recording, so the same participant in two workshops
gets two pseudonyms and every speaker-level figure (breadth, per-speaker shares, thin themes)
counts them twice. An analyst who knows they are one person writes the same value in the
optional ``person`` column of ``data/private/speakers.csv`` for those rows; an empty value means
the label is its own person (a named label such as ``Anouk`` already is one speaker across
recordings). The value is a private id, compared after trimming and NFC; put a real name in
``real_name``, which is what gets masked.

All rows of a person get one pseudonym, so the report (which counts pseudonyms) counts the
person once. Which one: a pseudonym not of the generated form (``P07``, ``F02``) was chosen by
hand and wins; otherwise the earliest given, the lowest number. Refused, with the rows named:

- two hand-chosen pseudonyms for one person (the pipeline cannot pick one);
- two persons sharing a pseudonym (their talk would be counted as one speaker's);
- a person who is a facilitator in one row and a participant in another (the report leaves
  facilitators out, so one person would be half in, half out);
- a person in recordings of two groups: groups are compared on speakers as independent
  samples, and the thin-theme count sums speakers over groups, so one person in two groups
  would be two observations and counted twice;
- a person on an ``unknown`` speaker row (undiarised talk is nobody in particular).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import pandas as pd

from pipeline.core.config import PseudonymiseConfig
from pipeline.core.errors import CdaError
from pipeline.core.transcript import UNKNOWN_SPEAKER
from pipeline.language.names import nfc

PERSON = "person"
KEY_FILE = "data/private/speakers.csv"


@dataclass(frozen=True)
class PersonMerge:
    """A key row whose pseudonym changed so that its person has one pseudonym."""

    recording_id: str
    label: str
    person: str
    before: str
    after: str


def person_of(value: object) -> str | None:
    """The person id of a key cell: trimmed NFC text, or None when empty."""
    if not isinstance(value, str) or not value.strip():
        return None
    return nfc(value.strip())


def _generated(cfg: PseudonymiseConfig) -> re.Pattern[str]:
    prefixes = "|".join(re.escape(p) for p in (cfg.participant_prefix, cfg.facilitator_prefix))
    return re.compile(rf"^(?:{prefixes})(\d+)$")


def _row(key: pd.DataFrame, index: int) -> str:
    """How a message names a key row: its line in the file (header = line 1) and recording.

    Never the label or the person: both may be real names, and messages end up in logs.
    """
    return f"row {index + 2} (recording {key.at[index, 'recording_id']})"


def _next_free(key: pd.DataFrame, cfg: PseudonymiseConfig) -> str:
    pattern = _generated(cfg)
    used = [int(m.group(1)) for p in key["pseudonym"] if (m := pattern.match(str(p)))]
    return f"{cfg.participant_prefix}{max(used, default=0) + 1:02d}"


def unify(
    key: pd.DataFrame, cfg: PseudonymiseConfig, *, where: str = KEY_FILE
) -> tuple[pd.DataFrame, list[PersonMerge]]:
    """The key with one pseudonym per person, and the rows whose pseudonym changed.

    ``key`` has a ``person`` column (None where empty) and a fresh 0..n-1 index in file order.
    """
    key = key.copy()
    hint = f"edit {where}"
    rows_of: dict[str, list[int]] = defaultdict(list)
    for index, value in zip(key.index, key[PERSON], strict=True):
        person = person_of(value)
        if person is None:
            continue
        if key.at[index, "pseudonym"] == UNKNOWN_SPEAKER or key.at[index, "label"] == (
            UNKNOWN_SPEAKER
        ):
            raise CdaError(
                f"{where}: {_row(key, index)} gives a person to the unknown speaker",
                hint=f"{hint}: clear its person (talk without a speaker is no one's in particular)",
            )
        rows_of[person].append(index)
    key[PERSON] = [person_of(v) for v in key[PERSON]]
    generated = _generated(cfg)
    merges = []
    for person, rows in rows_of.items():
        pseudonyms = list(dict.fromkeys(key.loc[rows, "pseudonym"]))
        if len(pseudonyms) == 1:
            continue
        by_hand = [p for p in pseudonyms if not generated.match(p)]
        if len(by_hand) > 1:
            listed = "; ".join(
                f"{_row(key, i)}: {key.at[i, 'pseudonym']}"
                for i in rows
                if key.at[i, "pseudonym"] in by_hand
            )
            raise CdaError(
                f"{where}: one person has {len(by_hand)} pseudonyms chosen by hand ({listed})",
                hint=f"{hint}: give all rows of that person the one pseudonym to keep",
            )
        chosen = (
            by_hand[0]
            if by_hand
            else min(pseudonyms, key=lambda p: (int(generated.match(p).group(1)), p))
        )
        for index in rows:
            before = key.at[index, "pseudonym"]
            if before != chosen:
                key.at[index, "pseudonym"] = chosen
                merges.append(
                    PersonMerge(
                        key.at[index, "recording_id"],
                        key.at[index, "label"],
                        person,
                        before,
                        chosen,
                    )
                )
    return key, merges


def check(
    key: pd.DataFrame,
    groups: dict[str, str],
    cfg: PseudonymiseConfig,
    *,
    where: str = KEY_FILE,
) -> None:
    """Refuse a key in which a pseudonym does not stand for exactly one person (module doc).

    ``key`` has roles as the config says now; ``groups`` maps the imported recordings to their
    group (recordings not imported now are not checked for groups).
    """
    generic = re.compile(cfg.generic_label_pattern, re.IGNORECASE)
    hint = f"edit {where}"
    holders: dict[str, dict[tuple, int]] = defaultdict(dict)
    roles: dict[str, dict[str, int]] = defaultdict(dict)
    in_groups: dict[str, dict[str, int]] = defaultdict(dict)
    for index, row in zip(key.index, key.itertuples(index=False), strict=True):
        if row.pseudonym == UNKNOWN_SPEAKER:
            continue
        person = person_of(getattr(row, PERSON))
        label = nfc(row.label)
        if person is not None:
            who: tuple = ("person", person)
        elif not generic.match(label):
            who = ("label", label)  # a named label is one speaker across the study
        else:
            who = ("row", row.recording_id, label)
        holders[row.pseudonym].setdefault(who, index)
        if person is not None:
            roles[person].setdefault(row.role, index)
            if row.recording_id in groups:
                in_groups[person].setdefault(groups[row.recording_id], index)
    for seen in roles.values():
        if len(seen) > 1:
            listed = " and ".join(f"{role} in {_row(key, i)}" for role, i in seen.items())
            raise CdaError(
                f"{where}: one person is {listed}; the report leaves facilitators out, so "
                "one person cannot be both",
                hint=f"{hint}: clear '{PERSON}' on one of them (two persons), or correct "
                "pseudonymise.facilitator_labels in cda.yaml",
            )
    for seen in in_groups.values():
        if len(seen) > 1:
            listed = " and ".join(f"group '{g}' in {_row(key, i)}" for g, i in seen.items())
            raise CdaError(
                f"{where}: one person is in {listed}; groups are compared as separate "
                "sets of speakers, so one person in two groups would count twice",
                hint=f"{hint}: clear '{PERSON}' on the rows of one group (they then count as a "
                "separate speaker there), or correct the group in data/recordings.csv",
            )
    for pseudonym, who in holders.items():
        if len(who) > 1:
            (first, a), (second, b) = list(who.items())[:2]
            raise CdaError(
                f"{where}: pseudonym {pseudonym} is shared by {_who(first)} ({_row(key, a)}) and "
                f"another one, {_who(second)} ({_row(key, b)}); the report would count them as "
                "one speaker",
                hint=f"{hint}: if they are the same person, give both rows one value in the "
                f"'{PERSON}' column; if not, give {_row(key, b)} a pseudonym of its own "
                f"(the next free one is {_next_free(key, cfg)})",
            )


def _who(who: tuple) -> str:
    if who[0] == "person":
        return "a person"
    if who[0] == "label":
        return "a named label (no person)"
    return "a recording's label (no person)"
