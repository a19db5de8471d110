"""``cda import qdpx``: codings made in another QDA tool back into a round's ``codings.parquet``.

A REFI-QDA project from ATLAS.ti, NVivo, MAXQDA, QualCoder (or our own ``cda export qdpx``) is
read for its text sources, codes, users, coded selections and notes. Each text source is
matched to a recording by finding the recording's segment texts in it, in order (whitespace
may differ), so a transcript laid out differently by another tool still lines up. A selection
then codes every segment it overlaps: the whole segment where it covers all of its text, a
span (offsets in the segment's text) where it covers part.

Nothing is guessed silently: selections outside any segment, sources that match no recording
and codes the codebook lacks are reported, and the archive itself is never modified.
"""

from __future__ import annotations

import bisect
import functools
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.codebook import Codebook, load_round
from pipeline.codings import refi
from pipeline.codings.machine import is_machine_coder
from pipeline.codings.order import label_studio_coders, sort_codings
from pipeline.core.config import StudyConfig
from pipeline.core.errors import CdaError
from pipeline.core.io import frame_of, read_table, validate, write_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import CODINGS, SEGMENTS
from pipeline.core.transcript import in_turn_order
from pipeline.importers.qde import Archive, Selection, read_archive

log = logging.getLogger(__name__)

MIN_MATCHED = 0.5  # share of a recording's segments a source must contain to be its transcript
# A selection codes every segment it overlaps, and its memos go on each: a small archive could
# ask for billions of rows. The benchmark's 10,000 codings are far below these.
MAX_CODINGS = 500_000
MAX_CODED_TEXT = 20_000_000  # characters of memos and span texts in the rows


# matching sources to segments -------------------------------------------------------------------


@functools.cache
def _is_space() -> np.ndarray:
    """For each code point, whether str.isspace() accepts it (a lookup table, 1.1 MB)."""
    table = np.zeros(sys.maxunicode + 1, dtype=bool)
    table[[c for c in range(sys.maxunicode + 1) if chr(c).isspace()]] = True
    return table


class Squeezed:
    """Text with every run of whitespace as one space, and where each character came from.

    Done on arrays of code points, not character by character: a source can be millions of
    characters (a Python loop took seconds, and a list of positions 36 bytes a character).
    """

    def __init__(self, text: str):
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        space = _is_space()[codes]
        first = space.copy()
        first[1:] &= ~space[:-1]  # a run's first character stands for the run
        keep = ~space | first
        squeezed = np.where(space[keep], np.uint32(32), codes[keep]).astype("<u4")
        self.text = squeezed.tobytes().decode("utf-32-le", "surrogatepass")
        self.origin = np.flatnonzero(keep)
        self.length = len(text)

    def to_original(self, i: int) -> int:
        return int(self.origin[i]) if i < len(self.origin) else self.length

    def from_original(self, pos: int) -> int:
        """The squeezed index of an original position (the first character at or after it)."""
        return int(np.searchsorted(self.origin, pos, side="left"))


@dataclass
class Placed:
    segment_id: str
    text: str
    start: int  # in the source's text
    end: int


def locate(text: str, segments: pd.DataFrame, *, hay: Squeezed | None = None) -> list[Placed]:
    """Where each segment's text sits in ``text`` (``hay``: it squeezed, when the caller has
    it), found in time order; unfound ones are left out (a source may hold part of a
    recording, or a tool may have edited a turn)."""
    hay = hay or Squeezed(text)
    placed, cursor = [], 0
    ordered = in_turn_order(segments, first=("start",))
    for row in ordered.itertuples():
        needle = Squeezed(row.text).text.strip()
        found = hay.text.find(needle, cursor) if needle else -1
        if found < 0:
            continue
        start = hay.to_original(found)
        end = hay.to_original(found + len(needle) - 1) + 1
        placed.append(Placed(row.segment_id, row.text, start, end))
        cursor = found + len(needle)
    return placed


def segment_offset(text: str, piece: str, pos: int) -> int:
    """The offset in a segment's ``text`` of position ``pos`` in ``piece`` (the same text as it
    appears in a source, perhaps with other whitespace)."""
    if piece == text:
        return pos
    squeezed_piece, squeezed_text = Squeezed(piece), Squeezed(text)
    lead = len(squeezed_text.text) - len(squeezed_text.text.lstrip())
    return squeezed_text.to_original(squeezed_piece.from_original(pos) + lead)


def match_sources(archive: Archive, segments: pd.DataFrame) -> tuple[dict[str, list], list[str]]:
    """Each text source's recording (by name when it is a recording id, else by content)."""
    matched, unmatched = {}, []
    by_recording = dict(list(segments.groupby("recording_id", sort=True)))
    for name, text in archive.texts.items():
        candidates = [name] if name in by_recording else list(by_recording)
        hay = Squeezed(text)  # once per source, not per recording tried
        tries = ((locate(text, by_recording[r], hay=hay), r) for r in candidates)
        placed, recording = max(tries, default=([], None), key=lambda t: len(t[0]))
        count = len(placed)
        if recording is None or count < MIN_MATCHED * len(by_recording[recording]):
            unmatched.append(name)
            continue
        matched[name] = placed
    return matched, unmatched


# selections to codings --------------------------------------------------------------------------


@dataclass
class Imported:
    table: pd.DataFrame
    unmatched_selections: list[str]
    unmatched_sources: list[str]
    skipped_sources: list[str]
    unknown_codes: dict[str, int]


def codings(archive: Archive, segments: pd.DataFrame, book: Codebook, *, coder: str | None):
    """The archive's codings as ``codings.v2`` rows (origin ``qdpx:<archive name>``)."""
    matched, unmatched_sources = match_sources(archive, segments)
    code_ids = _code_ids(archive, book)
    rows, lost, volume = [], [], 0
    ends = {name: [p.end for p in placed] for name, placed in matched.items()}
    for sel in archive.selections:
        placed = matched.get(sel.source)
        if placed is None:
            continue
        hits = _overlapping(placed, ends[sel.source], sel.start, sel.end)
        if not hits:
            text = archive.texts[sel.source][sel.start : sel.end]
            lost.append(f"{sel.source} {sel.start}-{sel.end} {text[:40]!r}")
            continue
        for p in hits:
            piece = archive.texts[sel.source][p.start : p.end]
            s = segment_offset(p.text, piece, max(sel.start, p.start) - p.start)
            e = segment_offset(p.text, piece, min(sel.end, p.end) - p.start)
            whole = not p.text[:s].strip() and not p.text[e:].strip()
            span = {} if whole else {"span_start": s, "span_end": e, "span_text": p.text[s:e]}
            for code_guid, user, stamp in sel.codes:
                author = _coder(archive, coder, user or sel.user, sel)
                rows.append({"segment_id": p.segment_id, "coder": author,
                             "code": code_ids[code_guid], "updated_at": stamp or sel.stamp,
                             **span})  # fmt: skip
            for memo, user in sel.notes:
                author = _coder(archive, coder, user or sel.user, sel)
                rows.append({"segment_id": p.segment_id, "coder": author, "memo": memo})
            volume += len(span.get("span_text", "")) * len(sel.codes)
            volume += sum(len(memo) for memo, _ in sel.notes)
            _check_volume(archive, len(rows), volume)
    table = _rows_to_table(rows, book, f"qdpx:{archive.path.name}")
    # each coded row carries its segment's memos: count them as they will be written
    written = sum(len(t) for column in ("memo", "span_text") for t in table[column].dropna())
    _check_volume(archive, len(table), written)
    unknown = table[~table["in_codebook"]]["code"].value_counts().to_dict()
    return Imported(table, lost, unmatched_sources, archive.skipped_sources, unknown)


def _check_volume(archive: Archive, rows: int, chars: int) -> None:
    if rows > MAX_CODINGS:
        raise CdaError(
            f"{archive.path}: its selections give more than {MAX_CODINGS:,} codings (a selection "
            "codes every segment it overlaps), over the limit",
            hint="a real project gives far fewer: check that the archive is the one you meant",
        )
    if chars > MAX_CODED_TEXT:
        raise CdaError(
            f"{archive.path}: its memos and coded spans come to more than {MAX_CODED_TEXT:,} "
            "characters in codings.parquet (a memo is repeated on every segment and code its "
            "selection covers), over the limit",
            hint="shorten the long memos in the QDA tool, or put them on smaller selections",
        )


def _overlapping(placed: list[Placed], ends: list[int], start: int, end: int) -> list[Placed]:
    """The placed segments that overlap [start, end); ``placed`` is in text order, so a
    binary search finds the first (a long transcript has thousands of segments)."""
    hits = []
    for p in placed[bisect.bisect_right(ends, start) :]:
        if p.start >= end:
            break
        hits.append(p)
    return hits


def _code_ids(archive: Archive, book: Codebook) -> dict[str, str]:
    """Code GUID -> code id: our own GUIDs, else a label or id equal to the code's name (case
    and surrounding space aside), else the name itself (reported as not in the codebook)."""
    ours = {refi.code_guid(book.study, c.id): c.id for c in book.codes}
    by_name = {}
    for code in book.codes:
        by_name.setdefault(code.label.strip().casefold(), code.id)
        by_name.setdefault(code.id.casefold(), code.id)
    return {
        guid: ours.get(guid) or by_name.get(name.strip().casefold()) or name.strip()
        for guid, name in archive.codes.items()
    }


def _coder(archive: Archive, override: str | None, user: str | None, sel: Selection) -> str:
    if override:
        return override
    user = user or archive.project_user
    if user:
        return archive.users.get(user.strip("{}").upper(), user)
    raise CdaError(
        f"{archive.path}: selection {sel.guid} in '{sel.source}' names no user, so its coder "
        "is unknown",
        hint="name the coder: cda import qdpx FILE --coder NAME",
    )


def _rows_to_table(rows: list[dict], book: Codebook, origin: str) -> pd.DataFrame:
    """Memos join the codings of their coder and segment (as in a Label Studio annotation);
    a memo without codes becomes an ``empty`` row."""
    if not rows:
        return CODINGS.empty()
    frame = pd.DataFrame(rows)
    for column in ("code", "memo", "span_start", "span_end", "span_text", "updated_at"):
        if column not in frame:
            frame[column] = None
    memos = (
        frame[frame["memo"].notna()]
        .groupby(["segment_id", "coder"], sort=False)["memo"]
        .agg(lambda m: "\n".join(dict.fromkeys(m)))
    )
    coded = frame[frame["code"].notna()].drop(columns="memo")
    coded = coded.drop_duplicates(["segment_id", "coder", "code", "span_start", "span_end"])
    memo_of = memos.to_dict()
    keys = list(zip(coded["segment_id"], coded["coder"], strict=True))
    coded = coded.assign(memo=[memo_of.get(k) for k in keys], status="coded")
    lone = [{"segment_id": s, "coder": c, "memo": m, "status": "empty"}
            for (s, c), m in memo_of.items() if (s, c) not in set(keys)]  # fmt: skip
    parts = [f for f in (coded, pd.DataFrame(lone)) if len(f)]
    table = pd.concat(parts, ignore_index=True)
    table = frame_of(table, CODINGS, origin=origin)
    table["in_codebook"] = table["code"].isna() | table["code"].isin(set(book.ids))
    return validate(table, CODINGS, where=f"the codings of {origin}")


# merging into the round -------------------------------------------------------------------------


@dataclass
class ImportResult:
    imported: Imported
    path: Path
    replaced: int
    written: bool


def import_qdpx(
    ws: Workspace,
    config: StudyConfig,
    archive_path: Path,
    round_no: int,
    *,
    coder: str | None = None,
    force: bool = False,
) -> ImportResult:
    """Read ``archive_path`` and put its codings into round ``round_no``'s ``codings.parquet``.

    The archive's coders replace their own earlier imports. A coder who has a Label Studio
    project in this round is refused, since the next pull would overwrite the imported rows:
    name the archive's coder with ``--coder``.
    """
    loaded = load_round(ws, config, round_no)
    segments = read_table(ws.segments, SEGMENTS)
    imported = codings(read_archive(archive_path), segments, loaded.book, coder=coder)
    table = imported.table
    if table.empty:
        raise CdaError(
            f"{archive_path}: no coding lines up with a segment of {ws.display(ws.segments)}",
            hint=_why_empty(imported),
        )
    path = ws.codings(round_no)
    previous = read_table(path, CODINGS) if path.is_file() else CODINGS.empty()
    coders = set(table["coder"])
    machines = sorted(c for c in coders if is_machine_coder(c))
    if machines:
        raise CdaError(
            f"{archive_path}: coder(s) {', '.join(machines)} are named as machine coders "
            "(llm:<model>), whose codes only `cda code --llm` writes",
            hint="nothing was imported; import a person's codes under their own name "
            "(--coder NAME), or leave the machine coder's codings out of the archive",
        )
    ls_coders = label_studio_coders(ws, round_no)
    ls_coders |= set(previous[previous["origin"] == "labelstudio"]["coder"])
    clash = sorted(coders & ls_coders)
    if clash:
        raise CdaError(
            f"{archive_path}: coder(s) {', '.join(clash)} code round {round_no} in Label Studio; "
            "their codings there would overwrite these at the next pull",
            hint="import them under another name: --coder NAME (one coder per archive)",
        )
    replaced = previous[previous["coder"].isin(coders)]
    kept = previous[~previous["coder"].isin(coders)]
    merged = validate(pd.concat([f for f in (kept, table) if len(f)]), CODINGS, where=str(path))
    merged = sort_codings(merged)
    frozen = loaded.book.state == "closed" and path.is_file() and not force
    if frozen and not merged.equals(previous):
        raise CdaError(
            f"round {round_no} is closed; importing would change its frozen codings",
            hint="codings.parquet is unchanged; pass --force to import anyway",
        )
    written = write_table(merged, CODINGS, path, only_if_changed=True)
    _warn(imported)
    return ImportResult(imported, path, len(replaced), written)


def _warn(got: Imported) -> None:
    """Say what was left out, so nothing is dropped without the analyst knowing."""
    for name in got.unmatched_sources:
        log.warning("text source '%s' matches no recording of this workspace: not imported", name)
    for name in got.skipped_sources:
        log.warning("source %s: codings on it cannot be placed on a transcript, skipped", name)
    if got.unmatched_selections:
        more = " …" if len(got.unmatched_selections) > 5 else ""
        log.warning(
            "%d coded selection(s) lie outside every segment's text (on a speaker label, say) "
            "and were not imported: %s%s", len(got.unmatched_selections),
            "; ".join(got.unmatched_selections[:5]), more,
        )  # fmt: skip
    if got.unknown_codes:
        log.warning(
            "codes not in the round's codebook, kept: %s",
            ", ".join(f"{c} ({n}×)" for c, n in got.unknown_codes.items()),
        )


def _why_empty(imported: Imported) -> str:
    if imported.unmatched_sources:
        return (
            f"no text source matched a recording ({', '.join(imported.unmatched_sources)}): "
            "import the transcripts the codings were made on first"
        )
    if imported.unmatched_selections:
        return "the coded selections lie outside every segment's text"
    return "the archive has no coded text selections"
