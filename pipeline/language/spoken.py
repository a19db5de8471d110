"""What in a transcript is not the speaker's words: fillers, hesitations, transcriber notes.

Topic words and key words are built from content lemmas; spoken language and transcription
conventions add tokens that look like content but are not (``ehm``, ``nou``, ``(lacht)``,
``[door elkaar]``, ``[onverstaanbaar]``). :func:`noise_mask` is the one place that says which
tokens those are, used by the topics stage and by corpus keyness (so theme key words too):

- **fillers**: the study language's list of spoken fillers (:func:`spoken_stopwords`),
  matched on the lemma or the lower-cased form;
- **hesitations**: vowel-and-hum tokens in any language (eh, ehm, euh, uh, uhm, um, erm, hm,
  hmm, mm, mhm, with letters repeated) and laughter written out (haha, hehe, hihi), matched on
  the lower-cased form;
- **transcriber notes**: every token inside a bracketed span, ``[...]`` or ``(...)``, as
  transcription conventions mark laughter, overlap, inaudible speech and pauses. Spans may
  nest but stay within a sentence; a bracket not closed in its sentence (or closed without
  being opened) marks nothing, so a stray bracket cannot hide the rest of a turn.
  Pseudonymisation placeholders (``[P03]``, ``[NAAM]``) are single non-alphabetic tokens: they
  are never words, and open no span.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

# hesitations (eh, ehm, uhm, erm, hmm, mhm …) and laughter written out (haha, hehe, hihi)
HESITATION = re.compile(
    r"^(?:e+h+m*|e+u+h+m*|u+h+m*|u+m+|h+m+|m+h*m+|e+r+m+|(?:ha){2,}h?|(?:he){2,}|(?:hi){2,})$"
)
OPEN = {"(": ")", "[": "]"}
CLOSE = set(OPEN.values())


@cache
def spoken_stopwords(language: str = "nl") -> frozenset[str]:
    """Fillers and light words of spoken ``language`` (``resources/stopwords_<language>_spoken
    .txt``, bundled for nl and en); empty for a language without a list, so spaCy's own stop
    list is all that applies there and no other language's words are dropped."""
    resource = resources.files("pipeline").joinpath(f"resources/stopwords_{language}_spoken.txt")
    if not resource.is_file():
        return frozenset()
    text = resource.read_text(encoding="utf-8")
    return frozenset(w.strip() for w in text.splitlines() if w.strip() and not w.startswith("#"))


def noise_mask(tokens: pd.DataFrame, *, fillers: frozenset[str]) -> pd.Series:
    """True for tokens (rows of a tokens table) that are fillers, hesitations or inside a
    transcriber note; the index is ``tokens``'s."""
    # Decide per distinct form, not per token: a corpus has far fewer forms than tokens.
    noisy = {
        form
        for form in tokens["text"].dropna().unique()
        if form.lower() in fillers or HESITATION.match(form.lower())
    }
    mask = tokens["lemma"].isin(fillers) | tokens["text"].isin(noisy)
    return mask.fillna(False).astype(bool) | note_mask(tokens)


def note_mask(tokens: pd.DataFrame) -> pd.Series:
    """True for tokens inside a bracketed span, brackets included (see the module doc)."""
    inside = np.zeros(len(tokens), dtype=bool)
    is_bracket = tokens["text"].isin(OPEN.keys() | CLOSE).to_numpy(dtype=bool)
    if not is_bracket.any():
        return pd.Series(inside, index=tokens.index)
    segments = set(tokens.loc[is_bracket, "segment_id"].unique())
    has = tokens["segment_id"].isin(segments).to_numpy(dtype=bool)
    part = tokens.loc[has, ["segment_id", "token_index", "sentence_index", "text"]]
    part = part.assign(_row=np.flatnonzero(has)).sort_values(["segment_id", "token_index"])
    rows = part["_row"].to_numpy()
    stack: list[tuple[str, int]] = []  # (closing bracket expected, position it opened at)
    where = None
    for i, (segment, sentence, text) in enumerate(
        zip(part["segment_id"], part["sentence_index"], part["text"], strict=True)
    ):
        if (segment, sentence) != where:  # a note ends within its sentence: forget the rest
            stack, where = [], (segment, sentence)
        if text in OPEN:
            stack.append((OPEN[text], i))
        elif text in CLOSE:
            # The innermost open span this bracket closes; brackets opened inside it and never
            # closed end with it. A closer that matches nothing open is ignored.
            depth = next((d for d in reversed(range(len(stack))) if stack[d][0] == text), None)
            if depth is not None:
                inside[rows[stack[depth][1] : i + 1]] = True
                del stack[depth:]
    return pd.Series(inside, index=tokens.index)
