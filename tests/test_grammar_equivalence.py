"""The grammar findings read the tokens in one pass, and find exactly what the row-by-row
reading they replace found (kept here as the reference, as first written).

The fixture is the real Frog 0.20 output of ``tests/frog_fixture.py``, written and read back
through the TOKENS contract (Arrow-backed strings, nullable heads, as the report reads
``tokens.parquet``); shuffled, so the order the findings come in is the rules' own; and with
gaps: tokens without text, lemma or morph, a missing head, a sentence split over two runs.
"""

from __future__ import annotations

import pandas as pd
import pytest
from frog_fixture import frog_tokens

from pipeline.core.io import read_table, write_table
from pipeline.core.schemas import TOKENS
from pipeline.language import grammar
from pipeline.language.grammar import Tok, _feats, clauses


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def reference_sentences(tokens: pd.DataFrame):
    """grammar._sentences as first written: a pandas group and itertuples per sentence."""
    ordered = tokens.sort_values(["segment_id", "token_index"], kind="stable")
    for (sid, s_index), part in ordered.groupby(["segment_id", "sentence_index"], sort=False):
        toks = [
            Tok(
                index=int(r.token_index),
                text=_str(r.text),
                lemma=_str(r.lemma).lower() or _str(r.text).lower(),
                pos=_str(r.pos),
                tag=_str(r.tag),
                feats=_feats(r.morph),
                head=None if pd.isna(r.head) else int(r.head),
                dep=_str(r.dep),
                ent=_str(r.ent_type),
            )
            for r in part.itertuples(index=False)
        ]
        yield sid, int(s_index), toks


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> pd.DataFrame:
    """The Frog fixture's tokens as the report reads them: written and read back."""
    _, tokens = frog_tokens()
    path = tmp_path_factory.mktemp("tokens") / "tokens.parquet"
    write_table(tokens, TOKENS, path)
    return read_table(path, TOKENS)


def gapped(tokens: pd.DataFrame) -> pd.DataFrame:
    """Shuffled, with values missing where a converter might leave them out, and one
    sentence index out of order (its tokens are still one sentence, grouped as pandas does)."""
    out = tokens.sample(frac=1.0, random_state=3).copy()
    rows = out.index
    out.loc[rows[::7], "lemma"] = pd.NA
    out.loc[rows[::11], "morph"] = pd.NA
    out.loc[rows[::13], "head"] = pd.NA
    out.loc[rows[::17], "ent_type"] = pd.NA
    first = out["segment_id"] == "g-0008"
    out.loc[first & (out["token_index"] == 3), "sentence_index"] = 1
    return out


def test_one_pass_reads_every_token_as_the_row_by_row_reading(stored) -> None:
    for tokens, sentences in ((stored, 15), (gapped(stored), 16)):
        ours = list(grammar._sentences(tokens))
        theirs = list(reference_sentences(tokens))
        assert len(ours) == sentences  # one a turn; the gapped one has a sentence split
        assert [(s, i) for s, i, _ in ours] == [(s, i) for s, i, _ in theirs]
        for (_, _, a), (_, _, b) in zip(ours, theirs, strict=True):
            assert a == b  # every field of every Tok, in the same order
            assert all(type(x.head) is type(y.head) for x, y in zip(a, b, strict=True))


def test_findings_equal_the_row_by_row_reading_with_and_without_a_parser(
    stored, monkeypatch
) -> None:
    _, tagged = frog_tokens(parser=False)
    for tokens in (stored, gapped(stored), tagged):
        ours, status = clauses(tokens, language="nl")
        with monkeypatch.context() as patch:
            patch.setattr(grammar, "_sentences", reference_sentences)
            theirs, reference_status = clauses(tokens, language="nl")
        assert len(ours) > 20
        pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
        assert status == reference_status


def test_tokens_are_not_read_row_by_row(stored, monkeypatch) -> None:
    """The work not done: no itertuples (one pandas Series per column and row) at all."""
    calls = []
    real = pd.DataFrame.itertuples

    def counting(self, *args, **kwargs):
        calls.append(len(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "itertuples", counting)
    table, _ = clauses(stored, language="nl")
    assert len(table) > 20
    assert calls == []
