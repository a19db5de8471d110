"""``make bench-report``: report generation time for 5,000 segments and 20 codes.

A throwaway workspace gets 5,000 segments of real Dutch (the ParlaMint debate in ``../shared``,
else the bundled sample) in two groups of twelve speakers, parsed by the nlp stage, fast topics
(PCA + k-means), a codebook of 4 themes with 4 sub-codes each, and two coders' codings (seeded,
0-2 codes per segment) with their agreement. Only ``cda report`` is timed. Target (issue 8):
under 30 s. ``BENCH_SEGMENTS`` changes the size.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from benchmarks.nlp import bench_segments
from pipeline.agreement import run_agreement
from pipeline.cli.init import init_workspace
from pipeline.core.config import load_config
from pipeline.core.io import frame_of, write_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import CODINGS, SEGMENTS
from pipeline.nlp import run_nlp
from pipeline.report import run_report
from pipeline.topics import run_topics

STUDY = "bench-report"


def codebook() -> dict:
    codes = []
    for t in range(4):
        codes.append({"id": f"thema-{t}", "label": f"Thema {t}", "description": "Hoofdthema.",
                      "research_questions": [f"rq{t % 3 + 1}"]})  # fmt: skip
        codes += [
            {
                "id": f"code-{t}-{c}",
                "label": f"Code {t}.{c}",
                "description": "Subcode.",
                "parent": f"thema-{t}",
            }
            for c in range(4)
        ]
    questions = [{"id": f"rq{i}", "text": f"Onderzoeksvraag {i}"} for i in (1, 2, 3)]
    return {"study": STUDY, "round": 1, "research_questions": questions, "codes": codes}


def workspace(root: Path, n: int) -> Workspace:
    ws = Workspace.at(root)
    init_workspace(ws, study=STUDY, groups=["burgers", "deskundigen"])
    with ws.config_file.open("a", encoding="utf-8") as handle:
        handle.write("topics:\n  reducer: pca\n  clusterer: kmeans\n")
    write_table(bench_segments(n), SEGMENTS, ws.segments)
    folder = ws.codebooks / STUDY
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "round-1.yaml").write_text(yaml.safe_dump(codebook(), sort_keys=False))
    return ws


def codings(ws: Workspace, seed: int = 0) -> None:
    seeded_codings(ws, [c["id"] for c in codebook()["codes"]], seed=seed)


def seeded_codings(ws: Workspace, ids: list[str], *, seed: int = 0) -> None:
    """Two coders' round-1 codes, seeded: 0-2 codes a segment, the same codes 80 % of the time
    (the agreement the benchmarks and the report's equivalence test work with)."""
    rng = random.Random(seed)
    segments = pd.read_parquet(ws.segments)["segment_id"]
    rows = []
    for task, segment in enumerate(segments):
        base = rng.sample(ids, rng.randint(0, 2))
        for coder in ("A", "B"):
            codes = base if rng.random() < 0.8 else rng.sample(ids, rng.randint(0, 2))
            for code in codes or [None]:
                rows.append({"segment_id": segment, "coder": coder, "code": code,
                             "task_id": task, "status": "coded" if code else "empty",
                             "in_codebook": True})  # fmt: skip
    write_table(frame_of(rows, CODINGS, origin="labelstudio"), CODINGS, ws.codings(1))


def main() -> None:
    n = int(os.environ.get("BENCH_SEGMENTS", "5000"))
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        ws = workspace(Path(tmp) / "ws", n)
        config = load_config(ws)
        print(f"preparing {n} segments: nlp, topics, codings, agreement …")
        run_nlp(ws, config)
        run_topics(ws, config, round_no=1)
        codings(ws)
        run_agreement(ws, config, 1)
        start = time.perf_counter()
        report = run_report(ws, config, round_no=1)
        seconds = time.perf_counter() - start
        size = report.path.stat().st_size / 1e6
    verdict = "ok" if seconds < 30 else "MISSED"
    print(f"report for {n} segments and 20 codes: {seconds:.1f} s "
          f"(target < 30 s: {verdict}); index.html {size:.1f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
