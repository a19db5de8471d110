"""Theme prevalence, breadth, group comparison and absent themes on a hand-made fixture."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import word_tokens

from pipeline.codebook import Codebook
from pipeline.core.config import StudyConfig
from pipeline.core.io import frame_of
from pipeline.core.schemas import CODINGS
from pipeline.core.schemas import SEGMENTS as SEGMENTS_SCHEMA
from pipeline.report.section import ThemeInputs, compute_themes, read_themes, write_themes
from pipeline.report.stats import cliffs_delta, permutation_test
from pipeline.report.themes import (
    HUMAN,
    absent_themes,
    compare_groups,
    from_codings,
    prevalence,
    speaker_shares,
)

BOOK = Codebook.model_validate(
    {
        "study": "proef",
        "round": 1,
        "research_questions": [
            {"id": "rq1", "text": "Hoe verschijnt China?"},
            {"id": "rq2", "text": "Vertrouwen in de overheid?"},
        ],
        "codes": [
            {"id": "china", "label": "China", "description": "d", "research_questions": ["rq1"]},
            {"id": "kloof", "label": "Kloof", "description": "d"},
            {"id": "havenots", "label": "Have-nots", "description": "d", "parent": "kloof"},
            {"id": "vertrouwen", "label": "Vertrouwen", "description": "d",
             "research_questions": ["rq2"]},
        ],
    }
)  # fmt: skip

# (segment, group, speaker, role, start, end)
SEGMENTS = pd.DataFrame(
    [
        ("b-0", "burgers", "F01", "facilitator", 0, 5),
        ("b-1", "burgers", "P01", "participant", 5, 15),
        ("b-2", "burgers", "P01", "participant", 15, 25),
        ("b-3", "burgers", "P01", "participant", 25, 35),
        ("b-4", "burgers", "P02", "participant", 35, 55),
        ("d-1", "deskundigen", "P03", "participant", 0, 10),
        ("d-2", "deskundigen", "P03", "participant", 10, 20),
        ("d-3", "deskundigen", "P04", "participant", 20, 50),
    ],
    columns=["segment_id", "group", "speaker", "role", "start", "end"],
).assign(text="China kijkt mee.")
TOKENS = word_tokens(SEGMENTS)


def theme_section(ws, config, round_no, segments, tokens, markers=None) -> dict | None:
    """The theme section as the report builds it: read -> compute -> write."""
    inputs = read_themes(ws, config, round_no, segments=segments, tokens=tokens, markers=markers)
    if inputs is None:
        return None
    return write_themes(compute_themes(inputs, config), ws.report_dir(round_no))


def codings(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["segment_id", "coder", "code"])
    frame["task_id"] = range(len(frame))
    return frame_of(frame, CODINGS, status="coded", in_codebook=True, origin="labelstudio")


CODED = codings(
    [
        ("b-0", "A", "china"),  # the facilitator: never counted
        ("b-1", "A", "china"),
        ("b-2", "B", "china"),  # one coder is enough (union)
        ("b-3", "A", "havenots"),
        ("b-4", "A", "china"),
        ("b-4", "B", "china"),
        ("d-1", "A", "havenots"),
        ("d-2", "A", "china"),
        ("d-2", "adjudication", "havenots"),  # adjudicated: replaces A's china
        ("d-3", "B", "china"),
    ]
)


def test_prevalence_matches_hand_counts_with_parent_rollup():
    assigned = from_codings(CODED, BOOK)
    assert assigned.basis == HUMAN
    table = prevalence(SEGMENTS, assigned.table, BOOK, tokens=TOKENS).set_index(["theme", "group"])
    # china: burgers b-1, b-2, b-4 = 40 s of 50 s, speakers P01, P02; deskundigen d-3 = 30 of 50
    # (every segment here is coded by one coder, except b-4 where A and B agree: the settled
    # rule counts them all, d-2 as adjudicated); 3 words per segment
    assert table.loc[("china", "burgers")].to_dict() == {
        "segments": 3, "speakers": 2, "seconds": 40.0, "words": 9, "share": 0.8,
        "share_of": "time", "unresolved": 0,
    }  # fmt: skip
    assert table.loc[("china", "deskundigen")].to_dict() == {
        "segments": 1, "speakers": 1, "seconds": 30.0, "words": 3, "share": 0.6,
        "share_of": "time", "unresolved": 0,
    }  # fmt: skip
    # havenots: b-3 (10 s) | d-1 + adjudicated d-2 (20 s, one speaker); kloof = its parent
    assert table.loc[("havenots", "deskundigen"), ["segments", "speakers"]].tolist() == [2, 1]
    assert table.loc[("havenots", "deskundigen"), "share"] == pytest.approx(0.4)
    pd.testing.assert_series_equal(
        table.loc["kloof"]["segments"], table.loc["havenots"]["segments"]
    )
    assert table.loc[("vertrouwen", "burgers"), "segments"] == 0


def test_speaker_shares_count_people_not_segments():
    assigned = from_codings(CODED, BOOK).table
    shares = speaker_shares(SEGMENTS, assigned, "china", tokens=TOKENS)
    shares = shares.set_index("speaker")["share"]
    assert shares.to_dict() == pytest.approx({"P01": 2 / 3, "P02": 1.0, "P03": 0.0, "P04": 1.0})


def test_permutation_test_exact_by_hand():
    # 20 ways to split 6 values 3/3; only the two extreme splits reach |diff| = 3
    assert permutation_test(np.array([1, 2, 3]), np.array([4, 5, 6])) == pytest.approx(2 / 20)
    assert permutation_test(np.array([1, 2]), np.array([1, 2])) == pytest.approx(1.0)
    sampled = permutation_test(np.arange(12.0), np.arange(12.0) + 6, exact_limit=10, seed=1)
    assert 0 < sampled < 0.01


def test_cliffs_delta_by_hand():
    assert cliffs_delta(np.array([2 / 3, 1]), np.array([0, 1])) == pytest.approx(0.25)
    assert cliffs_delta(np.array([3, 4]), np.array([1, 2])) == 1.0


def test_group_comparison_is_over_speakers():
    assigned = from_codings(CODED, BOOK).table
    row = compare_groups(SEGMENTS, assigned, BOOK, tokens=TOKENS).set_index("theme").loc["china"]
    assert (row["speakers_a"], row["speakers_b"]) == (2, 2)
    assert row["mean_share_a"] == pytest.approx(5 / 6) and row["mean_share_b"] == pytest.approx(0.5)
    # every one of the 6 relabellings is at least as extreme as the observed 1/3
    assert row["p_value"] == pytest.approx(1.0)
    assert row["cliffs_delta"] == pytest.approx(0.25)


def test_absent_and_thin_themes_and_uncovered_questions():
    assigned = from_codings(CODED, BOOK).table
    table = prevalence(SEGMENTS, assigned, BOOK, tokens=TOKENS)
    themes, questions = absent_themes(table, BOOK)
    assert {(t["theme"], t["status"]) for t in themes} == {("vertrouwen", "absent")}
    themes, _ = absent_themes(table, BOOK, thin_segments=4, thin_speakers=3)
    assert {(t["theme"], t["status"]) for t in themes} == {
        ("vertrouwen", "absent"), ("kloof", "thin"), ("havenots", "thin"),
    }  # fmt: skip
    assert [q["id"] for q in questions] == ["rq2"]


def test_report_section_on_the_sample_is_machine_based_until_codes_are_pulled(tmp_path):
    from helpers import sample_through_nlp

    from pipeline.core.config import load_config
    from pipeline.core.io import read_table, write_table
    from pipeline.core.schemas import MARKERS, SEGMENTS, TOKENS
    from pipeline.report.themes import MACHINE
    from pipeline.suggest import run_suggest

    ws = sample_through_nlp(tmp_path / "ws")
    config = load_config(ws)
    run_suggest(ws, config, round_no=1)
    segments = read_table(ws.segments, SEGMENTS)
    tokens = read_table(ws.tokens, TOKENS)
    markers = read_table(ws.markers, MARKERS)

    section = theme_section(ws, config, 1, segments, tokens, markers)
    assert section["basis"] == MACHINE
    table = pd.read_csv(ws.report_dir(1) / "themes.csv")
    assert list(table.columns) == [
        "theme", "group", "segments", "speakers", "seconds", "words", "share", "share_of",
        "unresolved",
    ]  # fmt: skip
    assert set(table["group"]) == set(config.groups)
    assert (table["speakers"] <= table["segments"]).all() and table["share"].between(0, 1).all()

    coded = codings([(segments["segment_id"].iloc[3], "A", "china-dystopie")])
    imported = codings([(segments["segment_id"].iloc[i], "C", "havenots") for i in (4, 4, 5)])
    imported = imported.assign(origin="qdpx:maxqda.qdpx")
    write_table(pd.concat([coded, imported]), CODINGS, ws.codings(1))
    human = theme_section(ws, config, 1, segments, tokens, markers)
    assert human["basis"] == HUMAN
    assert section["coders"] == []  # suggestions have no coders
    assert human["coders"] == [
        {"coder": "A", "origin": "labelstudio", "segments": 1},
        {"coder": "C", "origin": "qdpx:maxqda.qdpx", "segments": 2},
    ]
    china = next(t for t in human["themes"] if t["id"] == "china-dystopie")
    assert sum(g["segments"] for g in china["per_group"]) == 1
    absent = {a["theme"] for a in human["absent_or_thin"] if a["status"] == "absent"}
    assert "vertrouwen-overheid" in absent  # nobody coded it yet: stated, not hidden
    (mention,) = china["first_mentions"]
    assert mention["segment_id"] == segments["segment_id"].iloc[3] and mention["taken_up_by"] == 0
    assert china["representatives"][0]["text"] is None  # no verbatim text by default
    machine_china = next(t for t in section["themes"] if t["id"] == "china-dystopie")
    assert machine_china["key_lemmas"] and machine_china["key_lemmas"][0]["g2"] > 0
    assert {m["category"] for m in machine_china["markers"]} >= {"ingroup", "outgroup"}


def test_timeline_bins_and_cooccurrence_by_hand():
    from pipeline.report.figures import cooccurrence, timeline

    assigned = from_codings(CODED, BOOK).table
    # burgers session ends at 55 s: b-1 starts at 5 s (bin 0), b-2 15 s (2), b-4 35 s (6)
    seg = SEGMENTS.assign(recording_id=SEGMENTS["group"])
    table = timeline(seg[seg["role"] != "facilitator"], assigned, BOOK.ids)
    china = table[(table["code"] == "china") & (table["group"] == "burgers")]
    assert dict(zip(china["bin"], china["segments"], strict=True)) == {0: 1, 2: 1, 6: 1}
    matrix = cooccurrence(assigned, BOOK.ids)
    assert matrix.loc["havenots", "kloof"] == 3 and matrix.loc["china", "havenots"] == 0
    assert matrix.loc["china", "china"] == 5  # b-0, b-1, b-2, b-4, d-3 (d-2 was adjudicated)


def test_round_two_reports_its_codebook_changes(tmp_path):
    from helpers import sample_through_nlp

    from pipeline.codebook import new_round
    from pipeline.core.config import load_config
    from pipeline.core.io import read_table, write_table
    from pipeline.core.schemas import SEGMENTS, TOKENS

    ws = sample_through_nlp(tmp_path / "ws")
    config = load_config(ws)
    path = new_round(ws, config, 2)
    data = yaml.safe_load(path.read_text())
    code = next(c for c in data["codes"] if c["id"] == "wantnots")
    code.update(id="niet-willen", replaces=["wantnots"])
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    segments = read_table(ws.segments, SEGMENTS)
    write_table(codings([(segments["segment_id"].iloc[3], "A", "niet-willen")]), CODINGS,
                ws.codings(2))  # fmt: skip
    section = theme_section(ws, config, 2, segments, read_table(ws.tokens, TOKENS))
    assert {"kind": "renamed", "old": ("wantnots",), "new": ("niet-willen",), "detail": ""} in [
        {**c, "old": tuple(c["old"]), "new": tuple(c["new"])} for c in section["codebook_changes"]
    ]


def test_themes_csv_holds_the_hand_computed_numbers(tmp_path):
    from helpers import word_tokens

    from pipeline.cli.init import init_workspace
    from pipeline.core.config import load_config
    from pipeline.core.io import write_table
    from pipeline.core.paths import Workspace

    ws = Workspace.at(tmp_path / "ws")
    init_workspace(ws, study="proef", groups=["burgers", "deskundigen"])
    (ws.codebooks / "proef").mkdir(parents=True)
    book = BOOK.model_dump(exclude_defaults=True)
    (ws.codebooks / "proef" / "round-1.yaml").write_text(yaml.safe_dump(book, sort_keys=False))
    segments = SEGMENTS.assign(
        recording_id=SEGMENTS["group"], text="China kijkt mee.", source="test",
        start=SEGMENTS["start"].astype(float), end=SEGMENTS["end"].astype(float),
    )  # fmt: skip
    write_table(CODED, CODINGS, ws.codings(1))
    section = theme_section(ws, load_config(ws), 1, segments, word_tokens(segments))
    assert section["basis"] == HUMAN
    rows = pd.read_csv(ws.report_dir(1) / "themes.csv").set_index(["theme", "group"])
    assert rows.loc[("china", "burgers")].tolist() == [3, 2, 40.0, 9, 0.8, "time", 0]
    assert rows.loc[("china", "deskundigen")].tolist() == [1, 1, 30.0, 3, 0.6, "time", 0]
    assert rows.loc[("kloof", "deskundigen")].tolist() == [2, 1, 20.0, 6, 0.4, "time", 0]
    assert rows.loc[("vertrouwen", "burgers")].tolist() == [0, 0, 0.0, 0, 0.0, "time", 0]
    payload = json.loads((ws.report_dir(1) / "themes.json").read_text())
    assert [a["theme"] for a in payload["absent_or_thin"]] == ["vertrouwen"]
    assert payload["uncovered_research_questions"][0]["id"] == "rq2"


# the pure compute step, without any file ----------------------------------------------------

SMALL_BOOK = Codebook.model_validate(
    {
        "study": "proef",
        "round": 1,
        "codes": [
            {"id": "zorg", "label": "Zorg", "description": "d"},
            {"id": "geld", "label": "Geld", "description": "d"},
        ],
    }
)


def segment_frame(rows: list[tuple]) -> pd.DataFrame:
    """(recording, group, id, start, end, speaker, role, text) rows as a segments table."""
    names = ["recording_id", "group", "segment_id", "start", "end", "speaker", "role", "text"]
    frame = pd.DataFrame(rows, columns=names).assign(overlap=0.0, source="test")
    return frame_of(frame, SEGMENTS_SCHEMA)


def judged(rows: list[tuple]) -> pd.DataFrame:
    """(segment, coder, code or None) rows as codings; no code: a deliberate "no code"."""
    frame = pd.DataFrame(rows, columns=["segment_id", "coder", "code"])
    frame["task_id"] = range(len(frame))
    frame["status"] = np.where(frame["code"].isna(), "empty", "coded")
    return frame_of(frame, CODINGS, in_codebook=True, origin="labelstudio")


SMALL = segment_frame(
    [
        ("n", "noord", "n-0001", 0.0, 10.0, "F01", "facilitator", "Wat vindt u van de zorg?"),
        ("n", "noord", "n-0002", 10.0, 40.0, "P01", "participant", "De zorg is duur."),
        ("n", "noord", "n-0003", 40.0, 50.0, "P02", "participant", "Ja, de zorg."),
        ("z", "zuid", "z-0001", 0.0, 20.0, "P03", "participant", "Geld voor zorg."),
    ]
)
SMALL_CODED = judged(
    [
        ("n-0001", "A", "zorg"),  # the facilitator: never counted
        ("n-0002", "A", "zorg"),
        ("n-0002", "B", "zorg"),  # A and B agree: settled
        ("n-0003", "A", "zorg"),
        ("n-0003", "B", None),  # B saw no code: split, nobody adjudicated -> unresolved
        ("z-0001", "A", "zorg"),
        ("z-0001", "A", "geld"),
        ("z-0001", "B", "zorg"),  # zorg agreed; geld A's alone -> unresolved
    ]
)


def small_inputs(**changes) -> ThemeInputs:
    return ThemeInputs(
        round_no=1, book=SMALL_BOOK, codebook="codebooks/proef/round-1.yaml",
        codebook_sha256="0" * 64, segments=SMALL, tokens=word_tokens(SMALL),
        codings=SMALL_CODED, **changes,
    )  # fmt: skip


def study(**sections) -> StudyConfig:
    config = StudyConfig(study="proef", groups=["noord", "zuid"])
    return config.model_copy(
        update={name: getattr(config, name).model_copy(update=v) for name, v in sections.items()}
    )


def test_compute_themes_by_hand_three_segments_two_coders_no_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything written would land here
    inputs = small_inputs()
    before = (inputs.segments.copy(), inputs.tokens.copy(), inputs.codings.copy())
    result = compute_themes(inputs, study())
    assert list(tmp_path.iterdir()) == []  # pure: nothing written
    for frame, kept in zip((inputs.segments, inputs.tokens, inputs.codings), before, strict=True):
        pd.testing.assert_frame_equal(frame, kept)  # and the inputs are untouched

    table = result.table.set_index(["theme", "group"])
    # participant time: noord 30 s (n-0002) + 10 s (n-0003) = 40 s (F01's 10 s do not count);
    # zuid 20 s. Words (tokens that are not punctuation): "De zorg is duur." 4,
    # "Ja, de zorg." 3, "Geld voor zorg." 3.
    # settled zorg: n-0002 (A and B agree) = 30 s of 40 -> 0.75, 4 words, 1 speaker; n-0003 is
    # split (A zorg, B no code), so not counted but unresolved once; zuid z-0001 = 20 / 20 = 1.0
    assert table.loc[("zorg", "noord")].tolist() == [1, 1, 30.0, 4, 0.75, "time", 1]
    assert table.loc[("zorg", "zuid")].tolist() == [1, 1, 20.0, 3, 1.0, "time", 0]
    # geld: only A on z-0001 -> nowhere settled, unresolved once in zuid
    assert table.loc[("geld", "noord")].tolist() == [0, 0, 0.0, 0, 0.0, "time", 0]
    assert table.loc[("geld", "zuid")].tolist() == [0, 0, 0.0, 0, 0.0, "time", 1]
    basis = result.payload["coding_basis"]
    # unresolved segments: n-0003 and z-0001; n-0001 (only A coded it) is the facilitator's,
    # so not a single-coded segment of the report
    assert (basis["rule"], basis["coders"]) == ("settled", ["A", "B"])
    assert (basis["unresolved_segments"], basis["single_coded_segments"]) == (2, 0)
    zorg = next(t for t in result.payload["themes"] if t["id"] == "zorg")
    (row,) = zorg["comparison"]
    # speakers' own shares: P01 30/30 = 1, P02 0/10 = 0 (noord, mean 0.5); P03 20/20 = 1 (zuid).
    # The 3 splits of {1, 0 | 1} give |0.5 - 1| = 0.5, |1 - 0| = 1, |0.5 - 1| = 0.5: all reach
    # the observed 0.5, p = 3/3. Cliff's delta: (1 vs 1) tie, (0 vs 1) lower: (0 - 1) / 2
    assert (row["mean_share_a"], row["mean_share_b"]) == (0.5, 1.0)
    assert row["p_value"] == 1.0 and row["cliffs_delta"] == -0.5
    # the figures' numbers are computed here too (rendering is the write step's job); the
    # co-occurrence matrix counts every settled segment, the facilitator's n-0001 (A alone)
    # included: n-0001, n-0002, z-0001
    assert result.cooccurrence.loc["zorg", "zorg"] == 3 and result.labels == {
        "zorg": "Zorg", "geld": "Geld",
    }  # fmt: skip

    # the same inputs under report.coding_basis: union count what either coder applied:
    # zorg noord n-0002 + n-0003 = 40 s of 40 -> 1.0, 7 words, 2 speakers; geld zuid 20 / 20
    union = compute_themes(inputs, study(report={"coding_basis": "union"})).table
    union = union.set_index(["theme", "group"])
    assert union.loc[("zorg", "noord")].tolist() == [2, 2, 40.0, 7, 1.0, "time", 1]
    assert union.loc[("geld", "zuid")].tolist() == [1, 1, 20.0, 3, 1.0, "time", 1]


def test_writing_validates_every_table_before_anything_is_written(tmp_path):
    from dataclasses import replace

    from pipeline.core.errors import CdaError

    result = compute_themes(small_inputs(), study())
    folder = tmp_path / "reports" / "round-1"
    write_themes(result, folder)
    written = {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert set(written) == {
        "themes.csv", "framing.csv", "grammar.csv", "themes.json", "theme-timeline.png",
        "theme-cooccurrence.png",
    }  # fmt: skip
    # a framing row that breaks the FRAMING contract: refused, and the themes.csv written
    # first in order keeps its old bytes although the new table differs
    bad_framing = pd.DataFrame(
        [{c: 0 for c in result.framing.columns} | {
            "theme": "zorg", "group_a": "noord", "group_b": "zuid", "kind": "phrase",
            "item": "x"}]
    )  # fmt: skip
    changed = result.table.assign(unresolved=result.table["unresolved"] + 1)
    with pytest.raises(CdaError, match=r"framing\.csv: column 'kind' must be one of"):
        write_themes(replace(result, table=changed, framing=bad_framing), folder)
    assert {p.name: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == written


def monte_carlo_inputs() -> tuple[ThemeInputs, pd.DataFrame]:
    """Two groups of 12 speakers: C(24, 12) = 2,704,156 relabellings, more than the 20,000
    a permutation test enumerates, so its p-values are sampled (9,999 draws)."""
    rows, coded, found = [], [], []
    for group, base in (("noord", 10.0), ("zuid", 6.0)):
        t = 0.0
        for i in range(12):
            on, off = f"{group[0]}-{2 * i + 1:04d}", f"{group[0]}-{2 * i + 2:04d}"
            length = base + i  # each speaker's own share of talk on zorg differs
            rows.append((group, group, on, t, t + length, f"{group}{i:02d}", "participant",
                         "Wij vinden de zorg duur."))  # fmt: skip
            rows.append((group, group, off, t + length, t + length + 20, f"{group}{i:02d}",
                         "participant", "Het weer is mooi."))  # fmt: skip
            t += length + 20
            coded.append((on, "A", "zorg"))
            if (i % 2 == 0) if group == "noord" else (i % 3 == 0):
                found.append((on, "ingroup", "wij", "wij"))
    segments = segment_frame(rows)
    markers = pd.DataFrame(found, columns=["segment_id", "category", "marker", "lemma"])
    inputs = ThemeInputs(
        round_no=1, book=SMALL_BOOK, codebook="codebooks/proef/round-1.yaml",
        codebook_sha256="0" * 64, segments=segments, tokens=word_tokens(segments),
        markers=markers, codings=judged(coded),
    )  # fmt: skip
    return inputs, segments


def p_values(result) -> list[float]:
    zorg = next(t for t in result.payload["themes"] if t["id"] == "zorg")
    return [r["p_value"] for r in zorg["comparison"]] + result.framing["p_value"].tolist()


def test_report_seed_not_topics_random_state_seeds_the_p_values():
    import math

    inputs, _ = monte_carlo_inputs()
    assert math.comb(24, 12) > 20000  # sampled, not exact
    default = p_values(compute_themes(inputs, study()))
    assert len(default) == 2  # the group comparison of zorg and the ingroup marker contrast
    # sampled: (1 + hits) / (9,999 + 1), not a fraction of enumerated relabellings
    assert all(0 < p < 1 and round(p * 10000, 6) % 1 == 0 for p in default)
    reseeded_topics = study(topics={"random_state": 7})
    assert p_values(compute_themes(inputs, reseeded_topics)) == default
    other_seed = p_values(compute_themes(inputs, study(report={"seed": 1})))
    assert all(a != b for a, b in zip(other_seed, default, strict=True))
    assert other_seed == pytest.approx(default, abs=0.02)  # another sample of the same test
    assert p_values(compute_themes(inputs, study(report={"seed": 0}))) == default


def test_report_seed_is_a_documented_non_negative_setting(tmp_path):
    from pipeline.core.config import ReportConfig, load_config
    from pipeline.core.errors import CdaError
    from pipeline.core.paths import Workspace

    field = ReportConfig.model_fields["seed"]
    assert field.default == 0 and "permutation" in field.description
    ws = Workspace.at(tmp_path)
    ws.config_file.write_text("study: s\ngroups: [a]\nreport:\n  seed: -1\n", encoding="utf-8")
    with pytest.raises(CdaError, match="seed"):
        load_config(ws)
