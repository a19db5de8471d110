"""The nlp stage on hand-checked Dutch sentences and on the real ParlaMint debate."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from helpers import PARLAMINT

from pipeline.nlp import analyse, load_pipeline
from pipeline.schemas import SEGMENTS, SENTENCES, TOKENS


def segments(*texts: str) -> pd.DataFrame:
    rows = [
        {
            "recording_id": "r",
            "group": "g",
            "segment_id": f"r-{i:04d}",
            "start": None,
            "end": None,
            "speaker": "P01",
            "role": "participant",
            "text": t,
            "source": "test",
        }
        for i, t in enumerate(texts, start=1)
    ]
    return pd.DataFrame(rows, columns=SEGMENTS.names)


@pytest.fixture(scope="module")
def blank_nl():
    nlp, info = load_pipeline("no_such_model_installed", "nl")
    return nlp, info


def test_fallback_pipeline_is_recorded_with_what_it_cannot_do(blank_nl) -> None:
    _, info = blank_nl
    assert info.pipeline == "blank:nl+sentencizer+lookup-lemmatizer"
    assert "part-of-speech tags" in info.disabled_features


def test_sentences_tokens_and_irregular_lemmas(blank_nl) -> None:
    nlp, _ = blank_nl
    sents, toks = analyse(segments("Zij gingen naar huis. Wij liepen weg!", "Ja."), nlp)
    assert list(sents.columns) == SENTENCES.names and list(toks.columns) == TOKENS.names
    first = sents[sents["segment_id"] == "r-0001"]
    assert first["text"].tolist() == ["Zij gingen naar huis.", "Wij liepen weg!"]
    text = "Zij gingen naar huis. Wij liepen weg!"
    for row in first.itertuples():
        assert text[row.start_char : row.end_char] == row.text
    lemmas = dict(zip(toks["text"], toks["lemma"], strict=False))
    assert lemmas["gingen"] == "gaan" and lemmas["liepen"] == "lopen"
    assert toks.loc[toks["text"] == "Zij", "is_stop"].item()
    assert toks.loc[toks["text"] == "!", "is_punct"].item()
    assert toks.loc[toks["text"] == "Wij", "sentence_index"].item() == 1


def test_pseudonymisation_placeholders_stay_single_tokens(blank_nl) -> None:
    nlp, _ = blank_nl
    _, toks = analyse(segments("Zoals [P03] zei: in [PLAATS], bij [ORGANISATIE]."), nlp)
    texts = toks["text"].tolist()
    assert {"[P03]", "[PLAATS]", "[ORGANISATIE]"} <= set(texts)
    assert "PLAATS" not in texts and "P03" not in texts
    assert not toks.loc[toks["text"] == "[PLAATS]", "is_alpha"].item()


@pytest.mark.skipif(not PARLAMINT.exists(), reason="shared ParlaMint data not present")
def test_real_debate_keeps_every_word(blank_nl) -> None:
    nlp, _ = blank_nl
    with PARLAMINT.open(encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle, delimiter="\t") if row["text"]]
    sents, toks = analyse(segments(*texts), nlp)
    assert sents["segment_id"].nunique() == len(texts)
    # every alphabetic whitespace-separated word of the source survives tokenisation
    source_words = sum(1 for t in texts for w in t.split() if w.isalpha())
    assert toks["is_alpha"].sum() >= source_words
    assert toks[toks["text"] == "staatssecretaris"]["lemma"].eq("staatssecretaris").all()


def test_nlp_stage_caches_parses_and_rematches_markers_only(tmp_path: Path) -> None:
    from pipeline.config import load_config
    from pipeline.importers import import_transcripts
    from pipeline.io import read_table, write_table
    from pipeline.nlp import run_nlp
    from pipeline.paths import Workspace
    from pipeline.pseudonymise import pseudonymise
    from pipeline.schemas import MARKERS
    from pipeline.workspace import init_workspace

    ws = Workspace.at(tmp_path / "ws")
    init_workspace(ws, sample=True)
    config = load_config(ws)
    import_transcripts(ws, config)
    pseudonymise(ws, config)
    segments = read_table(ws.segments, SEGMENTS)

    first = run_nlp(ws, config)
    assert (first.parsed, first.cached) == (len(segments), 0)
    assert first.markers > 100
    stamp = ws.tokens.stat().st_mtime_ns

    second = run_nlp(ws, config)
    assert (second.parsed, second.cached) == (0, len(segments))
    assert ws.tokens.stat().st_mtime_ns == stamp, "identical tokens are not rewritten"

    markers_file = ws.codebooks / "markers.yaml"
    text = markers_file.read_text(encoding="utf-8")
    markers_file.write_text(text[: text.index("  negation:")], encoding="utf-8")
    third = run_nlp(ws, config)
    assert third.parsed == 0
    categories = set(read_table(ws.markers, MARKERS)["category"])
    assert "negation" not in categories and "ingroup" in categories

    changed = segments.copy()
    changed.loc[0, "text"] = changed.loc[0, "text"] + " Dat is nieuw."
    write_table(changed, SEGMENTS, ws.segments)
    assert run_nlp(ws, config).parsed == 1
    tokens = read_table(ws.tokens, TOKENS)
    first_segment = tokens[tokens["segment_id"] == changed.loc[0, "segment_id"]]
    assert first_segment["text"].tolist()[-4:] == ["Dat", "is", "nieuw", "."]
