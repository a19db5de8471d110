"""Fold text for comparing words: lower case, diacritics removed ("Efficiëntie" → "efficientie").

Dutch writes diacritics inconsistently (efficiëntie / efficientie, één / een, ideeën / ideeen),
and so do transcribers and codebook authors. Wherever the pipeline compares an analyst's word
with the text (codebook keywords, discourse-marker terms, guided-topic seeds), both sides are
folded the same way, so neither spelling misses the other. What is shown stays as written.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache


@lru_cache(maxsize=1 << 16)
def fold(text: str) -> str:
    """Case-folded, with the combining marks that Unicode decomposition separates dropped.

    Letters without a decomposition (ø, ł, æ) are kept as they are. Remembered per distinct
    text: markers fold every lemma of every turn, and a corpus repeats a few thousand words.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
