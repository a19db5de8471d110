"""The hand-annotated Dutch gold tokens (``tests/fixtures/gold_nl_tokens.tsv``) and how a
backend's docs are scored against them: shared by ``make bench-nlp`` and the accuracy floors in
``tests/test_frog.py``."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from spacy.tokens import Doc

from benchmarks import REPO

GOLD = REPO / "tests" / "fixtures" / "gold_nl_tokens.tsv"


@dataclass(frozen=True)
class GoldToken:
    source: str
    start: int  # character offset in the segment
    text: str
    lemma: str
    upos: str


def read_gold(path: Path = GOLD) -> dict[str, list[GoldToken]]:
    """Segment text -> its gold tokens, in order (offsets found in the text)."""
    with open(path, encoding="utf-8", newline="") as handle:
        lines = [line for line in handle if not line.startswith("#")]
    out: dict[str, list[GoldToken]] = {}
    cursor: dict[str, int] = {}
    for row in csv.DictReader(lines, delimiter="\t"):
        segment, token = row["segment"], row["token"]
        start = segment.index(token, cursor.get(segment, 0))
        cursor[segment] = start + len(token)
        out.setdefault(segment, []).append(
            GoldToken(row["source"], start, token, row["lemma"], row["upos"])
        )
    return out


@dataclass(frozen=True)
class Score:
    tokens: int
    same_tokens: int  # gold tokens the backend tokenised identically
    lemma: float  # share of all gold tokens with the right lemma (case-insensitive)
    upos: float  # share of all gold tokens with the right UPOS

    def __str__(self) -> str:
        return (
            f"lemma {self.lemma:.3f}  UPOS {self.upos:.3f}  "
            f"({self.same_tokens}/{self.tokens} tokens as in gold)"
        )


def score(gold: dict[str, list[GoldToken]], docs: dict[str, Doc], *, only: str = "") -> Score:
    """Lemma and UPOS accuracy over the gold tokens (of sources starting with ``only``); a
    gold token the backend split or merged differently counts as wrong for both."""
    total = same = lemmas = upos = 0
    for segment, tokens in gold.items():
        found = {(t.idx, t.text): t for t in docs[segment] if not t.is_space}
        for g in tokens:
            if not g.source.startswith(only):
                continue
            total += 1
            tok = found.get((g.start, g.text))
            if tok is None:
                continue
            same += 1
            lemmas += (tok.lemma_ or tok.text).lower() == g.lemma.lower()
            upos += tok.pos_ == g.upos
    return Score(total, same, lemmas / total, upos / total)
