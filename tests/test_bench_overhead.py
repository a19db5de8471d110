"""``make bench-overhead``'s pure parts: the generated input, the result lines and that both
sides of a comparison read the same files (no timing is asserted: benchmarks are benchmarks)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from benchmarks import overhead
from benchmarks.overhead import Run, median, ratio_line, split_sentences, turns, word_count
from pipeline.core.schemas import SEGMENTS

POOL = ["Een twee drie.", "Vier vijf zes zeven.", "Acht negen."]  # 3, 4 and 2 words


def test_input_has_the_requested_words_and_is_deterministic():
    made = turns(1000, seed=3, pool=POOL)
    again = turns(1000, seed=3, pool=POOL)
    pd.testing.assert_frame_equal(made, again)
    assert not made.equals(turns(1000, seed=4, pool=POOL))
    # each workshop stops at the first turn reaching its half (500): a turn has at most
    # 4 sentences of at most 4 words, so each overshoots by at most 15 words
    per_group = made.groupby("group")["text"].apply(lambda t: t.str.split().str.len().sum())
    assert set(per_group.index) == {"burgers", "deskundigen"}
    assert all(500 <= n <= 515 for n in per_group)
    assert word_count(made) == per_group.sum()
    assert list(made.columns) == SEGMENTS.names
    # two hours per workshop, every sixth turn the facilitator's
    burgers = made[made["group"] == "burgers"]
    assert burgers["end"].max() < overhead.WORKSHOP_SECONDS <= burgers["end"].max() + 60
    assert (burgers["role"].iloc[::6] == "facilitator").all()
    assert (burgers["role"] == "facilitator").sum() == -(-len(burgers) // 6)
    assert made["segment_id"].is_unique


def test_real_pool_gives_about_30k_words():
    pool, source = overhead.sentence_pool()
    assert source.startswith("bundled sample") and len(pool) > 100
    made = turns(overhead.WORDS_1X, pool=pool)
    assert (
        overhead.WORDS_1X
        <= word_count(made)
        < overhead.WORDS_1X + 2 * 4 * max(len(s.split()) for s in pool)
    )
    assert made["text"].map(lambda t: len(t.split())).min() >= 2


def test_sentences_split_at_end_punctuation_before_a_capital():
    text = "Dat is zo. Nee! Waarom? 3 euro per maand, zei hij. en toen ging het door."
    # splits before "Nee", "Waarom" and "3", not before "en"; one-word sentences are dropped
    assert split_sentences(text) == [
        "Dat is zo.",
        "3 euro per maand, zei hij. en toen ging het door.",
    ]


def test_ratio_line_uses_medians_and_the_largest_rss():
    ours = [Run(3.0, 100), Run(1.0, 300), Run(2.0, 200)]  # median 2.0 s, peak 300 MB
    bare = [Run(1.6, 50), Run(1.5, 60), Run(1.7, 40)]  # median 1.6 s, peak 60 MB
    assert median(ours) == Run(2.0, 300)
    line = ratio_line("nlp (first)", ours, bare)
    assert line.endswith("ratio 1.25")  # 2.0 / 1.6
    assert "ours    2.00 s (   300 MB)" in line and "bare    1.60 s (    60 MB)" in line
    assert line.startswith("nlp (first)") and "runs 3/3" in line


def test_options_refuse_unknown_stages():
    assert overhead.options(["--scale", "1", "--stages", "nlp,report"]).stages == ["nlp", "report"]
    with pytest.raises(SystemExit):
        overhead.options(["--stages", "nlp,topicz"])


def test_ours_and_bare_read_the_same_files_and_make_the_same_tokens(tmp_path):
    """The bare side reads the workspace's own tables (not copies), and on them the bare nlp
    comparator tokenises exactly as the stage's blank backend does."""
    from benchmarks import overhead_bare
    from pipeline.core.config import load_config
    from pipeline.core.io import read_table
    from pipeline.core.schemas import TOKENS
    from pipeline.nlp import run_nlp

    segments = turns(1200, seed=1, pool=overhead.sentence_pool()[0])
    ws = overhead.write_study(tmp_path / "ws", segments, backend="blank", embedding="tfidf")
    config = load_config(ws)
    assert config.nlp.backend == "blank" and config.suggest.learn is False
    pd.testing.assert_frame_equal(read_table(ws.segments, SEGMENTS), segments, check_dtype=False)
    run_nlp(ws, config)
    nlp = overhead.nlp_spec(ws, config, tmp_path, "blank")
    report = overhead.report_spec(ws, config, tmp_path)
    suggest = overhead.suggest_spec(ws, config, tmp_path)
    assert nlp["segments"] == str(ws.segments) == report["segments"] == suggest["segments"]
    assert report["codings"] == str(ws.codings(1))
    assert report["tokens"] == str(ws.tokens) == suggest["tokens"]
    assert nlp["batch_size"] == config.nlp.batch_size
    json.dumps([nlp, report, suggest])  # what the bare process gets is plain JSON

    overhead_bare.nlp(nlp)
    bare = pd.read_parquet(tmp_path / "bare-nlp" / "tokens.parquet")
    ours = read_table(ws.tokens, TOKENS)
    assert len(bare) == len(ours) > 1000
    for column in ("segment_id", "token_index", "sentence_index", "text", "is_alpha"):
        assert bare[column].tolist() == ours[column].tolist(), column
    # simplemma per token on both sides; ours also retries accent-stripped words
    assert (bare["lemma"] == ours["lemma"]).mean() > 0.99


def test_topics_spec_is_the_stage_s_documents_and_components(tmp_path):
    """The bare fit gets the stage's units (no facilitator turns: topics.include_facilitator is
    off) and, below topics.small_corpus units, the stage's PCA + k-means."""
    from pipeline.core.config import load_config
    from pipeline.nlp import run_nlp
    from pipeline.topics.model import default_topic_count

    segments = turns(3000, seed=2, pool=overhead.sentence_pool()[0])
    ws = overhead.write_study(tmp_path / "ws", segments, backend="blank", embedding="tfidf")
    config = load_config(ws)
    run_nlp(ws, config)
    spec = overhead.topics_spec(ws, config, tmp_path)
    units = pd.read_parquet(spec["docs"])
    facilitator = set(segments.loc[segments["role"] == "facilitator", "segment_id"])
    assert facilitator and not facilitator & set(units["segment_id"])
    assert 10 < len(units) < config.topics.small_corpus
    assert (units["doc"].str.split().str.len() >= config.topics.min_tokens).all()
    assert spec["reducer"] == "pca" and spec["clusterer"] == "kmeans"
    assert spec["clusterer_params"]["n_clusters"] == default_topic_count(len(units))
    assert spec["reducer_params"]["n_components"] == config.topics.n_components
    assert spec["embedding"] == "tfidf" and "vectors" not in spec


def test_bare_frog_reads_one_json_array_per_sentence() -> None:
    """Frog's --JSONout is JSON arrays back to back, not one document (json.loads refuses
    it with "Extra data"): the bare comparator reads every sentence."""
    from benchmarks.overhead_bare import _json_stream

    text = '[{"text": "Ja", "lemma": "ja"}]\n[{"text": "Nee", "lemma": "nee"}, {"text": "."}]\n'
    sentences = _json_stream(text)
    assert [[w["text"] for w in s] for s in sentences] == [["Ja"], ["Nee", "."]]
    assert _json_stream("  \n") == []
