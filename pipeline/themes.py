"""Theme prevalence for reports: how much, by how many people, and whether groups differ.

A theme is a codebook code; a segment carries it when coders applied it (or, before any human
coding, when a machine suggestion proposed it: the basis is always stated). A child code counts
for its parent theme too. Only participant turns count: the facilitator's questions are not a
group's view.

Per theme and group the report gives segments, seconds, **breadth** (distinct speakers) and the
share of the group's participant speaking time. Groups are compared on speakers, not segments:
each speaker's share of their own speaking time on the theme is one observation, so one
talkative participant weighs as one person. The test is a permutation test over speakers
(exact when the relabellings are few), with Cliff's delta as effect size.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from pipeline import theme_figures as figs
from pipeline.citation import cite
from pipeline.codebook import Codebook, diff, load_round, round_path
from pipeline.config import ADJUDICATION, StudyConfig
from pipeline.corpus import content_mask
from pipeline.examples import centrality, pick
from pipeline.framing import actors, first_mentions, key_lemmas, marker_rates, theme_segments
from pipeline.io import read_table, write_text
from pipeline.paths import Workspace
from pipeline.schemas import AGREEMENT, CODINGS, SUGGESTIONS

MACHINE = "machine suggestions"
HUMAN = "human codings"


@dataclass(frozen=True)
class Assignments:
    """Which segment carries which theme, and on what basis (human or machine)."""

    table: pd.DataFrame  # segment_id, code
    basis: str


def settled_codes(codings: pd.DataFrame) -> pd.DataFrame:
    """Coded rows that count: the adjudication's where it settled a segment, else any coder's."""
    coded = codings[codings["status"] == "coded"]
    adjudicated = set(coded.loc[coded["coder"] == ADJUDICATION, "segment_id"])
    return coded[(coded["coder"] == ADJUDICATION) | ~coded["segment_id"].isin(adjudicated)]


def from_codings(codings: pd.DataFrame, book: Codebook) -> Assignments:
    """Human codes (settled, in the codebook), with parent themes added."""
    use = settled_codes(codings)
    return Assignments(rollup(use.loc[use["in_codebook"], ["segment_id", "code"]], book), HUMAN)


def from_suggestions(suggestions: pd.DataFrame, book: Codebook) -> Assignments:
    use = suggestions[suggestions["code"].isin(book.ids)][["segment_id", "code"]]
    return Assignments(rollup(use, book), MACHINE)


def rollup(pairs: pd.DataFrame, book: Codebook) -> pd.DataFrame:
    """Add every ancestor theme of each code, once per segment."""
    rows = set()
    for segment, code in pairs.itertuples(index=False):
        current = book.code(code)
        while current is not None:
            rows.add((segment, current.id))
            current = book.code(current.parent) if current.parent else None
    return pd.DataFrame(sorted(rows), columns=["segment_id", "code"])


def participant_segments(segments: pd.DataFrame) -> pd.DataFrame:
    seg = segments[segments["role"] != "facilitator"]
    return seg.assign(seconds=(seg["end"] - seg["start"]).clip(lower=0).fillna(0.0))


def prevalence(segments: pd.DataFrame, assigned: pd.DataFrame, book: Codebook) -> pd.DataFrame:
    """themes.csv: theme, group, segments, seconds, speakers, share (of participant time)."""
    seg = participant_segments(segments)
    totals = seg.groupby("group")["seconds"].sum()
    merged = assigned.merge(seg, on="segment_id")
    rows = []
    for code in book.ids:
        for group in sorted(seg["group"].unique()):
            part = merged[(merged["code"] == code) & (merged["group"] == group)]
            seconds = float(part["seconds"].sum())
            total = float(totals.get(group, 0.0))
            rows.append(
                {
                    "theme": code,
                    "group": group,
                    "segments": len(part),
                    "seconds": round(seconds, 3),
                    "speakers": part["speaker"].nunique(),
                    "share": seconds / total if total else float("nan"),
                }
            )
    return pd.DataFrame(
        rows, columns=["theme", "group", "segments", "seconds", "speakers", "share"]
    )


def speaker_shares(segments: pd.DataFrame, assigned: pd.DataFrame, code: str) -> pd.DataFrame:
    """Per participant: the share of their own speaking time spent on ``code`` (0 if never)."""
    seg = participant_segments(segments)
    on_theme = set(assigned.loc[assigned["code"] == code, "segment_id"])
    seg = seg.assign(on=seg["segment_id"].isin(on_theme) * seg["seconds"])
    per = seg.groupby(["group", "speaker"])[["on", "seconds"]].sum().reset_index()
    per["share"] = (per["on"] / per["seconds"]).where(per["seconds"] > 0, 0.0)
    return per[["group", "speaker", "share"]]


def cliffs_delta(a: np.ndarray, b: np.ndarray) -> float:
    """P(a > b) − P(a < b) over all pairs: −1..1, 0 when the groups overlap completely."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if not len(a) or not len(b):
        return float("nan")
    diff = a[:, None] - b[None, :]
    return float(((diff > 0).sum() - (diff < 0).sum()) / diff.size)


def permutation_test(
    a: np.ndarray, b: np.ndarray, *, rounds: int = 9999, seed: int = 0, exact_limit: int = 20000
) -> float:
    """Two-sided p-value for the difference in means, relabelling speakers between groups.

    Exact over all relabellings when there are at most ``exact_limit`` of them; otherwise
    ``rounds`` random ones, with the observed labelling counted (p never 0).
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    pooled = np.concatenate([a, b])
    n, k = len(pooled), len(a)
    if not k or k == n:
        return float("nan")
    observed = abs(a.mean() - b.mean())
    total = pooled.sum()
    tolerance = 1e-12
    if math.comb(n, k) <= exact_limit:
        hits = count = 0
        for chosen in itertools.combinations(range(n), k):
            s = pooled[list(chosen)].sum()
            diff = abs(s / k - (total - s) / (n - k))
            hits += diff >= observed - tolerance
            count += 1
        return hits / count
    rng = np.random.default_rng(seed)
    hits = 1
    for _ in range(rounds):
        s = pooled[rng.permutation(n)[:k]].sum()
        hits += abs(s / k - (total - s) / (n - k)) >= observed - tolerance
    return hits / (rounds + 1)


def compare_groups(
    segments: pd.DataFrame, assigned: pd.DataFrame, book: Codebook, *, seed: int = 0
) -> pd.DataFrame:
    """Each theme, each pair of groups: mean speaker share, permutation p, Cliff's delta."""
    groups = sorted(participant_segments(segments)["group"].unique())
    rows = []
    for code in book.ids:
        shares = speaker_shares(segments, assigned, code)
        for g1, g2 in itertools.combinations(groups, 2):
            a = shares.loc[shares["group"] == g1, "share"].to_numpy()
            b = shares.loc[shares["group"] == g2, "share"].to_numpy()
            rows.append(
                {
                    "theme": code,
                    "group_a": g1,
                    "group_b": g2,
                    "speakers_a": len(a),
                    "speakers_b": len(b),
                    "mean_share_a": float(a.mean()) if len(a) else float("nan"),
                    "mean_share_b": float(b.mean()) if len(b) else float("nan"),
                    "p_value": permutation_test(a, b, seed=seed),
                    "cliffs_delta": cliffs_delta(a, b),
                }
            )
    return pd.DataFrame(rows)


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
    tokens: pd.DataFrame,
    quotes: bool,
    n: int = 3,
) -> list[dict]:
    """Up to ``n`` participant segments of the theme, by the shared rule of
    :func:`pipeline.examples.pick`: most central first, spread over groups and speakers.

    Centrality is the cosine similarity of a segment's content-lemma TF-IDF vector to the
    theme's centroid, both computed over the theme's participant segments only (see
    :func:`theme_centrality`), so it says how typical the segment's words are of the theme.
    """
    members = theme_segments(assigned, code)
    seg = participant_segments(segments)
    seg = seg[seg["segment_id"].isin(members)]
    scores = theme_centrality(tokens, seg["segment_id"].tolist())
    seg = seg.assign(score=seg["segment_id"].map(scores))
    by_id = seg.set_index("segment_id", drop=False)
    picked = pick(seg, n=n)
    return [
        {**cite(by_id.loc[sid], quotes=quotes), "centrality": _rounded(by_id.at[sid, "score"])}
        for sid in picked
    ]


def theme_centrality(tokens: pd.DataFrame, segment_ids: list[str]) -> pd.Series:
    """Centrality of each segment among ``segment_ids`` (a theme's participant segments).

    Content lemmas (:func:`pipeline.corpus.content_mask`) counted per segment; TF-IDF as
    scikit-learn computes it by default, over these segments only: tf = count,
    idf = ln((1 + n) / (1 + df)) + 1, each row scaled to unit length; the score is the cosine
    of a row with the mean of the rows (:func:`pipeline.examples.centrality`). A segment
    without content words scores NaN and is shown last.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not segment_ids:
        return pd.Series(dtype=float)
    mine = tokens[tokens["segment_id"].isin(segment_ids)]
    content = mine[content_mask(mine)]
    lemmas: dict[str, list[str]] = {}
    for sid, lemma in zip(content["segment_id"].tolist(), content["lemma"].tolist(), strict=True):
        lemmas.setdefault(sid, []).append(lemma)
    docs = [lemmas.get(sid, []) for sid in segment_ids]
    if not any(docs):
        return pd.Series(np.nan, index=segment_ids)
    matrix = TfidfVectorizer(analyzer=lambda words: words).fit_transform(docs)
    return pd.Series(centrality(matrix, np.zeros(len(docs), dtype=int)), index=segment_ids)


def _rounded(value: float) -> float | None:
    return None if pd.isna(value) else round(float(value), 4)


def coder_sources(codings: pd.DataFrame) -> list[dict]:
    """Who coded and where (Label Studio or an imported QDA project), for the provenance."""
    coded = codings[codings["status"] == "coded"]
    return [
        {"coder": coder, "origin": origin, "segments": int(rows["segment_id"].nunique())}
        for (coder, origin), rows in coded.groupby(["coder", "origin"], sort=True)
    ]


def theme_report(
    ws: Workspace,
    config: StudyConfig,
    round_no: int,
    segments: pd.DataFrame,
    tokens: pd.DataFrame,
    markers: pd.DataFrame | None = None,
) -> dict | None:
    """The report's theme section; writes ``themes.csv`` and ``themes.json`` beside it.

    Human codes are used once a pull brought any; before that, machine suggestions, labelled as
    such. Without a codebook for the round there is no theme section (None).
    """
    if not round_path(ws, config, round_no).is_file():
        return None
    loaded = load_round(ws, config, round_no)
    book = loaded.book
    codings = read_table(ws.codings(round_no), CODINGS) if ws.codings(round_no).is_file() else None
    if codings is not None and (codings["status"] == "coded").any():
        assigned = from_codings(codings, book)
    elif ws.suggestions(round_no).is_file():
        assigned = from_suggestions(read_table(ws.suggestions(round_no), SUGGESTIONS), book)
    else:
        return None
    table = prevalence(segments, assigned.table, book)
    comparison = compare_groups(segments, assigned.table, book, seed=config.topics.random_state)
    absent, uncovered = absent_themes(
        table, book,
        thin_segments=config.report.thin_segments, thin_speakers=config.report.thin_speakers,
    )  # fmt: skip
    agreement = (
        read_table(ws.agreement(round_no), AGREEMENT).set_index("code")
        if ws.agreement(round_no).is_file() and assigned.basis == HUMAN
        else None
    )
    themes = []
    participants = participant_segments(segments)
    for code in book.codes:
        rows = table[table["theme"] == code.id]
        members = theme_segments(assigned.table, code.id)
        themes.append(
            {
                "id": code.id,
                "label": code.label,
                "parent": code.parent,
                "description": code.description.strip(),
                "research_questions": code.research_questions,
                "per_group": rows.drop(columns="theme").to_dict("records"),
                "comparison": comparison[comparison["theme"] == code.id]
                .drop(columns="theme")
                .to_dict("records"),
                "alpha": _agreement(agreement, code.id),
                "key_lemmas": key_lemmas(tokens, participants, members),
                "markers": marker_rates(tokens, markers, participants, members)
                if markers is not None
                else [],
                "actors": actors(markers, members) if markers is not None else [],
                "first_mentions": first_mentions(segments, members),
                "representatives": representatives(
                    segments, assigned.table, code.id, tokens=tokens, quotes=config.report.quotes
                ),
            }
        )
    folder = ws.report_dir(round_no)
    write_text(folder / "themes.csv", table.to_csv(index=False), only_if_changed=True)
    previous = round_path(ws, config, round_no - 1) if round_no > 1 else None
    changes = (
        [asdict(c) for c in diff(load_round(ws, config, round_no - 1).book, book)]
        if previous is not None and previous.is_file()
        else None
    )
    payload = {
        "study": config.study,
        "round": round_no,
        "basis": assigned.basis,
        "coders": coder_sources(codings) if assigned.basis == HUMAN else [],
        "codebook": ws.display(loaded.path),
        "codebook_sha256": loaded.sha256,
        "codebook_changes": changes,
        "themes": themes,
        "absent_or_thin": absent,
        "uncovered_research_questions": uncovered,
    }
    write_text(
        folder / "themes.json",
        json.dumps(_finite(payload), indent=2, ensure_ascii=False) + "\n",
        only_if_changed=True,
    )
    groups = sorted(table["group"].unique())
    labels = {c.id: c.label for c in book.codes}
    figures = folder / "figures"
    return {
        **payload,
        "groups": groups,
        "figures": {
            "timeline": figs.embed(
                figures / "theme-timeline.png",
                figs.timeline_png(
                    figs.timeline(participants, assigned.table, book.ids), labels, groups
                ),
            ),
            "cooccurrence": figs.embed(
                figures / "theme-cooccurrence.png",
                figs.cooccurrence_png(figs.cooccurrence(assigned.table, book.ids), labels),
            ),
        },
    }


def _agreement(agreement: pd.DataFrame | None, code: str) -> dict | None:
    if agreement is None or code not in agreement.index:
        return None
    row = agreement.loc[code]
    alpha = None if pd.isna(row["alpha"]) else float(row["alpha"])
    return {"alpha": alpha, "units": int(row["units"])}


def _finite(value):
    """JSON has no NaN: undefined statistics become null."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return None if np.isnan(value) else float(value)
    return value
