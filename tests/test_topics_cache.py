"""Topics stage work that is not needed is not done (issue 21): the second-seed stability refit
is cached until the units, their embeddings or the settings change, and NPMI is computed from
one presence matrix, equal to the pairwise definition."""

from __future__ import annotations

import itertools
import json
import math
import random
import shutil
from dataclasses import replace

import numpy as np
import pytest
from helpers import sample_through_nlp

from pipeline.core.config import load_config
from pipeline.topics import run_topics, stability
from pipeline.topics.outputs import npmi, npmi_topics, quality, stability_cache


def npmi_pairwise(topic_words: list[str], docs: list[set[str]]) -> float:
    """The definition, unit by unit (the stage's code before issue 21), as the reference."""
    n = len(docs)
    scores = []
    for a, b in itertools.combinations(topic_words, 2):
        pa = sum(a in d for d in docs) / n
        pb = sum(b in d for d in docs) / n
        pab = sum(a in d and b in d for d in docs) / n
        if pab == 0 or pa == 0 or pb == 0:
            scores.append(-1.0)
        elif pab == 1:
            scores.append(1.0)
        else:
            scores.append(math.log(pab / (pa * pb)) / -math.log(pab))
    return float(np.mean(scores)) if scores else float("nan")


def test_npmi_from_the_presence_matrix_by_hand() -> None:
    docs = ["a b", "a b x", "a", "c", "b c a"]
    # n = 5; P(a) = 4/5, P(b) = 3/5, P(c) = 2/5, P(a,b) = 3/5, P(a,c) = 1/5, P(b,c) = 1/5.
    # (a,b): log(0.6 / (0.8 * 0.6)) / -log 0.6 = 0.22314 / 0.51083 = 0.43683
    # (a,c): log(0.2 / (0.8 * 0.4)) / -log 0.2 = -0.47000 / 1.60944 = -0.29203
    # (b,c): log(0.2 / (0.6 * 0.4)) / -log 0.2 = -0.18232 / 1.60944 = -0.11328
    ab, ac, bc = 0.43683, -0.29203, -0.11328
    topics = [["a", "b"], ["a", "b", "c"], ["a", "zz"], ["x"], ["a", "a"]]
    got = npmi_topics(topics, docs)
    assert got[0] == pytest.approx(ab, abs=1e-5)
    assert got[1] == pytest.approx((ab + ac + bc) / 3, abs=1e-5)
    assert got[2] == -1.0  # a word in no unit never co-occurs
    assert math.isnan(got[3])  # one word has no pair
    # (a,a): log(0.8 / 0.64) / -log 0.8 = 0.22314 / 0.22314 = 1
    assert got[4] == pytest.approx(1.0, abs=1e-12)
    # a pair in every unit scores 1 (log(1/1) / -log 1 would be 0/0)
    assert npmi_topics([["a", "b"]], ["a b", "b a"]) == [1.0]
    sets = [set(d.split()) for d in docs]
    for words, value in zip(topics, got, strict=True):
        assert value == pytest.approx(npmi_pairwise(words, sets), abs=1e-12, nan_ok=True)
        assert npmi(words, sets) == pytest.approx(value, abs=1e-12, nan_ok=True)


@pytest.fixture(scope="module")
def sample_ws(tmp_path_factory: pytest.TempPathFactory):
    ws = sample_through_nlp(tmp_path_factory.mktemp("topics-cache") / "ws")
    model = run_topics(ws, load_config(ws), round_no=1)
    return ws, model


def test_npmi_equals_the_pairwise_definition_on_the_sample_and_the_debate(sample_ws) -> None:
    _, model = sample_ws
    topics = [row.keywords.split("; ")[:10] for row in model.topics.itertuples() if row.topic >= 0]
    docs = model.docs.tolist()
    sets = [set(d.split()) for d in docs]
    expected = [npmi_pairwise(words, sets) for words in topics]
    assert len(topics) >= 3 and not any(math.isnan(v) for v in expected)
    assert npmi_topics(topics, docs) == pytest.approx(expected, abs=1e-12)

    # the real debate: its units' lemmas, 20 topics of 10 words drawn from them (seeded)
    from benchmarks.embeddings import DEBATE, debate_units, segments_of

    if not DEBATE.is_file():
        pytest.skip(f"shared ParlaMint debate not found at {DEBATE}")
    from pipeline.core.config import TopicsConfig
    from pipeline.language.parse import load_pipeline
    from pipeline.nlp import analyse
    from pipeline.topics.model import documents

    segments = segments_of(debate_units())
    _, tokens = analyse(segments, load_pipeline("none-blank", "nl")[0])
    lemmas = documents(segments, tokens, TopicsConfig()).tolist()
    vocabulary = sorted({w for d in lemmas for w in d.split()})
    rng = random.Random(0)
    drawn = [rng.sample(vocabulary, 10) for _ in range(10)]
    drawn += [d.split()[:10] for d in lemmas if len(set(d.split()[:10])) == 10][:10]
    sets = [set(d.split()) for d in lemmas]
    expected = [npmi_pairwise(words, sets) for words in drawn]
    assert len(lemmas) > 200 and max(expected) > -1.0
    assert npmi_topics(drawn, lemmas) == pytest.approx(expected, abs=1e-12)


def outputs(ws) -> dict[str, bytes]:
    """Every file the stage writes for round 1 (tables, quality, figures, candidates), but
    ``topics.json``: it says how many units this run embedded anew (all, then none)."""
    folder = ws.round_dir(1)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "topics.json")
    files.append(ws.codebooks / "digitalisering-cohesie" / "round-1.candidates.yaml")
    return {str(p.relative_to(ws.root)): p.read_bytes() for p in files}


def test_second_run_with_nothing_changed_does_not_refit(sample_ws, tmp_path, monkeypatch) -> None:
    from pipeline.core.paths import Workspace
    from pipeline.topics.model import assign

    source, first_model = sample_ws
    shutil.copytree(source.root, tmp_path / "ws")
    ws = Workspace.at(tmp_path / "ws")
    config = load_config(ws)
    cache = stability_cache(ws, 1)
    assert cache.is_file()  # the fixture's run fitted both seeds and kept the second
    before, stat = outputs(ws), cache.stat()

    calls = []
    real = stability.refit

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(stability, "refit", counted)
    run_topics(ws, config, round_no=1)
    assert calls == []
    assert outputs(ws) == before  # tables, quality.json and the PNGs, byte for byte
    after = cache.stat()
    assert (after.st_ino, after.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)

    # the cached topics are the refit's: without the cache, the same stability and figures
    cache.unlink()
    run_topics(ws, config, round_no=1)
    assert len(calls) == 1 and outputs(ws) == before
    # ... and the refit is the second-seed fit itself (the code before the cache)
    _, other, _ = assign(
        first_model.docs,
        config.topics,
        seed=config.topics.stability_seed,
        embedded=first_model.embedded,
    )
    assert json.loads(cache.read_text())["topics"] == np.asarray(other).tolist()

    # a setting that changes the fit refits, and replaces the entry
    changed = config.model_copy(
        update={"topics": config.topics.model_copy(update={"stability_seed": 11})}
    )
    run_topics(ws, changed, round_no=1)
    assert len(calls) == 2
    entry = json.loads(cache.read_text())
    assert entry["seed"] == 11
    quality_now = json.loads((ws.round_dir(1) / "quality.json").read_text())
    assert quality_now["seeds"] == [config.topics.random_state, 11]


def test_the_cache_key_follows_units_embeddings_and_settings(sample_ws, tmp_path) -> None:
    ws, model = sample_ws
    cfg = load_config(ws).topics
    key = stability.stability_key(model, cfg)
    assert key == stability.stability_key(model, cfg.model_copy())
    edited = model.docs.copy()
    edited.iloc[0] = edited.iloc[0] + " extra"
    assert stability.stability_key(replace(model, docs=edited), cfg) != key
    vectors = model.embedded.vectors.copy()
    vectors[0, 0] += 1e-9
    embedded = replace(model.embedded, vectors=vectors)
    assert stability.stability_key(replace(model, embedded=embedded), cfg) != key
    for change in ({"stability_seed": 8}, {"n_topics": 3}, {"clusterer": "hdbscan"}):
        assert stability.stability_key(model, cfg.model_copy(update=change)) != key

    # a stale or broken entry is refitted, never trusted
    path = tmp_path / "stability.json"
    first = stability.second_seed_topics(model, cfg, cache=path)
    entry = json.loads(path.read_text())
    assert entry["key"] == key and len(entry["topics"]) == len(model.docs)
    entry["topics"] = [0] * len(model.docs)
    path.write_text(json.dumps({**entry, "key": "0" * 64}))
    assert stability.second_seed_topics(model, cfg, cache=path).tolist() == first.tolist()
    path.write_text("{not json")
    assert stability.second_seed_topics(model, cfg, cache=path).tolist() == first.tolist()
    study = load_config(ws)
    assert quality(model, study, cache=path) == quality(model, study)
