"""Hostile input and faults around Label Studio (issue 17, cases 13 and 17).

13. Turns are ordered by the turn number in their segment id, not by the id as text: ids are
    zero-padded to four digits, so as text ``rec-10000`` sorts before ``rec-9999`` (and before
    ``rec-2000``). A recording of more than 9,999 turns is a long debate or a day of sessions;
    its task context, first mentions, timeline, subtitles and REFI-QDA transcript must follow
    the order the turns were spoken in.
17. A pull killed with kill -9 leaves its export snapshot on the server (a full copy of the
    project); the next pull deletes it, and nothing a person or a running pull made.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest

from pipeline.cli.init import init_workspace
from pipeline.codings.refi import transcript
from pipeline.core.config import load_config
from pipeline.core.io import read_table, write_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import CODINGS, SEGMENTS
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


# 17: snapshots left on the server by a killed pull -------------------------------------------

CODEBOOK = """\
study: {study}
round: 1
codes:
  - id: china-dystopie
    label: China als dystopie
    description: China als voorbeeld van digitale controle.
  - id: vertrouwen-overheid
    label: Vertrouwen in de overheid
    description: Vertrouwen of wantrouwen in de digitale overheid.
"""

# a pull that is killed (SIGKILL, no finally, no atexit) the moment its first snapshot is ready
KILLED_PULL = """
import os, signal, sys
from label_studio_sdk.projects.exports.client import ExportsClient

def killed(self, *args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

ExportsClient.download = killed
sys.argv = ["cda", "ls", "pull", "--workspace", sys.argv[1]]
from pipeline.cli import main
main()
"""


def _coded_workspace(root: Path, server) -> tuple[Workspace, int]:
    """Four turns pushed to coder A's project, three of them coded as below."""
    from pipeline import labelstudio as ls

    ws = Workspace.at(root)
    study = f"t-{uuid.uuid4().hex[:8]}"  # own project title on the shared server
    init_workspace(ws, study=study, groups=["kamer"])
    with ws.config_file.open("a", encoding="utf-8") as handle:
        handle.write("labelstudio: " + json.dumps({"rounds": {1: ["A"]}}) + "\n")
    segments = long_recording(4, recording="debat")
    write_table(segments, SEGMENTS, ws.segments)
    folder = ws.codebooks / study
    folder.mkdir(parents=True)
    (folder / "round-1.yaml").write_text(CODEBOOK.format(study=study), encoding="utf-8")
    (result,) = ls.push(ws, load_config(ws), 1)
    codes = {
        "debat-0001": ["china-dystopie"],
        "debat-0002": ["china-dystopie", "vertrouwen-overheid"],
        "debat-0004": [],  # looked at, nothing applies
    }
    for task in server.client.tasks.list(project=result.project_id):
        wanted = codes.get(task.data["segment_id"])
        if wanted is None:
            continue
        value = {"taxonomy": [[c] for c in wanted]}
        result_ = [{"from_name": "codes", "to_name": "text", "type": "taxonomy", "value": value}]
        server.client.annotations.create(id=task.id, result=result_ if wanted else [])
    return ws, result.project_id


def _snapshot_titles(server, project_id: int) -> list[str]:
    return sorted(s.title for s in server.client.projects.exports.list(id=project_id))


def test_the_next_pull_deletes_the_snapshot_a_killed_pull_left_and_only_that(
    tmp_path: Path, ls_env
) -> None:
    ws, project = _coded_workspace(tmp_path / "ws", ls_env)
    exports = ls_env.client.projects.exports
    assert _snapshot_titles(ls_env, project) == []  # the push cleaned up after itself
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    killed = subprocess.run(
        [sys.executable, "-c", KILLED_PULL, str(ws.root)], env=env, capture_output=True, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = _snapshot_titles(ls_env, project)
    assert len(left) == 1 and left[0].startswith("cda export"), left  # the fault, reproduced
    assert not ws.codings(1).exists()

    # snapshots that are not the killed pull's: a person's, one of a pull still running on
    # this host (this process is alive), one of a pull on another host; all three stay
    host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
    other_host = "0" * 8 if host != "0" * 8 else "1" * 8
    keep = sorted(
        ["backup before round 2", f"cda export · {host} · {os.getpid()}",
         f"cda export · {other_host} · 1"]
    )  # fmt: skip
    made = [exports.create(id=project, title=title).id for title in keep]
    try:
        pulled = subprocess.run(
            [str(CDA), "ls", "pull", "--workspace", str(ws.root)],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert pulled.returncode == 0, pulled.stderr
        assert _snapshot_titles(ls_env, project) == keep
    finally:
        for export_pk in made:
            exports.delete(id=project, export_pk=export_pk)

    codings = read_table(ws.codings(1), CODINGS)
    rows = codings[["segment_id", "code", "status"]].astype(object).where(codings.notna(), None)
    assert rows.values.tolist() == [
        ["debat-0001", "china-dystopie", "coded"],
        ["debat-0002", "china-dystopie", "coded"],
        ["debat-0002", "vertrouwen-overheid", "coded"],
        ["debat-0004", None, "empty"],
    ]
    assert set(codings["coder"]) == {"A"}


def test_a_failed_delete_is_retried_by_the_next_pull(tmp_path: Path, ls_env) -> None:
    """A snapshot of this very process (its delete failed, say) is swept: nothing else of
    this process exports while a pull starts."""
    from pipeline import labelstudio as ls

    ws, project = _coded_workspace(tmp_path / "ws", ls_env)
    host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
    ls_env.client.projects.exports.create(id=project, title=f"cda export · {host} · {os.getpid()}")
    ls_env.client.projects.exports.create(id=project, title="cda export")  # an older version's
    assert len(_snapshot_titles(ls_env, project)) == 2

    result = ls.pull(ws, load_config(ws), 1)

    assert _snapshot_titles(ls_env, project) == []
    assert result.written and len(result.table) == 4


@pytest.mark.parametrize("content", ["99999999999999999999", "-1", "1", "not a pid", "own pid"])
def test_a_damaged_or_foreign_pid_file_names_no_server(tmp_path: Path, content: str) -> None:
    """A huge number raised OverflowError; this test's own pid (alive, not Label Studio) was
    taken for the server, so `cda labelstudio stop` would have signalled its process group."""
    from pipeline.labelstudio.server import _pid_file, running_pid

    ws = Workspace.at(tmp_path / "ws")
    _pid_file(ws).parent.mkdir(parents=True, exist_ok=True)
    own = str(os.getpid())  # at run time: collection happens in each xdist worker
    _pid_file(ws).write_text(own if content == "own pid" else content, encoding="utf-8")
    assert running_pid(ws) is None
