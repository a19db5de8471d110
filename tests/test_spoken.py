"""Fillers, hesitations and transcriber notes never become topic words or key words (§8)."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.core.config import TopicsConfig
from pipeline.core.schemas import SEGMENTS
from pipeline.language.corpus import content_mask, keyness
from pipeline.language.parse import load_pipeline
from pipeline.language.spoken import noise_mask, spoken_stopwords
from pipeline.nlp import analyse
from pipeline.topics.model import documents

TEXTS = [
    # fillers and hesitations, notes in both bracket kinds, a nested note, placeholders
    "Ehm, de camera (lacht) is eng [door elkaar] en [onverstaanbaar] uhm, nou. "
    "[P03] zei: (zucht) [door elkaar (lacht) gepraat] toeslagen.",
    # a bracket opened and not closed in its sentence hides nothing; a stray closer neither
    "Dat is (echt belangrijk voor de toekomst, hè. En 1) de overheid ] faalt. "
    "Mmm, hmm, euh, erm, um, de EU.",
    "[NAAM] woont in [PLAATS], gelach. Fietsen, koken, lezen, slapen, reizen, zwemmen, "
    "tuinieren, schilderen, dansen, zingen.",
]


@pytest.fixture(scope="module")
def parsed() -> tuple[pd.DataFrame, pd.DataFrame]:
    nlp = load_pipeline("not-installed", "nl")[0]
    segments = pd.DataFrame(
        {
            "recording_id": "r",
            "group": ["burgers", "burgers", "deskundigen"],
            "segment_id": ["r-0001", "r-0002", "r-0003"],
            "start": None,
            "end": None,
            "speaker": ["P01", "P02", "P03"],
            "role": "participant",
            "text": TEXTS,
            "source": "test",
        },
        columns=SEGMENTS.names,
    )
    return segments, analyse(segments, nlp)[1]


def test_noise_mask_by_hand(parsed) -> None:
    _, tokens = parsed
    noisy = tokens[noise_mask(tokens, fillers=spoken_stopwords())]
    by_segment = noisy.groupby("segment_id")["text"].apply(list).to_dict()
    assert by_segment["r-0001"] == [
        "Ehm",  # hesitation
        "(", "lacht", ")",
        "[", "door", "elkaar", "]",
        "[", "onverstaanbaar", "]",
        "uhm",  # hesitation
        "nou",  # filler (spoken stop list)
        "zei",  # lemma zeggen: a light verb of the spoken stop list
        "(", "zucht", ")",
        "[", "door", "elkaar", "(", "lacht", ")", "gepraat", "]",  # nested: one note
    ]  # fmt: skip
    # "(" of sentence 1 is never closed there, so "echt belangrijk ... toekomst" stays words
    # and "1)" closes nothing; "hè" is a filler; "EU" is no hesitation
    assert by_segment["r-0002"] == ["echt", "hè", "Mmm", "hmm", "euh", "erm", "um"]
    assert by_segment["r-0003"] == ["gelach"]  # placeholders are no note and open none


def test_topic_documents_and_keyness_share_the_filter(parsed) -> None:
    segments, tokens = parsed
    docs = documents(segments, tokens, TopicsConfig())
    words = {sid: doc.split() for (sid, _), doc in docs.items()}
    assert words["r-0001"] == ["camera", "eng", "toeslag"]
    assert words["r-0002"] == ["belangrijk", "toekomst", "overheid", "falen"]
    # simplemma is context-free: "Fietsen" heading a list of verbs gets the noun's lemma
    assert words["r-0003"][:2] == ["wonen", "fiets"] and len(words["r-0003"]) == 11
    # keyness counts the same content words (its length rule is > 1 character, so "eu" too)
    content = tokens[content_mask(tokens)].groupby("segment_id")["lemma"].apply(list).to_dict()
    assert content["r-0001"] == ["camera", "eng", "toeslag"]
    assert content["r-0002"] == ["belangrijk", "toekomst", "overheid", "falen", "eu"]
    table = keyness(tokens, segments, "burgers", min_freq=1, min_speakers=1).set_index("lemma")
    assert not {"ehm", "uhm", "lacht", "onverstaanbaar", "nou", "zucht", "gepraat"} & set(
        table.index
    )
    # burgers: 8 content tokens (3 + 5 above), deskundigen 11 (wonen + ten verbs).
    # camera: a = 1, b = 0; E1 = 8 * 1 / 19; G2 = 2 ln(1 / E1) = 2 ln(19 / 8) = 1.72999
    assert table.loc["camera", "per_10k_target"] == pytest.approx(1e4 / 8)
    assert table.loc["camera", "g2"] == pytest.approx(1.72999, abs=1e-5)


def test_laughter_written_out_is_noise_in_any_language_but_not_short_words() -> None:
    from helpers import word_tokens

    segments = pd.DataFrame(
        {
            "segment_id": ["r-0001", "r-0002"],
            "text": ["Haha, hahaha, hehe en hihi: hij lacht.", "Twee ha grond, he, hi en hoi."],
        }
    )
    tokens = word_tokens(segments)
    noisy = set(tokens.loc[noise_mask(tokens, fillers=spoken_stopwords("nl")), "text"])
    # "he" is an interjection of the Dutch spoken list; "ha" (hectare) and "hi" stay words
    assert noisy == {"Haha", "hahaha", "hehe", "hihi", "lacht", "he"}
    english = word_tokens(pd.DataFrame({"segment_id": ["e-1"], "text": ["Haha, laughter, ok."]}))
    assert set(english.loc[noise_mask(english, fillers=spoken_stopwords("en")), "text"]) >= {
        "Haha", "laughter",
    }  # fmt: skip
