"""Tokens tables (``tokens.v2``) from Frog's saved JSON output, for grammar tests.

``tests/fixtures/grammar-frog-0.20.json`` is what the real ``frog 0.20`` (Debian, frogdata
0.18) wrote for ``grammar-frog-0.20.txt`` (one turn per paragraph) with
``frog -t grammar-frog-0.20.txt --JSONout -o grammar-frog-0.20.json --threads=2`` (parser on).
The pipeline's own converter (:mod:`pipeline.language.frog`: multi-word units, alignment to
the text, CGN -> UD, Alpino relations -> UD labels) and the nlp stage's table builder turn it
into the tokens table, so the grammar tests need no Frog process but test what the stage
writes. ``parser=False`` builds the docs as a run with ``--skip=p`` would leave them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import spacy

from pipeline.language import frog
from pipeline.nlp import tables

FIXTURE = Path(__file__).parent / "fixtures" / "grammar-frog-0.20.json"


def frog_tokens(path: Path = FIXTURE, *, parser: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(segments, tokens) of the fixture: one segment per paragraph, ids g-0001 ..."""
    texts = [t.strip() for t in path.with_suffix(".txt").read_text(encoding="utf-8").split("\n\n")]
    texts = [t for t in texts if t]
    turns = frog.frog_turns(path.read_text(encoding="utf-8"), len(texts))
    vocab = spacy.blank("nl").vocab
    docs = [
        frog.build_doc(vocab, t, sents, parsed=parser)
        for t, sents in zip(texts, turns, strict=True)
    ]
    ids = [f"g-{i:04d}" for i in range(1, len(texts) + 1)]
    _, tokens = tables(ids, docs)
    segments = pd.DataFrame({"segment_id": ids, "text": texts})
    return segments, tokens
