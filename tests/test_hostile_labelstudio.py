"""Hostile input and faults around Label Studio (issue 17, case 13).

13. Turns are ordered by the turn number in their segment id, not by the id as text: ids are
    zero-padded to four digits, so as text ``rec-10000`` sorts before ``rec-9999`` (and before
    ``rec-2000``). A recording of more than 9,999 turns is a long debate or a day of sessions;
    its task context, first mentions, timeline, subtitles and REFI-QDA transcript must follow
    the order the turns were spoken in.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from pipeline.cli.init import init_workspace
from pipeline.codings.refi import transcript
from pipeline.core.config import load_config
from pipeline.core.paths import Workspace
from pipeline.core.transcript import Turn, to_tables
from pipeline.export import subtitles
from pipeline.importers.qdpx import locate
from pipeline.labelstudio.tasks import task_data
from pipeline.report.figures import timeline
from pipeline.report.framing import first_mentions

REPO = Path(__file__).resolve().parents[1]
CDA = Path(sys.executable).with_name("cda")
LONG = 10_003  # turns: past 9,999, where the zero padding of the ids runs out


def long_recording(n: int = LONG, *, timed: bool = True, recording: str = "debat-2021"):
    """One recording of ``n`` turns through the importers' own conversion (ids, overlap).

    Turn i (1-based) says "beurt i klaar." and is spoken by P01 (odd i) or P02 (even i); timed,
    it starts at i seconds and lasts half a second. The recording id ends in digits itself,
    so only the last part of a segment id is its turn number.
    """
    turns = [
        Turn(
            speaker="P01" if i % 2 else "P02",
            text=f"beurt {i} klaar.",
            start=float(i) if timed else None,
            end=i + 0.5 if timed else None,
            line=str(i),
        )
        for i in range(1, n + 1)
    ]
    segments, _ = to_tables(turns, recording_id=recording, group="kamer", source="test")
    return segments.assign(role="participant")


def sid(i: int) -> str:
    return f"debat-2021-{i:04d}"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace.at(tmp_path / "ws")
    init_workspace(workspace, study="hostile-ls", groups=["kamer"])
    return workspace


# 13: turn order past 9,999 turns ----------------------------------------------------------------


def test_task_context_past_turn_9999_is_the_turns_spoken_before_and_after(ws: Workspace) -> None:
    config = load_config(ws)
    assert config.labelstudio.context_turns == 2  # the default, used in the hand values below
    segments = long_recording()
    # shuffled, as rows may come from a concatenation or a parquet read in any order
    tasks = task_data(segments.sample(frac=1, random_state=7), config)

    by_id = {t["segment_id"]: t for t in tasks}
    # turns 9998 (even: P02) and 9999 (odd: P01) before, 10001 and 10002 after
    assert by_id[sid(10000)]["before"] == "P02: beurt 9998 klaar.\nP01: beurt 9999 klaar."
    assert by_id[sid(10000)]["after"] == "P01: beurt 10001 klaar.\nP02: beurt 10002 klaar."
    assert by_id[sid(9999)]["after"] == "P02: beurt 10000 klaar.\nP01: beurt 10001 klaar."
    assert by_id[sid(LONG)]["after"] == "(end of the recording)"
    # and the tasks go to Label Studio in that order, so coders meet them as spoken
    assert [t["segment_id"] for t in tasks] == [sid(i) for i in range(1, LONG + 1)]


def test_first_mention_is_the_earliest_turn_not_the_smallest_id() -> None:
    segments = long_recording()
    # turn 2000 comes first; as text "debat-2021-10000" < "debat-2021-2000"
    (row,) = first_mentions(segments, {sid(10000), sid(2000)})
    assert (row["segment_id"], row["speaker"], row["time"]) == (sid(2000), "P02", "0:33:20")


def test_untimed_timeline_puts_turn_10000_in_the_last_tenth() -> None:
    segments = long_recording(timed=False)
    assigned = pd.DataFrame({"segment_id": [sid(10000), sid(1000)], "code": ["x", "y"]})
    counts = timeline(segments, assigned, ["x", "y"]).set_index("code")["bin"]
    # turn n of N falls in tenth floor(10 (n - 1) / N): 10 * 9999 / 10003 = 9.996 -> 9,
    # 10 * 999 / 10003 = 0.9987 -> 0
    assert counts.to_dict() == {"x": 9, "y": 0}


def test_subtitles_keep_spoken_order_when_two_turns_start_together() -> None:
    segments = long_recording(10_000)
    # turn 10000 starts with turn 9999 (speech over speech): time cannot order them, turns can
    last = segments.index[-1]
    segments.loc[last, ["start", "end"]] = [9999.0, 9999.8]
    srt = subtitles(segments, "srt").rstrip("\n").split("\n\n")
    assert srt[9998] == "9999\n02:46:39,000 --> 02:46:39,500\nP01: beurt 9999 klaar."
    assert srt[9999] == "10000\n02:46:39,000 --> 02:46:39,800\nP02: beurt 10000 klaar."


def test_refi_transcript_of_an_untimed_recording_follows_the_turns() -> None:
    segments = long_recording(timed=False)
    text, where = transcript(segments)
    lines = text.splitlines()
    assert len(lines) == LONG
    assert lines[9998:10001] == [
        "P01: beurt 9999 klaar.", "P02: beurt 10000 klaar.", "P01: beurt 10001 klaar."
    ]  # fmt: skip
    assert text[slice(*where[sid(10000)])] == "beurt 10000 klaar."


def test_qdpx_import_finds_every_turn_of_an_untimed_recording_in_its_source() -> None:
    segments = long_recording(timed=False)
    # a QDA tool's source holds the turns in spoken order; each is searched after the last
    source = "".join(f"Spreker: beurt {i} klaar.\n" for i in range(1, LONG + 1))
    placed = locate(source, segments)
    assert [p.segment_id for p in placed] == [sid(i) for i in range(1, LONG + 1)]
    assert source[placed[9999].start : placed[9999].end] == "beurt 10000 klaar."
