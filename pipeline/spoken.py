"""What in a transcript is not the speaker's words: fillers, hesitations, transcriber notes.

Topic words and key words are built from content lemmas; spoken language and transcription
conventions add tokens that look like content but are not (``ehm``, ``nou``, ``(lacht)``,
``[door elkaar]``, ``[onverstaanbaar]``). :func:`noise_mask` is the one place that says which
tokens those are, used by the topics stage and by corpus keyness (so theme key words too):

- **fillers**: the study language's list of spoken fillers (``topics.spoken_stopwords``),
  matched on the lemma or the lower-cased form;
- **hesitations**: vowel-and-hum tokens in any language (eh, ehm, euh, uh, uhm, um, erm, hm,
  hmm, mm, mhm, with letters repeated), matched on the lower-cased form;
- **transcriber notes**: every token inside a bracketed span, ``[...]`` or ``(...)``, as
  transcription conventions mark laughter, overlap, inaudible speech and pauses. Spans may
  nest but stay within a sentence; a bracket not closed in its sentence (or closed without
  being opened) marks nothing, so a stray bracket cannot hide the rest of a turn.
  Pseudonymisation placeholders (``[P03]``, ``[NAAM]``) are single non-alphabetic tokens: they
  are never words, and open no span.
"""

from __future__ import annotations

import re

import pandas as pd

HESITATION = re.compile(r"^(?:e+h+m*|e+u+h+m*|u+h+m*|u+m+|h+m+|m+h*m+|e+r+m+)$")
OPEN = {"(": ")", "[": "]"}
CLOSE = set(OPEN.values())


def noise_mask(tokens: pd.DataFrame, *, fillers: frozenset[str]) -> pd.Series:
    """True for tokens (rows of a tokens table) that are fillers, hesitations or inside a
    transcriber note; the index is ``tokens``'s."""
    forms = tokens["text"].str.lower()
    mask = (
        tokens["lemma"].isin(fillers)
        | forms.isin(fillers)
        | forms.str.fullmatch(HESITATION.pattern).fillna(False).astype(bool)
    )
    return mask | note_mask(tokens)


def note_mask(tokens: pd.DataFrame) -> pd.Series:
    """True for tokens inside a bracketed span, brackets included (see the module doc)."""
    inside = pd.Series(False, index=tokens.index)
    bracketed = tokens.loc[tokens["text"].isin(OPEN.keys() | CLOSE), "segment_id"]
    for _, part in tokens[tokens["segment_id"].isin(bracketed)].groupby("segment_id", sort=False):
        part = part.sort_values("token_index")
        rows = part.index
        stack: list[tuple[str, int]] = []  # (closing bracket expected, position opened)
        sentence = None
        for position, (text, current) in enumerate(
            zip(part["text"], part["sentence_index"], strict=True)
        ):
            if current != sentence:  # a note ends within its sentence: forget open brackets
                stack, sentence = [], current
            if text in OPEN:
                stack.append((OPEN[text], position))
                continue
            if text not in CLOSE:
                continue
            # The innermost open span this bracket closes; brackets opened inside it and never
            # closed end with it. A closer that matches nothing open is ignored.
            depth = next((d for d in reversed(range(len(stack))) if stack[d][0] == text), None)
            if depth is not None:
                inside.loc[rows[stack[depth][1] : position + 1]] = True
                del stack[depth:]
    return inside
