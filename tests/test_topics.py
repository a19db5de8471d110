"""Round-1 topics: separation of clear themes, determinism, facilitator exclusion, outliers."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.config import TopicsConfig
from pipeline.errors import CdaError
from pipeline.nlp import analyse, load_pipeline
from pipeline.schemas import SEGMENTS
from pipeline.topics import OUTLIER, documents, fit_topics

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
    _, tokens = analyse(segments, nlp)
    config = TopicsConfig(**cfg)
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


def test_facilitator_excluded_by_default_and_short_turns_are_outliers(nlp) -> None:
    texts = [*CHINA, *TOESLAGEN, "Wat vinden jullie van camera's in China?", "Ja."]
    roles = ["participant"] * (len(texts) - 2) + ["facilitator", "participant"]
    segments = frame(texts, roles)
    model = fit(segments, nlp, n_topics=2)
    ids = set(model.doc_topics["segment_id"])
    facilitator_id = segments["segment_id"].iloc[-2]
    short_id = segments["segment_id"].iloc[-1]
    assert facilitator_id not in ids
    assert model.doc_topics.set_index("segment_id").loc[short_id, "topic"] == OUTLIER
    included = fit(segments, nlp, n_topics=2, include_facilitator=True)
    assert facilitator_id in set(included.doc_topics["segment_id"])


def test_too_little_text_is_a_clear_error(nlp) -> None:
    with pytest.raises(CdaError, match="content words"):
        fit(frame(["Ja.", "Nee.", "Precies."]), nlp)
