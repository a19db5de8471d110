"""The report's fast paths give the same report, to the last bit, as the straightforward
computation they replace, on the sample study and on a larger generated one.

The reference is the computation as first written, kept here from its definition:
per-theme filters on the tables as read (pandas' Arrow-backed strings, no object copies),
every permutation test drawing its relabellings anew, and centrality from scikit-learn's
``TfidfVectorizer``. Everything the report shows is compared: the context, themes.json,
themes.csv, framing.csv, grammar.csv, the figures' tables and PNGs, and the HTML.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.language.examples import centrality, tfidf_rows
from pipeline.report import stats

REPO = Path(__file__).resolve().parents[1]


def reference_permutation_test(a, b, *, rounds=9999, seed=0, exact_limit=20000) -> float:
    """permutation_test as written before its relabellings were cached."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    pooled = np.concatenate([a, b])
    n, k = len(pooled), len(a)
    if not k or k == n:
        return float("nan")
    observed = abs(a.mean() - b.mean())
    total = pooled.sum()
    if math.comb(n, k) <= exact_limit:
        chosen = np.array(list(itertools.combinations(range(n), k)), dtype=np.intp)
        sums = pooled[chosen].sum(axis=1)
        diffs = np.abs(sums / k - (total - sums) / (n - k))
        return float((diffs >= observed - 1e-12).mean())
    rng = np.random.default_rng(seed)
    order = np.argsort(rng.random((rounds, n)), axis=1)[:, :k]
    sums = pooled[order].sum(axis=1)
    diffs = np.abs(sums / k - (total - sums) / (n - k))
    return float((1 + (diffs >= observed - 1e-12).sum()) / (rounds + 1))


def reference_centrality(content: pd.DataFrame, segment_ids: list[str]) -> pd.Series:
    """theme_centrality as written with scikit-learn's TfidfVectorizer."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not segment_ids:
        return pd.Series(dtype=float)
    mine = content[content["segment_id"].isin(segment_ids)]
    lemmas: dict[str, list[str]] = {}
    for sid, lemma in zip(mine["segment_id"].tolist(), mine["lemma"].tolist(), strict=True):
        lemmas.setdefault(sid, []).append(lemma)
    docs = [lemmas.get(sid, []) for sid in segment_ids]
    if not any(docs):
        return pd.Series(np.nan, index=segment_ids)
    matrix = TfidfVectorizer(analyzer=lambda words: words).fit_transform(docs)
    return pd.Series(centrality(matrix, np.zeros(len(docs), dtype=int)), index=segment_ids)


def rendered(inputs, config) -> dict:
    """Everything one report shows, computed and rendered (nothing written)."""
    from pipeline.report import compute_report, render
    from pipeline.report.section import theme_files

    result = compute_report(inputs, config)
    files = theme_files(result.themes, Path("reports/round-1"))
    return {
        "result": result,
        "context": result.context,
        "files": files.files,
        "html": render({**result.context, "themes": files.section}),
    }


def reference(monkeypatch, inputs, config) -> dict:
    """The same report by the straightforward computation."""
    import pipeline.report.framing as framing
    import pipeline.report.section as section
    import pipeline.report.themes as themes

    with monkeypatch.context() as patch:
        patch.setattr(framing, "plain_strings", lambda frame, columns: frame)
        patch.setattr(section, "plain_strings", lambda frame, columns: frame)
        patch.setattr(themes, "theme_centrality", reference_centrality)
        patch.setattr(themes, "permutation_test", reference_permutation_test)
        patch.setattr(framing, "permutation_test", reference_permutation_test)
        return rendered(inputs, config)


def assert_same_report(new: dict, old: dict) -> None:
    assert new["files"].keys() == old["files"].keys()
    for path, data in new["files"].items():
        assert data == old["files"][path], f"{path} differs"
    assert new["html"] == old["html"]
    assert repr(new["context"]) == repr(old["context"])
    a, b = new["result"].themes, old["result"].themes
    assert repr(a.payload) == repr(b.payload)
    for name in ("table", "framing", "grammar", "timeline", "cooccurrence"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    assert a.labels == b.labels and a.groups == b.groups


def human_codings(ws, ids: list[str], *, seed: int = 0) -> None:
    """Two coders' codes (seeded; 0-2 codes a segment, 80 % agreement) for the round."""
    from benchmarks.report import seeded_codings

    seeded_codings(ws, ids, seed=seed)


def fixed(inputs):
    """The inputs with the run's time and commit pinned (both only stamp the report)."""
    return dataclasses.replace(inputs, generated="2026-01-01 00:00 UTC", commit="test")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory):
    """The sample study: machine suggestions first, then the same round with human codes."""
    from helpers import sample_through_nlp

    from pipeline.codebook import load_round
    from pipeline.core.config import load_config
    from pipeline.suggest import run_suggest
    from pipeline.topics import run_topics

    ws = sample_through_nlp(tmp_path_factory.mktemp("equiv") / "ws")
    config = load_config(ws)
    run_suggest(ws, config, round_no=1)
    run_topics(ws, config, round_no=1)
    return ws, config, load_round(ws, config, 1).book.ids


def test_sample_report_by_suggestions_and_by_human_codes_equals_reference(
    sample, monkeypatch
) -> None:
    from pipeline.agreement import run_agreement
    from pipeline.report import read_report

    ws, config, ids = sample
    machine = fixed(read_report(ws, config, 1))
    assert machine.themes is not None and machine.themes.codings is None  # suggestions
    assert_same_report(rendered(machine, config), reference(monkeypatch, machine, config))
    human_codings(ws, list(ids))
    run_agreement(ws, config, 1)
    coded = fixed(read_report(ws, config, 1))
    assert coded.themes.codings is not None
    new = rendered(coded, config)
    assert new["result"].themes.payload["basis"] == "human codings"
    assert any(t["framing"]["contrasts"] for t in new["result"].themes.payload["themes"])
    assert_same_report(new, reference(monkeypatch, coded, config))


def test_generated_study_of_600_segments_and_20_codes_equals_reference(
    tmp_path, monkeypatch
) -> None:
    """The benchmark's own study (``make bench-report``: real Dutch, two groups of twelve
    speakers, 4 themes of 4 sub-codes, two coders), at 600 segments."""
    from benchmarks.report import codings, workspace
    from pipeline.agreement import run_agreement
    from pipeline.core.config import load_config
    from pipeline.nlp import run_nlp
    from pipeline.report import read_report
    from pipeline.topics import run_topics

    ws = workspace(tmp_path / "ws", 600)
    config = load_config(ws)
    run_nlp(ws, config)
    run_topics(ws, config, round_no=1)
    codings(ws)
    run_agreement(ws, config, 1)
    inputs = fixed(read_report(ws, config, 1))
    new = rendered(inputs, config)
    themes = new["result"].themes.payload["themes"]
    assert len(themes) == 20 and sum(bool(t["comparison"]) for t in themes) == 20
    assert any(t["representatives"] for t in themes)
    assert_same_report(new, reference(monkeypatch, inputs, config))


# the pieces, each against its definition ---------------------------------------------------


def test_tfidf_rows_by_hand_and_bit_for_bit_scikit_learn() -> None:
    """Three documents: "a b a", "b c" and an empty one. n = 3, df(a) = 1, df(b) = 2, df(c) = 1,
    idf = ln(4 / (1 + df)) + 1: a and c 1.693147, b 1.287682. Row 1: a 2 x 1.693147 =
    3.386294, b 1.287682, length sqrt(3.386294² + 1.287682²) = 3.622864, so a 0.934702,
    b 0.355432. Row 2: b 1.287682, c 1.693147, length 2.127163: b 0.605349, c 0.795961."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    rows = np.array([0, 0, 0, 1, 1])
    terms = np.array(["a", "b", "a", "b", "c"], dtype=object)
    matrix = tfidf_rows(rows, terms, 3).toarray()
    expected = [[0.934702, 0.355432, 0], [0, 0.605349, 0.795961], [0, 0, 0]]
    np.testing.assert_allclose(matrix, expected, atol=1e-6)
    rng = np.random.default_rng(3)
    words = np.array([f"w{i:03d}" for i in range(300)], dtype=object)
    for docs in (7, 60, 900):
        rows = np.sort(rng.integers(0, docs, size=docs * 25))
        picked = words[rng.zipf(1.3, size=len(rows)) % len(words)]
        texts = [list(picked[rows == d]) for d in range(docs)]
        ours = tfidf_rows(rows, picked, docs)
        theirs = TfidfVectorizer(analyzer=lambda w: w).fit_transform(texts)
        assert np.array_equal(ours.indptr, theirs.indptr)
        assert np.array_equal(ours.indices, theirs.indices)  # entries in the same order
        assert np.array_equal(ours.data, theirs.data)  # the same floats, not merely close


def test_relabellings_are_drawn_once_per_group_sizes_with_the_same_p_values(
    monkeypatch,
) -> None:
    draws = []
    real = np.random.default_rng

    def counting(*args, **kwargs):
        draws.append(args)
        return real(*args, **kwargs)

    stats._sampled_relabellings.cache_clear()
    monkeypatch.setattr(stats.np.random, "default_rng", counting)
    rng = real(7)
    for _ in range(6):  # 12 vs 12 speakers: 2.7 million relabellings, so sampled
        a, b = rng.random(12), rng.random(12) + 0.2
        assert stats.permutation_test(a, b, seed=5) == reference_permutation_test(a, b, seed=5)
    assert len(draws) == 1 + 6  # one draw for the tests, one per reference call
    a, b = rng.random(4), rng.random(5)  # exact: 126 relabellings
    assert stats.permutation_test(a, b) == reference_permutation_test(a, b)


def test_the_report_computes_without_importing_scikit_learn() -> None:
    code = """
import sys
import numpy as np, pandas as pd
from pipeline.report.themes import theme_centrality
content = pd.DataFrame({"segment_id": ["s1", "s1", "s2", "s3"],
                        "lemma": ["zorg", "geld", "zorg", "huur"]})
scores = theme_centrality(content, ["s1", "s2", "s3"])
assert scores.notna().all(), scores
print("sklearn" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
