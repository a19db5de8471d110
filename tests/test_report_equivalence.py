"""The report's fast paths give the same report, to the last bit, as the straightforward
computation they replace, on the sample study and on a larger generated one.

The reference is the computation as first written, kept here from its definition:
per-theme filters on the tables as read (pandas' Arrow-backed strings, no object copies),
every permutation test drawing its relabellings anew, centrality from scikit-learn's
``TfidfVectorizer``, keyness on the frame filtered per comparison (and the theme's key lemmas
on the content labelled in/out), markers per group filtered per category, actors by a named
aggregation per group, first mentions sorting the segments per theme, and the contrasts with
a filter, a groupby and a reindex per item and group. Everything the report shows is
compared: the context, themes.json, themes.csv, framing.csv, grammar.csv, the figures' tables
and PNGs, and the HTML.
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


def reference_keyness_of(
    toks, target, *, reference=None, by="group", min_freq=5, min_speakers=2
) -> pd.DataFrame:
    """corpus.keyness_of as written before it counted masks with numpy: the frame filtered
    per comparison, a pandas lookup per lemma."""
    from pipeline.core.errors import CdaError
    from pipeline.language.corpus import KEYNESS_COLUMNS, dispersions, log_likelihood, log_ratio

    in_target = toks[by] == target
    if not in_target.any():
        raise CdaError(f"no content words where {by} = '{target}'", hint="check the name")
    in_ref = toks[by] == reference if reference is not None else ~in_target
    if not in_ref.any():
        raise CdaError(f"no content words where {by} = '{reference}'", hint="check the name")
    tgt, ref = toks[in_target], toks[in_ref]
    c, d = len(tgt), len(ref)
    freq_t = tgt["lemma"].value_counts()
    freq_r = ref["lemma"].value_counts()
    sizes = tgt.groupby("speaker").size()
    candidates = freq_t[freq_t >= min_freq]
    matrix = (
        tgt[tgt["lemma"].isin(candidates.index)]
        .groupby(["lemma", "speaker"])
        .size()
        .unstack(fill_value=0)
        .reindex(index=candidates.index, columns=sizes.index, fill_value=0)
        .to_numpy(float)
    )
    speakers = (matrix > 0).sum(axis=1)
    dps = dispersions(matrix, sizes.to_numpy(float))
    top_shares = matrix.max(axis=1, initial=0) / np.maximum(matrix.sum(axis=1), 1)
    rows = []
    for i, (lemma, a) in enumerate(candidates.items()):
        if speakers[i] < min_speakers:
            continue
        b = int(freq_r.get(lemma, 0))
        rows.append(
            {
                "lemma": lemma,
                "freq_target": int(a),
                "freq_reference": b,
                "per_10k_target": 1e4 * a / c,
                "per_10k_reference": 1e4 * b / d,
                "g2": log_likelihood(a, b, c, d),
                "log_ratio": log_ratio(a, b, c, d),
                "speakers": int(speakers[i]),
                "top_speaker_share": float(top_shares[i]),
                "dp": float(dps[i]),
            }
        )
    out = pd.DataFrame(rows, columns=KEYNESS_COLUMNS)
    out = out.sort_values(["g2", "lemma"], ascending=[False, True], ignore_index=True)
    return out[out["log_ratio"] > 0].reset_index(drop=True) if len(out) else out


def reference_key_lemmas(talk, members, *, top=8) -> list[dict]:
    """framing.key_lemmas as written: the content labelled in/out, then keyness_of."""
    from pipeline.report.framing import _key_rows

    inside = talk.inside(members)
    if not inside.any() or inside.all():
        return []
    labelled = talk.content.assign(
        theme=np.where(talk.content["segment_id"].isin(members), "in", "out")
    )
    return _key_rows(labelled, "in", by="theme", top=top)


def reference_group_markers(talk, markers, members) -> list[dict]:
    """framing.group_markers as written: a filter per group and category."""
    seg = talk.participants.assign(inside=talk.inside(members))
    found = markers.merge(seg[["segment_id", "group", "speaker", "inside"]], on="segment_id")
    categories = sorted(found["category"].unique())
    rows = []
    for group, part in seg.groupby("group", sort=True):
        words_in = int(part.loc[part["inside"], "words"].sum())
        if not words_in:
            continue
        words_out = int(part.loc[~part["inside"], "words"].sum())
        mine = found[found["group"] == group]
        for category in categories:
            hits = mine[mine["category"] == category]
            n_in = int(hits["inside"].sum())
            n_out = len(hits) - n_in
            rows.append(
                {
                    "group": group,
                    "category": category,
                    "count": n_in,
                    "words": words_in,
                    "per_1000": 1000 * n_in / words_in,
                    "speakers": int(hits.loc[hits["inside"], "speaker"].nunique()),
                    "per_1000_rest": 1000 * n_out / words_out if words_out else float("nan"),
                }
            )
    return rows


def reference_group_actors(talk, markers, members, *, top=6) -> dict[str, list[dict]]:
    """framing.group_actors as written: a named aggregation per group."""
    seg = talk.participants[talk.inside(members)][["segment_id", "group", "speaker"]]
    found = markers[markers["category"] == "actor"].merge(seg, on="segment_id")
    out = {}
    for group, part in found.groupby("group", sort=True):
        counts = part.groupby("lemma").agg(
            mentions=("lemma", "size"), speakers=("speaker", "nunique")
        )
        counts = counts.sort_values(["mentions", "speakers"], ascending=False, kind="stable")
        out[group] = [
            {"actor": lemma, "mentions": int(r.mentions), "speakers": int(r.speakers)}
            for lemma, r in counts.head(top).iterrows()
        ]
    return out


def reference_first_mentions(segments, members, *, ordered=None) -> list[dict]:
    """framing.first_mentions as written: the segments sorted for every theme, then every
    recording filtered (``ordered``, the sort done once, is not used)."""
    from pipeline.core.citation import clock
    from pipeline.core.transcript import in_turn_order

    rows = []
    ordered = in_turn_order(segments, first=("recording_id",))
    for recording, turns in ordered.groupby("recording_id", sort=True):
        hits = turns[turns["segment_id"].isin(members)]
        if hits.empty:
            continue
        first = hits.iloc[0]
        later = hits.iloc[1:]
        taken_up = later[(later["role"] != "facilitator") & (later["speaker"] != first["speaker"])]
        rows.append(
            {
                "recording_id": recording,
                "segment_id": first["segment_id"],
                "speaker": first["speaker"],
                "role": first["role"],
                "time": clock(first["start"]),
                "taken_up_by": int(taken_up["speaker"].nunique()),
            }
        )
    return rows


def _reference_per_speaker(counts: pd.Series, sizes: pd.Series) -> np.ndarray:
    sizes = sizes[sizes > 0]
    return (1000 * counts.reindex(sizes.index, fill_value=0) / sizes).to_numpy(float)


def _reference_contrast_row(kind, item, a, b, *, seed) -> dict:
    from pipeline.language.corpus import log_likelihood, log_ratio

    rates_a = _reference_per_speaker(a["by_speaker"], a["sizes"])
    rates_b = _reference_per_speaker(b["by_speaker"], b["sizes"])
    return {
        "kind": kind,
        "item": item,
        "count_a": a["count"],
        "count_b": b["count"],
        "size_a": a["size"],
        "size_b": b["size"],
        "per_1000_a": 1000 * a["count"] / a["size"],
        "per_1000_b": 1000 * b["count"] / b["size"],
        "users_a": int((a["by_speaker"] > 0).sum()),
        "users_b": int((b["by_speaker"] > 0).sum()),
        "speakers_a": len(rates_a),
        "speakers_b": len(rates_b),
        "log_ratio": log_ratio(a["count"], b["count"], a["size"], b["size"]),
        "g2": log_likelihood(a["count"], b["count"], a["size"], b["size"]),
        "cliffs_delta": stats.cliffs_delta(rates_a, rates_b),
        "p_value": reference_permutation_test(rates_a, rates_b, seed=seed),
    }


def reference_contrasts(talk, markers, members, *, seed=0, top_words=5) -> list[dict]:
    """framing.contrasts as written: the hits filtered per item and group, a pandas groupby
    and reindex per side."""
    from pipeline.report.framing import _contrast_lemmas

    seg = talk.participants[talk.inside(members)]
    groups = sorted(g for g, part in seg.groupby("group") if part["words"].sum() > 0)
    if len(groups) < 2:
        return []
    content = talk.content[talk.content["segment_id"].isin(members)]
    found = (
        markers[markers["segment_id"].isin(seg["segment_id"])]
        if markers is not None
        else pd.DataFrame(columns=["segment_id", "category"])
    )
    meta = seg.set_index("segment_id")[["group", "speaker"]]
    found = found[["segment_id", "category"]].join(meta, on="segment_id")

    def by_group(sizes):
        return {g: part.droplevel(0) for g, part in sizes.groupby(level=0)}

    word_sizes = by_group(seg.groupby(["group", "speaker"])["words"].sum())
    content_sizes = by_group(content.groupby(["group", "speaker"]).size())

    def side(hits, group, sizes):
        mine = hits[hits["group"] == group]
        group_sizes = sizes.get(group, pd.Series(dtype=float))
        return {
            "count": len(mine),
            "size": int(group_sizes.sum()),
            "by_speaker": mine.groupby("speaker").size(),
            "sizes": group_sizes,
        }

    rows = []
    for a, b in itertools.combinations(groups, 2):
        pair = {"group_a": a, "group_b": b}
        marker_rows = [
            _reference_contrast_row(
                "marker", category, side(hits, a, word_sizes), side(hits, b, word_sizes), seed=seed
            )
            for category, hits in found.groupby("category", sort=True)
        ]
        word_rows = []
        if a in content_sizes and b in content_sizes:
            lemmas = _contrast_lemmas(content, a, b, top_words)
            for lemma, hits in content[content["lemma"].isin(lemmas)].groupby("lemma"):
                a_side, b_side = side(hits, a, content_sizes), side(hits, b, content_sizes)
                word_rows.append(_reference_contrast_row("word", lemma, a_side, b_side, seed=seed))
        for block in (marker_rows, word_rows):
            block = [r for r in block if r["count_a"] or r["count_b"]]
            block.sort(key=lambda r: (-r["g2"], r["item"]))
            rows.extend({**pair, **r} for r in block)
    return rows


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
        patch.setattr(framing, "keyness_of", reference_keyness_of)
        patch.setattr(section, "key_lemmas", reference_key_lemmas)
        patch.setattr(section, "group_markers", reference_group_markers)
        patch.setattr(section, "group_actors", reference_group_actors)
        patch.setattr(section, "first_mentions", reference_first_mentions)
        patch.setattr(section, "contrasts", reference_contrasts)
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


def test_keyness_equals_reference_bit_for_bit(sample) -> None:
    """Every column of keyness_of (DP and top share too, which the report does not show but
    ``cda keyness`` does) against the reference, on the sample's content words, theme-like
    partitions and a frame with a speaker missing (left out of DP, as groupby leaves it)."""
    from pipeline.core.io import read_table
    from pipeline.core.schemas import SEGMENTS, TOKENS
    from pipeline.language.corpus import content_mask, keyness_of

    ws, _, _ = sample
    tokens, segments = read_table(ws.tokens, TOKENS), read_table(ws.segments, SEGMENTS)
    meta = segments.set_index("segment_id")[["group", "speaker"]]
    toks = tokens[content_mask(tokens)].join(meta, on="segment_id")
    groups = sorted(toks["group"].unique())
    cases = [(toks, g, None, "group", 2) for g in groups]
    cases += [(toks, groups[0], groups[1], "group", 1)]
    cases += [(toks, toks["speaker"].iloc[0], None, "speaker", 1)]
    rng = np.random.default_rng(1)
    ids = segments["segment_id"].to_numpy()
    for _ in range(5):
        chosen = set(rng.choice(ids, size=len(ids) // 3, replace=False))
        labelled = toks.assign(theme=np.where(toks["segment_id"].isin(chosen), "in", "out"))
        cases.append((labelled, "in", None, "theme", 1))
    gap = toks.copy()
    gap.loc[gap.index[::5], "speaker"] = None
    cases.append((gap, groups[0], None, "group", 1))
    compared = 0
    for frame, target, ref, by, min_freq in cases:
        ours = keyness_of(frame, target, reference=ref, by=by, min_freq=min_freq, min_speakers=1)
        theirs = reference_keyness_of(
            frame, target, reference=ref, by=by, min_freq=min_freq, min_speakers=1
        )
        pd.testing.assert_frame_equal(ours, theirs, check_exact=True)
        compared += len(ours)
    assert compared > 100


def test_words_are_counted_once_per_report(sample, monkeypatch) -> None:
    """The work not done: words per segment (a groupby over every token) is counted once for
    the whole report, not once for each table that shows words."""
    import pipeline.report as report
    import pipeline.report.section as section
    import pipeline.report.themes as themes
    from pipeline.language import corpus
    from pipeline.report import compute_report, read_report

    ws, config, _ = sample
    inputs = fixed(read_report(ws, config, 1))
    calls = []

    def counting(tokens):
        calls.append(len(tokens))
        return corpus.words_per_segment(tokens)

    for module in (report, section, themes):
        monkeypatch.setattr(module, "words_per_segment", counting)
    result = compute_report(inputs, config)
    assert result.themes is not None and result.context["speakers"]
    assert calls == [len(inputs.tokens)]


def test_contrasts_group_the_hits_once_not_per_item(sample, monkeypatch) -> None:
    """The work not done: a theme's contrasts group its hits a fixed number of times, however
    many marker categories and words they show (the reference grouped per item and group)."""
    from pipeline.report import framing, read_report
    from pipeline.report.section import participant_segments
    from pipeline.report.themes import theme_segments

    ws, config, ids = sample
    if read_report(ws, config, 1).themes.codings is None:  # run alone: code the round first
        human_codings(ws, list(ids))
    inputs = read_report(ws, config, 1).themes
    talk = framing.Talk.of(participant_segments(inputs.segments, inputs.tokens), inputs.tokens)
    found = framing.plain_strings(inputs.markers, ("segment_id", "category", "lemma"))
    codes = inputs.codings[inputs.codings["status"] == "coded"]
    richest = max(ids, key=lambda c: int((codes["code"] == c).sum()))
    members = theme_segments(codes, richest)
    calls = []
    real = pd.DataFrame.groupby

    def counting(self, *args, **kwargs):
        calls.append(args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "groupby", counting)
    rows = framing.contrasts(talk, found, members)
    monkeypatch.undo()
    assert repr(rows) == repr(reference_contrasts(talk, found, members))
    assert len(rows) > 6
    assert len(calls) <= 10
