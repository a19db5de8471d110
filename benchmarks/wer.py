"""Word error rate against a reference transcript, for tests and ``make bench-transcribe``.

Normalisation is deliberately simple and stated: lower case, punctuation removed except
apostrophes inside words, whitespace collapsed. No spelling normalisation of numbers.
"""

from __future__ import annotations

import re
from pathlib import Path

_NOT_WORD = re.compile(r"[^\w' ]+|(?<!\w)'|'(?!\w)")


def normalise(text: str) -> list[str]:
    return _NOT_WORD.sub(" ", text.lower()).split()


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance over words (substitutions, insertions, deletions)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, start=1):
        current = [i]
        for j, hyp in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def wer(reference: str, hypothesis: str) -> float:
    ref = normalise(reference)
    if not ref:
        raise ValueError("empty reference")
    return edit_distance(ref, normalise(hypothesis)) / len(ref)


def read_stm(path: Path) -> str:
    """Reference text of an STM file (``file channel speaker start end text``), in time order."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and not line.startswith(";;") and "ignore_time_segment" not in line:
            rows.append((float(parts[3]), parts[5]))
    return " ".join(text for _, text in sorted(rows))
