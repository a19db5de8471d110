"""Overlapping speech per speaker and per group in the report, on a case worked out by hand."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from helpers import word_tokens

from pipeline.core.schemas import SEGMENTS
from pipeline.core.timing import overlaps
from pipeline.report import overlap_tables, recordings_table, render, speakers_table

# recording, group, id, speaker, role, start, end
ROWS = [
    ("r1", "g1", "r1-0001", "A", "participant", 0.0, 10.0),
    ("r1", "g1", "r1-0002", "B", "participant", 8.0, 12.0),  # over A by 10 - 8 = 2.0
    ("r1", "g1", "r1-0003", "A", "participant", 11.0, 14.0),  # over B: 12 - 11 = 1.0
    ("r1", "g1", "r1-0004", "F", "facilitator", 14.0, 20.0),  # starts as A ends: 0
    ("r1", "g1", "r1-0005", "B", "participant", 19.5, 21.0),  # over F: 20 - 19.5 = 0.5
    ("r3", "g1", "r3-0001", "A", "participant", None, None),  # untimed: unknown
    ("r2", "g2", "r2-0001", "C", "participant", None, None),  # a transcript without times
    ("r2", "g2", "r2-0002", "D", "participant", None, None),
]


def table(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(
        [
            {"recording_id": r, "group": g, "segment_id": sid, "start": start, "end": end,
             "speaker": spk, "role": role, "text": "Ja.", "source": "test"}
            for r, g, sid, spk, role, start, end in rows
        ]
    )  # fmt: skip
    # the overlap column exactly as the import computes it, per recording in turn order
    frame["overlap"] = float("nan")
    for _, part in frame.groupby("recording_id", sort=False):
        values = overlaps(zip(part["start"], part["end"], strict=True))
        frame.loc[part.index, "overlap"] = [float("nan") if v is None else v for v in values]
    return frame[list(SEGMENTS.names)]


def test_the_import_measure_gives_the_hand_values() -> None:
    assert table(ROWS)["overlap"].tolist()[:5] == [0.0, 2.0, 1.0, 0.0, 0.5]


def test_overlap_per_speaker_and_group_by_hand() -> None:
    result = overlap_tables(table(ROWS))
    assert result is not None
    speakers = {s["speaker"]: s for s in result["speakers"]}
    # A: turns r1-0001 (0 s), r1-0003 (1.0 s), r3-0001 (unknown): 2 of 3 known, 1 overlapping,
    # 1.0 s over 10 + 3 = 13 s of known speaking time
    a = speakers["A"]
    assert (a["turns"], a["overlap_known"], a["overlapping_turns"]) == (3, 2, 1)
    assert a["overlap_seconds"] == 1.0 and a["overlap_share"] == pytest.approx(1 / 13)
    # B: 2.0 + 0.5 = 2.5 s over 4 + 1.5 = 5.5 s, both turns overlapping
    b = speakers["B"]
    assert (b["turns"], b["overlap_known"], b["overlapping_turns"]) == (2, 2, 2)
    assert b["overlap_seconds"] == 2.5 and b["overlap_share"] == pytest.approx(2.5 / 5.5)
    # F: timed and never over anyone: a real zero
    f = speakers["F"]
    assert (f["overlapping_turns"], f["overlap_seconds"], f["overlap_share"]) == (0, 0.0, 0.0)
    # C and D: nothing known, so no zero either
    for name in ("C", "D"):
        c = speakers[name]
        assert (c["overlap_known"], c["overlapping_turns"], c["overlap_seconds"]) == (0, None, None)
        assert c["overlap_share"] is None
    groups = {g["group"]: g for g in result["groups"]}
    # g1: 6 turns, 5 known, 3 overlapping, 1 + 2 + 0.5 = 3.5 s over 10+4+3+6+1.5 = 24.5 s = 1/7;
    # 2 of its 3 speakers (A, B) start over someone
    g1 = groups["g1"]
    assert (g1["turns"], g1["overlap_known"], g1["overlapping_turns"]) == (6, 5, 3)
    assert g1["overlap_seconds"] == 3.5 and g1["overlap_share"] == pytest.approx(1 / 7)
    assert (g1["speakers_overlapping"], g1["speakers"]) == (2, 3)
    g2 = groups["g2"]
    assert (g2["overlap_known"], g2["overlapping_turns"], g2["overlap_seconds"]) == (0, None, None)
    assert (g2["speakers_overlapping"], g2["speakers"]) == (None, 2)


def page(segments: pd.DataFrame) -> str:
    """The report's HTML for these segments (no topics, no themes)."""
    tokens = word_tokens(segments)
    return render(
        {
            "study": "s", "round": 1, "quotes": False, "groups": sorted(segments["group"].unique()),
            "recordings": recordings_table(segments, tokens),
            "speakers": speakers_table(segments, tokens), "share_of": "words",
            "overlap": overlap_tables(segments), "topics": [], "themes": None, "max_topic": 1,
            "min_tokens": 4, "replacements": {}, "undiarised": [],
            "provenance": {"pipeline_version": "0", "commit": "abc", "generated": "now",
                           "nlp": {}, "settings": "{}", "config_sha256": "x", "inputs": []},
        }
    )  # fmt: skip


def _section(html: str) -> str:
    return html.split('id="overlap"')[1].split("</section>")[0]


def test_the_report_shows_the_overlap_table_and_dashes_where_unknown() -> None:
    html = page(table(ROWS))
    section = _section(html)
    rows = {
        tuple(re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S))[1]: re.findall(
            r"<td[^>]*>(.*?)</td>", row, flags=re.S
        )
        for row in re.findall(r"<tr>(.*?)</tr>", section, flags=re.S)[1:]
    }
    assert rows["B"][3:] == ["2 (2)", "2", "2.5", "45.5%"]
    assert rows["C"][3:] == ["1 (0)", "–", "–", "–"]
    assert rows["all (2 of 3 overlapping)"][3:] == ["6 (5)", "3", "3.5", "14.3%"]
    assert rows["all (– of 2 overlapping)"][3:] == ["2 (0)", "–", "–", "–"]
    assert "No transcript has overlap information" not in html


def test_no_overlap_information_is_said_not_shown_as_zeros() -> None:
    untimed = table([r for r in ROWS if r[0] in ("r2", "r3")])
    assert overlap_tables(untimed) is None
    html = page(untimed)
    section = _section(html)
    assert "No transcript has overlap information" in section
    assert "<table>" not in section
