"""``make bench-qdpx``: REFI-QDA export and import time for 5,000 segments and two coders.

The workspace is the report benchmark's (5,000 ParlaMint segments, 20 codes, two coders'
seeded codings); spans are added to a tenth of the codings so both kinds of selection travel.
``cda export qdpx`` is timed, then ``cda import qdpx`` of that archive into an empty round,
and the round trip is checked: the imported codings must equal the exported ones.
``BENCH_SEGMENTS`` changes the size.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pandas as pd

from benchmarks.report import codings, workspace
from pipeline.core.config import load_config
from pipeline.core.io import read_table, write_table
from pipeline.core.schemas import CODINGS, SEGMENTS
from pipeline.export.qdpx import write_qdpx
from pipeline.importers.qdpx import import_qdpx

KEY = ["segment_id", "coder", "code", "span_start", "span_end"]


def with_spans(ws) -> pd.DataFrame:
    """Every tenth coding becomes a span over the first word of its segment."""
    table = read_table(ws.codings(1), CODINGS)
    text = read_table(ws.segments, SEGMENTS).set_index("segment_id")["text"]
    pick = table["code"].notna() & (table.index % 10 == 0)
    first = table.loc[pick, "segment_id"].map(lambda s: text[s].split(" ")[0])
    table.loc[pick, "span_start"] = 0
    table.loc[pick, "span_end"] = first.str.len()
    table.loc[pick, "span_text"] = first
    write_table(table, CODINGS, ws.codings(1))
    return table


def main() -> None:
    n = int(os.environ.get("BENCH_SEGMENTS", "5000"))
    with tempfile.TemporaryDirectory() as tmp:
        ws = workspace(Path(tmp) / "ws", n)
        config = load_config(ws)
        codings(ws)
        table = with_spans(ws)
        coded = table[table["code"].notna()]
        start = time.perf_counter()
        archive = write_qdpx(ws, config, 1)
        exported = time.perf_counter() - start
        ws.codings(1).unlink()
        start = time.perf_counter()
        import_qdpx(ws, config, archive, 1)
        imported = time.perf_counter() - start
        back = read_table(ws.codings(1), CODINGS)
        same = sorted(map(str, back[KEY].values)) == sorted(map(str, coded[KEY].values))
        size = archive.stat().st_size / 1e6
    print(f"{n} segments, {len(coded)} codings by 2 coders ({size:.1f} MB archive):")
    print(f"  export qdpx {exported:.1f} s, import qdpx {imported:.1f} s; "
          f"round trip {'identical' if same else 'DIFFERS'}")  # fmt: skip


if __name__ == "__main__":
    main()
