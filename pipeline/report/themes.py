"""Theme prevalence for reports: how much, by how many people, and whether groups differ.

A theme is a codebook code; a segment carries it when the human codes count it under the
round's stated coding basis (:mod:`pipeline.codings.basis`, ``report.coding_basis``), or, before any
human coding, when a machine suggestion proposed it: the basis is always stated. A child code
counts for its parent theme too. Only participant turns count: the facilitator's questions are
not a group's view.

Per theme and group the report gives segments, **breadth** (distinct speakers), the speaking
time and words they hold, and the share of the group's participant time, or of its words
when a transcript has no times (the report then says it compares on words). Groups are
compared on speakers, not segments: each speaker's share of their own talk on the theme is one
observation, so one talkative participant weighs as one person. The test is a permutation
test over speakers (:mod:`pipeline.report.stats`) with Cliff's delta as effect size; a theme nobody
raised has no comparison ("n/a"), not "p = 1".

These are the measures, plain functions of tables; the section that uses them is built in three
steps (read, compute, write) in :mod:`pipeline.report.section`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from pipeline.codebook import Codebook
from pipeline.codings.basis import Basis, parse_basis, rollup, settle
from pipeline.codings.machine import human_rows
from pipeline.core.citation import cite
from pipeline.core.config import StudyConfig
from pipeline.core.io import read_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import CODINGS, SUGGESTIONS, THEMES
from pipeline.language.corpus import words_per_segment
from pipeline.language.examples import centrality, pick, tfidf_rows
from pipeline.report.framing import theme_segments
from pipeline.report.stats import cliffs_delta, permutation_test

MACHINE = "machine suggestions"
HUMAN = "human codings"
PAIR = ["segment_id", "code"]


@dataclass(frozen=True)
class Assignments:
    """Which segment carries which theme, and on what basis (human or machine)."""

    table: pd.DataFrame  # segment_id, code (parent themes included)
    basis: str  # HUMAN or MACHINE
    rule: str | None = None  # the coding basis of human codes, e.g. "settled"
    rule_text: str = ""
    unresolved: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PAIR))
    single_coded: frozenset[str] = frozenset()  # segments only one coder has coded
    coders: tuple[str, ...] = ()


def from_codings(codings: pd.DataFrame, book: Codebook, basis: Basis | None = None) -> Assignments:
    """Human codes that count under ``basis`` (default: settled), parent themes added."""
    settled = settle(codings, basis or Basis("settled"), book=book)
    return Assignments(
        settled.table,
        HUMAN,
        rule=settled.basis.name,
        rule_text=settled.basis.describe(),
        unresolved=settled.unresolved,
        single_coded=settled.single_coded,
        coders=settled.coders,
    )


def from_suggestions(suggestions: pd.DataFrame, book: Codebook) -> Assignments:
    use = suggestions[suggestions["code"].isin(book.ids)][PAIR]
    return Assignments(rollup(use, book).drop_duplicates().reset_index(drop=True), MACHINE)


def participant_segments(
    segments: pd.DataFrame,
    tokens: pd.DataFrame | None = None,
    *,
    words: pd.Series | None = None,
) -> pd.DataFrame:
    """Participant turns with ``seconds`` (empty when untimed) and, given tokens, ``words``.

    ``words``: :func:`~pipeline.language.corpus.words_per_segment` of ``tokens`` when the
    caller has counted them already (the report counts once, not once per table).
    """
    seg = segments[segments["role"] != "facilitator"]
    seg = seg.assign(seconds=(seg["end"] - seg["start"]).clip(lower=0))
    if tokens is not None:
        counts = words if words is not None else words_per_segment(tokens)
        seg = seg.assign(words=seg["segment_id"].map(counts).fillna(0))
    return seg


def measure(segments: pd.DataFrame) -> str:
    """``seconds`` when every participant turn has times, else ``words``.

    One measure for the whole report: shares of time and shares of words are not comparable,
    and a transcript without times would otherwise count as zero seconds of talk.
    """
    seg = segments[segments["role"] != "facilitator"]
    timed = len(seg) and seg["start"].notna().all() and seg["end"].notna().all()
    return "seconds" if timed else "words"


SHARE_OF = {"seconds": "time", "words": "words"}


def prevalence(
    segments: pd.DataFrame,
    assigned: pd.DataFrame,
    book: Codebook,
    *,
    tokens: pd.DataFrame,
    unresolved: pd.DataFrame | None = None,
    words: pd.Series | None = None,
) -> pd.DataFrame:
    """themes.csv: per theme and group, segments, speakers, seconds, words and share.

    ``words``: the tokens' words per segment, if counted already (:func:`participant_segments`).
    """
    unit = measure(segments)
    seg = participant_segments(segments, tokens, words=words)
    totals = seg.groupby("group")[unit].sum()
    merged = assigned.merge(seg, on="segment_id")
    open_ = (
        unresolved.merge(seg[["segment_id", "group"]], on="segment_id")
        if unresolved is not None
        else pd.DataFrame(columns=[*PAIR, "group"])
    )
    rows = []
    for code in book.ids:
        for group in sorted(seg["group"].unique()):
            part = merged[(merged["code"] == code) & (merged["group"] == group)]
            total = float(totals.get(group, 0.0))
            held = float(part[unit].sum())
            rows.append(
                {
                    "theme": code,
                    "group": group,
                    "segments": len(part),
                    "speakers": part["speaker"].nunique(),
                    "seconds": round(float(part["seconds"].sum()), 3)
                    if unit == "seconds"
                    else float("nan"),
                    "words": int(part["words"].sum()),
                    "share": held / total if total else float("nan"),
                    "share_of": SHARE_OF[unit],
                    "unresolved": int(
                        open_.loc[
                            (open_["code"] == code) & (open_["group"] == group), "segment_id"
                        ].nunique()
                    ),
                }
            )
    return pd.DataFrame(rows, columns=THEMES.names)


def speaker_shares(
    segments: pd.DataFrame, assigned: pd.DataFrame, code: str, *, tokens: pd.DataFrame
) -> pd.DataFrame:
    """Per participant: segments on ``code`` and the share of their own talk spent on it.

    A participant with no time (or no words) at all has no share: empty, and left out of the
    group comparison, rather than a 0 that would count as "never talked about it".
    """
    return shares_on(participant_segments(segments, tokens), assigned, code, measure(segments))


def shares_on(seg: pd.DataFrame, assigned: pd.DataFrame, code: str, unit: str) -> pd.DataFrame:
    """:func:`speaker_shares` of participant segments already prepared
    (:func:`participant_segments`) in the report's ``unit``, for callers that reuse them."""
    on_theme = seg["segment_id"].isin(set(assigned.loc[assigned["code"] == code, "segment_id"]))
    amount = seg[unit].astype(float).fillna(0.0)
    seg = seg.assign(on=amount.where(on_theme, 0.0), hits=on_theme.astype(int), amount=amount)
    per = seg.groupby(["group", "speaker"])[["on", "amount", "hits"]].sum().reset_index()
    per["share"] = (per["on"] / per["amount"]).where(per["amount"] > 0)
    return per.rename(columns={"hits": "segments"})[["group", "speaker", "segments", "share"]]


COMPARISON = [
    "theme", "group_a", "group_b", "speakers_a", "speakers_b", "mean_share_a", "mean_share_b",
    "p_value", "cliffs_delta",
]  # fmt: skip


def compare_groups(
    segments: pd.DataFrame,
    assigned: pd.DataFrame,
    book: Codebook,
    *,
    tokens: pd.DataFrame,
    seed: int = 0,
    words: pd.Series | None = None,
) -> pd.DataFrame:
    """Each theme, each pair of groups: mean speaker share, permutation p, Cliff's delta.

    Only speakers with talk of their own are observations. A pair of groups in which neither
    raised the theme has nothing to compare: its p and delta are empty (shown "n/a"), never
    the p = 1 that all-zero shares would give. One group: no rows.
    """
    seg, unit = participant_segments(segments, tokens, words=words), measure(segments)
    groups = sorted(seg["group"].unique())
    rows = []
    for code in book.ids:
        shares = shares_on(seg, assigned, code, unit).dropna(subset=["share"])
        for g1, g2 in itertools.combinations(groups, 2):
            a = shares.loc[shares["group"] == g1, "share"].to_numpy()
            b = shares.loc[shares["group"] == g2, "share"].to_numpy()
            raised = bool(shares.loc[shares["group"].isin([g1, g2]), "segments"].sum())
            rows.append(
                {
                    "theme": code,
                    "group_a": g1,
                    "group_b": g2,
                    "speakers_a": len(a),
                    "speakers_b": len(b),
                    "mean_share_a": float(a.mean()) if len(a) else float("nan"),
                    "mean_share_b": float(b.mean()) if len(b) else float("nan"),
                    "p_value": permutation_test(a, b, seed=seed) if raised else float("nan"),
                    "cliffs_delta": cliffs_delta(a, b) if raised else float("nan"),
                }
            )
    return pd.DataFrame(rows, columns=COMPARISON)


def absent_themes(
    table: pd.DataFrame, book: Codebook, *, thin_segments: int = 3, thin_speakers: int = 2
) -> tuple[list[dict], list[dict]]:
    """Themes nobody raised, or too few (segments or speakers) to speak of a shared view; and
    research questions none of whose codes came up."""
    totals = table.groupby("theme").agg(segments=("segments", "sum"), speakers=("speakers", "sum"))
    themes = []
    for code in book.codes:
        segments = int(totals.loc[code.id, "segments"]) if code.id in totals.index else 0
        speakers = int(totals.loc[code.id, "speakers"]) if code.id in totals.index else 0
        if segments == 0:
            themes.append({"theme": code.id, "label": code.label, "status": "absent",
                           "segments": 0, "speakers": 0})  # fmt: skip
        elif segments < thin_segments or speakers < thin_speakers:
            themes.append({"theme": code.id, "label": code.label, "status": "thin",
                           "segments": segments, "speakers": speakers})  # fmt: skip
    present = {c for c in totals.index if totals.loc[c, "segments"] > 0}
    questions = []
    for question in book.research_questions:
        codes = [c.id for c in book.codes if question.id in c.research_questions]
        if not any(c in present for c in codes):
            questions.append({"id": question.id, "text": question.text, "codes": codes})
    return themes, questions


def representatives(
    segments: pd.DataFrame,
    assigned: pd.DataFrame,
    code: str,
    *,
    content: pd.DataFrame,
    quotes: bool,
    n: int = 3,
) -> list[dict]:
    """Up to ``n`` participant segments of the theme, by the shared rule of
    :func:`pipeline.language.examples.pick`: most central first, spread over groups and speakers.

    Centrality is the cosine similarity of a segment's content-lemma TF-IDF vector to the
    theme's centroid, both computed over the theme's participant segments only (see
    :func:`theme_centrality`), so it says how typical the segment's words are of the theme.
    ``content``: the content tokens (``segment_id``, ``lemma``), e.g. ``Talk.content``.
    """
    members = theme_segments(assigned, code)
    seg = participant_segments(segments)
    seg = seg[seg["segment_id"].isin(members)]
    scores = theme_centrality(content, seg["segment_id"].tolist())
    seg = seg.assign(score=seg["segment_id"].map(scores))
    by_id = seg.set_index("segment_id", drop=False)
    picked = pick(seg, n=n)
    return [
        {**cite(by_id.loc[sid], quotes=quotes), "centrality": _rounded(by_id.at[sid, "score"])}
        for sid in picked
    ]


def theme_centrality(content: pd.DataFrame, segment_ids: list[str]) -> pd.Series:
    """Centrality of each segment among ``segment_ids`` (a theme's participant segments).

    ``content`` holds content tokens (:func:`pipeline.language.corpus.content_mask`: no stop words,
    fillers or transcriber notes), counted per segment; TF-IDF as scikit-learn computes it by
    default, over these segments only: tf = count, idf = ln((1 + n) / (1 + df)) + 1, each row
    scaled to unit length; the score is the cosine of a row with the mean of the rows
    (:func:`~.examples.centrality`). A segment without content words scores NaN and is
    shown last.
    """
    if not segment_ids:
        return pd.Series(dtype=float)
    position = pd.Index(segment_ids).get_indexer(content["segment_id"])
    mine = position >= 0
    if not mine.any():
        return pd.Series(np.nan, index=segment_ids)
    lemmas = content["lemma"].to_numpy(dtype=object)[mine]
    matrix = tfidf_rows(position[mine], lemmas, len(segment_ids))
    return pd.Series(centrality(matrix, np.zeros(len(segment_ids), dtype=int)), index=segment_ids)


def _rounded(value: float) -> float | None:
    return None if pd.isna(value) else round(float(value), 4)


def coder_sources(codings: pd.DataFrame) -> list[dict]:
    """Who coded and where (Label Studio or an imported QDA project), for the provenance:
    the human coders, whose codes the themes count (a machine coder's are not among them)."""
    coded = human_rows(codings)
    coded = coded[coded["status"] == "coded"]
    return [
        {"coder": coder, "origin": origin, "segments": int(rows["segment_id"].nunique())}
        for (coder, origin), rows in coded.groupby(["coder", "origin"], sort=True)
    ]


# which codes count, from which source -------------------------------------------------------


def human_coded(codings: pd.DataFrame | None) -> bool:
    """Whether a pull or an import brought any human judgement (codes, or a deliberate none):
    from then on the report counts human codes, before that machine suggestions. A machine
    coder's rows (``llm:<model>``) are no human judgement."""
    if codings is None:
        return False
    return bool(human_rows(codings)["status"].isin(["coded", "empty"]).any())


def assignments(
    codings: pd.DataFrame | None,
    suggestions: pd.DataFrame | None,
    book: Codebook,
    basis: Basis,
) -> Assignments | None:
    """Human codes that count under ``basis`` once there are any; before that, machine
    suggestions (labelled as such); None when there is neither."""
    if human_coded(codings):
        return from_codings(codings, book, basis)
    if suggestions is not None:
        return from_suggestions(suggestions, book)
    return None


def read_codings(ws: Workspace, round_no: int) -> pd.DataFrame | None:
    """The round's codings.parquet, validated; None before any pull or import."""
    path = ws.codings(round_no)
    return read_table(path, CODINGS) if path.is_file() else None


def read_suggestions(ws: Workspace, round_no: int) -> pd.DataFrame | None:
    """The round's suggestions.parquet, validated; None before `cda suggest`."""
    path = ws.suggestions(round_no)
    return read_table(path, SUGGESTIONS) if path.is_file() else None


def load_assignments(
    ws: Workspace, config: StudyConfig, round_no: int, book: Codebook
) -> tuple[Assignments | None, pd.DataFrame | None]:
    """:func:`assignments` from the round's files, and its codings (for notebooks: the report
    itself reads its inputs once, in :func:`pipeline.report.section.read_themes`)."""
    codings = read_codings(ws, round_no)
    suggestions = None if human_coded(codings) else read_suggestions(ws, round_no)
    basis = parse_basis(config.report.coding_basis)
    return assignments(codings, suggestions, book, basis), codings


def only_participants(assigned: Assignments, segments: pd.DataFrame) -> Assignments:
    """The open questions that matter to the report: facilitator turns never count, so their
    disagreements are not "unresolved" themes either."""
    ids = set(participant_segments(segments)["segment_id"])
    return replace(
        assigned,
        unresolved=assigned.unresolved[assigned.unresolved["segment_id"].isin(ids)],
        single_coded=assigned.single_coded & ids,
    )
