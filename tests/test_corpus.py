"""Corpus tools: G2, log ratio, DP and log-Dice against hand computation; kwic on the sample."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from helpers import sample_through_nlp, word_tokens

from pipeline.core.io import read_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import SEGMENTS, TOKENS
from pipeline.language.corpus import (
    collocations,
    dispersion,
    keyness,
    kwic,
    log_likelihood,
    log_ratio,
)

CDA = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "cda"


def test_log_likelihood_and_log_ratio_by_hand() -> None:
    # a=10 in c=1000 tokens against b=2 in d=1000: E1 = E2 = 1000*12/2000 = 6;
    # G2 = 2*(10 ln(10/6) + 2 ln(2/6)) = 2*(5.10826 - 2.19722) = 5.82207.
    assert log_likelihood(10, 2, 1000, 1000) == pytest.approx(5.82207, abs=1e-4)
    # A word absent from the reference: E1 = 5000*8/15000 = 2.6667, b contributes 0;
    # G2 = 2 * 8 ln(8 / 2.6667) = 16 * 1.098612 = 17.5778.
    assert log_likelihood(8, 0, 5000, 10000) == pytest.approx(17.5778, abs=1e-3)
    assert log_likelihood(5, 5, 1000, 1000) == 0
    assert log_ratio(10, 2, 1000, 1000) == pytest.approx(2.321928, abs=1e-6)  # log2(5)
    assert log_ratio(8, 0, 5000, 10000) == pytest.approx(5.0)  # log2((8/5000)/(0.5/10000))


def test_dispersion_over_speakers() -> None:
    sizes = pd.Series({"a": 100, "b": 100})
    assert dispersion(pd.Series({"a": 5, "b": 5}), sizes) == pytest.approx(0.0)
    assert dispersion(pd.Series({"a": 10}), sizes) == pytest.approx(0.5)
    uneven = pd.Series({"a": 300, "b": 100})
    assert dispersion(pd.Series({"a": 3, "b": 1}), uneven) == pytest.approx(0.0)


def corpus(rows: list[tuple[str, str, str, str]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(segment_id, group, speaker, text) → segments and word tokens."""
    segments = pd.DataFrame(
        [
            {
                "recording_id": group,
                "group": group,
                "segment_id": sid,
                "start": 0.0,
                "end": 1.0,
                "speaker": speaker,
                "role": "participant",
                "text": text,
                "source": "test",
            }
            for sid, group, speaker, text in rows
        ]
    )
    return segments, word_tokens(segments)


def test_keyness_counts_speakers_and_drops_one_speaker_words() -> None:
    rows = [
        ("a1", "burgers", "P01", "china camera camera fiets fiets fiets fiets fiets"),
        ("a2", "burgers", "P02", "china china camera fiets markt"),
        ("a3", "burgers", "P01", "china fiets fiets fiets fiets fiets fiets"),
        ("b1", "deskundigen", "P07", "beleid beleid data china markt"),
        ("b2", "deskundigen", "P08", "beleid data data algoritme markt"),
    ]
    segments, tokens = corpus(rows)
    table = keyness(tokens, segments, "burgers", min_freq=2)
    assert "fiets" in set(table["lemma"])
    china = table.set_index("lemma").loc["china"]
    # target: 4 china in 20 tokens; reference: 1 in 10.
    assert (china["freq_target"], china["freq_reference"]) == (4, 1)
    assert china["g2"] == pytest.approx(log_likelihood(4, 1, 20, 10))
    assert china["speakers"] == 2
    fiets = table.set_index("lemma").loc["fiets"]
    assert fiets["speakers"] == 2 and fiets["top_speaker_share"] == pytest.approx(11 / 12)
    # DP: P01 speaks 15 of the 20 target tokens (0.75), P02 5 (0.25). fiets: 11 of 12 by P01
    # → 0.5*(|11/12-0.75| + |1/12-0.25|) = 1/6; china 2 and 2 → 0.5*(0.25 + 0.25) = 0.25.
    assert fiets["dp"] == pytest.approx(1 / 6)
    assert china["dp"] == pytest.approx(0.25)

    strict = keyness(tokens, segments, "burgers", min_freq=2, min_speakers=2)
    assert "camera" in set(strict["lemma"])  # P01 twice, P02 once
    only_p01 = corpus([*rows, ("a4", "burgers", "P01", "tram tram tram")])
    assert "tram" not in set(keyness(*only_p01[::-1], "burgers", min_freq=2)["lemma"])
    assert "tram" in set(keyness(*only_p01[::-1], "burgers", min_freq=2, min_speakers=1)["lemma"])
    assert (table["log_ratio"] > 0).all()
    assert table["g2"].is_monotonic_decreasing


def test_spoken_fillers_are_per_language() -> None:
    from pipeline.language.spoken import spoken_stopwords

    english = spoken_stopwords("en")
    assert {"um", "uh", "erm", "yeah", "okay", "mhm"} <= english
    # content words stay: they carry what is talked about (and "like" can be an evaluation)
    assert not english & {"like", "know", "mean", "think", "people", "thing", "government"}
    assert "nou" in spoken_stopwords("nl") and "nou" not in english  # no Dutch in English
    assert spoken_stopwords() == spoken_stopwords("nl")  # the default is unchanged
    assert spoken_stopwords("de") == frozenset()  # no list: spaCy's stop words only


def test_keyness_drops_the_fillers_of_the_study_language() -> None:
    rows = [
        ("a1", "callers", "P01", "um council um yeah council fees"),
        ("a2", "callers", "P02", "uh council yeah um fees"),
        ("b1", "staff", "P07", "budget budget policy fees"),
    ]
    segments, tokens = corpus(rows)
    english = keyness(tokens, segments, "callers", min_freq=2, language="en")
    # by hand, fillers (um, uh, yeah) dropped: the callers' content tokens are council 3 and
    # fees 2 (5 in all), the staff's budget 2, policy 1, fees 1 (4 in all)
    table = english.set_index("lemma")
    assert set(table.index) == {"council", "fees"}
    assert (table.loc["council", "freq_target"], table.loc["council", "freq_reference"]) == (3, 0)
    assert table.loc["council", "g2"] == pytest.approx(log_likelihood(3, 0, 5, 4))
    assert table.loc["fees", "g2"] == pytest.approx(log_likelihood(2, 1, 5, 4))
    dutch_list = keyness(tokens, segments, "callers", min_freq=2)  # the old, Dutch-only list
    # "yeah" is a filler of English only; "um" is a hesitation, dropped in any language
    assert "yeah" in set(dutch_list["lemma"]) and "um" not in set(dutch_list["lemma"])


def test_collocations_log_dice_and_mi_by_hand() -> None:
    segments, tokens = corpus(
        [
            ("s1", "g", "P01", "overheid data verzamelt data"),
            ("s2", "g", "P02", "overheid camera straat"),
            ("s3", "g", "P03", "data markt"),
        ]
    )
    table = collocations(tokens, segments, "overheid", window=2, min_freq=1)
    row = table.set_index("collocate").loc["data"]
    # window 2 around overheid in s1 covers "data verzamelt": f_xy = 1 (the second "data" is
    # 3 away); f_node = 2, f_data = 3, N = 9.
    assert (row["f_xy"], row["f_node"], row["f_collocate"]) == (1, 2, 3)
    assert row["log_dice"] == pytest.approx(14 + math.log2(2 * 1 / (2 + 3)))  # 12.678
    assert row["mi"] == pytest.approx(math.log2(1 * 9 / (2 * 3 * 4)))  # -1.415
    assert set(table["collocate"]) == {"data", "verzamelt", "camera", "straat"}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return sample_through_nlp(tmp_path_factory.mktemp("sample") / "ws")


def test_kwic_on_the_sample_is_lemma_aware_and_cut_from_the_text(sample: Workspace) -> None:
    segments = read_table(sample.segments, SEGMENTS)
    tokens = read_table(sample.tokens, TOKENS)
    lines = kwic(segments, tokens, "china", window=3)
    assert len(lines) >= 10
    assert set(lines["node"]) == {"China"}
    text_of = segments.set_index("segment_id")["text"]
    for line in lines.itertuples():
        text = text_of[line.segment_id]
        assert f"{line.left} {line.node}".strip() in text
        assert len(line.left.split()) <= 3 + 2  # 3 tokens; punctuation may hug a word
    burgers = kwic(segments, tokens, "china", group="burgers")
    assert set(burgers["group"]) == {"burgers"} and 0 < len(burgers) < len(lines)

    # "zou" is lemmatised to "zullen": found by lemma, not by form
    by_lemma = kwic(segments, tokens, "zullen")
    assert "zou" in set(by_lemma["node"].str.lower())
    assert "zou" not in set(kwic(segments, tokens, "zullen", lemma=False)["node"].str.lower())

    phrase = kwic(segments, tokens, "eigen verantwoordelijkheid")
    assert len(phrase) >= 1 and set(phrase["node"].str.lower()) == {"eigen verantwoordelijkheid"}


def test_kwic_and_keyness_commands_write_csv(sample: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "china.csv"
    proc = subprocess.run(
        [str(CDA), "kwic", "China", "-w", str(sample.root), "--csv", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "line(s) for 'China'" in proc.stdout
    rows = pd.read_csv(out)
    assert list(rows.columns[:7]) == [
        "segment_id",
        "group",
        "speaker",
        "start",
        "left",
        "node",
        "right",
    ]
    assert rows["segment_id"].str.match(r"^(burgers|deskundigen)-\d{4}$").all()

    key = tmp_path / "key.csv"
    subprocess.run(
        [
            str(CDA),
            "keyness",
            "deskundigen",
            "-w",
            str(sample.root),
            "--min-freq",
            "3",
            "--csv",
            str(key),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    table = pd.read_csv(key)
    assert len(table) > 0 and (table["speakers"] >= 2).all()

    proc = subprocess.run(
        [str(CDA), "keyness", "boeren", "-w", str(sample.root)], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "no content words where group = 'boeren'" in proc.stderr
