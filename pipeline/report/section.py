"""The report's theme section in three steps: read -> compute (pure) -> write.

:func:`read_themes` gathers every input into one frozen :class:`ThemeInputs`;
:func:`compute_themes` turns inputs and settings into a :class:`ThemeResult` of plain tables
and values, without touching a file, so a section can be computed (and tested) from frames
built in memory; :func:`theme_files` validates the tables against their schemas (``THEMES``,
``FRAMING``) and renders JSON and figures, and :func:`write_themes` (or the report's
``write_report``) writes them atomically, each only if changed. The measures themselves are in
:mod:`pipeline.report.themes` and :mod:`pipeline.report.framing`.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.codebook import Codebook, diff, load_round, round_path
from pipeline.codings.basis import parse_basis
from pipeline.codings.machine import is_machine_coder
from pipeline.core.config import StudyConfig
from pipeline.core.errors import CdaError
from pipeline.core.io import csv_text, read_table, write_bytes
from pipeline.core.paths import Workspace
from pipeline.core.schemas import AGREEMENT, AGREEMENT_PAIRS, FRAMING, GRAMMAR, THEMES
from pipeline.core.transcript import in_turn_order
from pipeline.language.corpus import words_per_segment
from pipeline.language.grammar import clauses
from pipeline.report import figures as figs
from pipeline.report.framing import (
    Talk,
    contrasts,
    first_mentions,
    group_actors,
    group_key_words,
    group_markers,
    key_lemmas,
    marker_rates,
    plain_strings,
    theme_segments,
)
from pipeline.report.grammar import grammar_note, grammar_rows
from pipeline.report.themes import (
    HUMAN,
    PAIR,
    Assignments,
    absent_themes,
    assignments,
    coder_sources,
    compare_groups,
    human_coded,
    measure,
    only_participants,
    participant_segments,
    prevalence,
    read_codings,
    read_suggestions,
    representatives,
    shares_on,
)


@dataclass(frozen=True, eq=False)
class ThemeInputs:
    """Everything the theme section is computed from, read once (:func:`read_themes`).

    The tables are as read and validated; :func:`compute_themes` only reads them, so a section
    can be computed from frames built in memory (a test, a notebook) without any file.
    """

    round_no: int
    book: Codebook
    codebook: str  # the codebook file as the report names it (relative to the workspace)
    codebook_sha256: str
    segments: pd.DataFrame
    tokens: pd.DataFrame
    markers: pd.DataFrame | None = None
    codings: pd.DataFrame | None = None
    suggestions: pd.DataFrame | None = None  # only read before any human codes
    agreement: pd.DataFrame | None = None  # only read once there are human codes
    pairs: pd.DataFrame | None = None  # agreement_pairs: machine coders are measured here
    previous: Codebook | None = None  # the round before's codebook, for what changed


def read_themes(
    ws: Workspace,
    config: StudyConfig,
    round_no: int,
    *,
    segments: pd.DataFrame,
    tokens: pd.DataFrame,
    markers: pd.DataFrame | None = None,
) -> ThemeInputs | None:
    """The round's codebook, its human codes or else its suggestions, agreement and the
    previous round's codebook, with the segments, tokens and markers (which the caller reads
    once for the whole report).

    None when there is no theme section: no codebook for the round, or neither human codes
    nor suggestions.
    """
    if not round_path(ws, config, round_no).is_file():
        return None
    loaded = load_round(ws, config, round_no)
    codings = read_codings(ws, round_no)
    human = human_coded(codings)
    suggestions = None if human else read_suggestions(ws, round_no)
    if not human and suggestions is None:
        return None
    agreed = ws.agreement(round_no)
    agreement = read_table(agreed, AGREEMENT) if human and agreed.is_file() else None
    paired = ws.agreement_pairs(round_no)
    pairs = read_table(paired, AGREEMENT_PAIRS) if human and paired.is_file() else None
    before = round_path(ws, config, round_no - 1) if round_no > 1 else None
    previous = (
        load_round(ws, config, round_no - 1).book
        if before is not None and before.is_file()
        else None
    )
    return ThemeInputs(
        round_no=round_no,
        book=loaded.book,
        codebook=ws.display(loaded.path),
        codebook_sha256=loaded.sha256,
        segments=segments,
        tokens=tokens,
        markers=markers,
        codings=codings,
        suggestions=suggestions,
        agreement=agreement,
        pairs=pairs,
        previous=previous,
    )


@dataclass(frozen=True, eq=False)
class ThemeResult:
    """The theme section, computed (:func:`compute_themes`) and not yet written anywhere."""

    table: pd.DataFrame  # themes.csv (THEMES)
    framing: pd.DataFrame  # framing.csv (FRAMING)
    grammar: pd.DataFrame  # grammar.csv (GRAMMAR)
    payload: dict  # themes.json, and what the HTML shows (NaN where undefined)
    timeline: pd.DataFrame  # the figures' numbers (pipeline.report.figures)
    cooccurrence: pd.DataFrame
    labels: dict[str, str]  # code id -> label, in codebook order
    groups: list[str]


def compute_themes(
    inputs: ThemeInputs, config: StudyConfig, *, words: pd.Series | None = None
) -> ThemeResult:
    """The theme section from its inputs and the study's settings: a pure function, no I/O.

    Every random step (the sampled permutation tests of comparisons and contrasts) is seeded
    by ``report.seed``, so a finding does not move when another stage is re-seeded.
    ``words``: words per segment of the inputs' tokens
    (:func:`~pipeline.language.corpus.words_per_segment`) if the caller counted them already;
    they are counted once either way.
    """
    settings = config.report
    book, segments, tokens = inputs.book, inputs.segments, inputs.tokens
    basis = parse_basis(settings.coding_basis)
    assigned = assignments(inputs.codings, inputs.suggestions, book, basis)
    if assigned is None:
        raise CdaError(
            f"round {inputs.round_no}: no human codes and no suggestions to report themes from",
            hint="run `cda suggest` or pull codings first",
        )
    assigned = only_participants(assigned, segments)
    figures = (segments, assigned.table)  # as read: the figures' tables keep their dtypes
    segments = plain_strings(segments, ("segment_id", "recording_id", "group", "speaker", "role"))
    assigned = replace(
        assigned,
        table=plain_strings(assigned.table, tuple(PAIR)),
        unresolved=plain_strings(assigned.unresolved, tuple(PAIR)),
    )
    words = words if words is not None else words_per_segment(tokens)
    table = prevalence(
        segments, assigned.table, book, tokens=tokens, unresolved=assigned.unresolved, words=words
    )
    comparison = compare_groups(
        segments, assigned.table, book, tokens=tokens, seed=settings.seed, words=words
    )
    absent, uncovered = absent_themes(
        table, book, thin_segments=settings.thin_segments, thin_speakers=settings.thin_speakers
    )
    human = assigned.basis == HUMAN
    agreement = (
        inputs.agreement.set_index("code") if human and inputs.agreement is not None else None
    )
    themes, framing_rows, grammar = [], [], []
    talk = Talk.of(
        participant_segments(segments, tokens, words=words), tokens, language=config.language
    )
    # the rules that write clauses.parquet, on the same tokens: recountable from that file
    findings, status = clauses(tokens, language=config.language)
    findings = plain_strings(findings, ("segment_id", "feature", "kind", "actor_kind"))
    found = (
        plain_strings(inputs.markers, ("segment_id", "category", "lemma"))
        if inputs.markers is not None
        else None
    )
    ordered = in_turn_order(segments, first=("recording_id",))  # once, for first mentions
    for code in book.codes:
        entry, rows = theme_entry(
            code, table, comparison, assigned, segments, talk, found,
            quotes=settings.quotes, seed=settings.seed, ordered=ordered,
        )  # fmt: skip
        entry["alpha"] = _agreement(agreement, code.id)
        members = theme_segments(assigned.table, code.id)
        entry["grammar"] = (
            grammar_rows(code.id, findings, talk.participants, members, status) if human else []
        )
        grammar.extend(entry["grammar"])
        themes.append(entry)
        framing_rows.extend(rows)
    changes = (
        [asdict(c) for c in diff(inputs.previous, book)] if inputs.previous is not None else None
    )
    groups = sorted(table["group"].unique())
    payload = {
        "study": config.study,
        "round": inputs.round_no,
        "basis": assigned.basis,
        "coding_basis": {
            "rule": assigned.rule,
            "description": assigned.rule_text,
            "coders": list(assigned.coders),
            "single_coded_segments": len(assigned.single_coded),
            "unresolved_segments": int(assigned.unresolved["segment_id"].nunique()),
        }
        if human
        else None,
        "coders": coder_sources(inputs.codings) if human else [],
        "machine_agreement": machine_agreement(inputs.pairs, book) if human else [],
        "groups": groups,
        "measure": measure(segments),
        "codebook": inputs.codebook,
        "codebook_sha256": inputs.codebook_sha256,
        "codebook_changes": changes,
        "themes": themes,
        "absent_or_thin": absent,
        "uncovered_research_questions": uncovered,
        "grammar": {"status": status.as_dict(), "note": grammar_note(status, human=human)},
    }
    participants = participant_segments(figures[0])
    return ThemeResult(
        table=table,
        framing=pd.DataFrame(framing_rows, columns=FRAMING.names),
        grammar=pd.DataFrame(grammar, columns=GRAMMAR.names),
        payload=payload,
        timeline=figs.timeline(participants, figures[1], book.ids),
        cooccurrence=figs.cooccurrence(figures[1], book.ids),
        labels={c.id: c.label for c in book.codes},
        groups=groups,
    )


def theme_entry(
    code,
    table: pd.DataFrame,
    comparison: pd.DataFrame,
    assigned: Assignments,
    segments: pd.DataFrame,
    talk: Talk,
    found: pd.DataFrame | None,
    *,
    quotes: bool,
    seed: int,
    ordered: pd.DataFrame | None = None,
) -> tuple[dict, list[dict]]:
    """One theme's numbers and framing evidence, and its framing.csv rows.

    ``talk`` is the participants' talk prepared once per report (:class:`Talk`); ``ordered``
    the segments in turn order per recording, sorted once (:func:`first_mentions`).
    """
    members = theme_segments(assigned.table, code.id)
    rows = table[table["theme"] == code.id]
    contrast = contrasts(talk, found, members, seed=seed)
    shares = shares_on(talk.participants, assigned.table, code.id, measure(segments))
    entry = {
        "id": code.id,
        "label": code.label,
        "parent": code.parent,
        "description": code.description.strip(),
        "research_questions": code.research_questions,
        "per_group": rows.drop(columns="theme").to_dict("records"),
        "unresolved": int(
            assigned.unresolved.loc[assigned.unresolved["code"] == code.id, "segment_id"].nunique()
        ),
        "comparison": comparison[comparison["theme"] == code.id]
        .drop(columns="theme")
        .to_dict("records"),
        "speakers": shares[shares["segments"] > 0].to_dict("records"),
        "key_lemmas": key_lemmas(talk, members),
        "markers": marker_rates(talk, found, members) if found is not None else [],
        "framing": {
            "markers": group_markers(talk, found, members) if found is not None else [],
            "key_words": group_key_words(talk, members),
            "actors": group_actors(talk, found, members) if found is not None else {},
            "contrasts": _summary(contrast),
        },
        "first_mentions": first_mentions(segments, members, ordered=ordered),
        "representatives": representatives(
            segments, assigned.table, code.id, content=talk.content, quotes=quotes
        ),
    }
    return entry, [{"theme": code.id, **row} for row in contrast]


def _summary(rows: list[dict], *, per_kind: int = 3) -> list[dict]:
    """The contrasts shown in the HTML: per pair of groups, the strongest markers and words."""
    out = []
    for _, pair in itertools.groupby(rows, key=lambda r: (r["group_a"], r["group_b"])):
        pair = list(pair)
        for kind in ("marker", "word"):
            out.extend([r for r in pair if r["kind"] == kind and r["g2"] > 0][:per_kind])
    return out


@dataclass(frozen=True)
class ThemeFiles:
    """The theme section serialised: each file's bytes, in writing order, and the section the
    HTML shows (the payload with its figures as data URIs). Nothing is on disk yet."""

    files: dict[Path, bytes]
    section: dict


def theme_files(result: ThemeResult, folder: Path) -> ThemeFiles:
    """Validate the tables against their schemas and render JSON and figures, writing nothing,
    so that a table that breaks its contract leaves every old file as it was."""
    tables = {
        folder / "themes.csv": csv_text(result.table, THEMES, where=str(folder / "themes.csv")),
        folder / "framing.csv": csv_text(
            result.framing, FRAMING, where=str(folder / "framing.csv")
        ),
        folder / "grammar.csv": csv_text(
            result.grammar, GRAMMAR, where=str(folder / "grammar.csv")
        ),
        folder / "themes.json": json.dumps(_finite(result.payload), indent=2, ensure_ascii=False)
        + "\n",
    }
    figures = {
        "timeline": (
            folder / "figures" / "theme-timeline.png",
            figs.timeline_png(result.timeline, result.labels, result.groups),
        ),
        "cooccurrence": (
            folder / "figures" / "theme-cooccurrence.png",
            figs.cooccurrence_png(result.cooccurrence, result.labels),
        ),
    }
    files = {path: text.encode("utf-8") for path, text in tables.items()}
    files.update(dict(figures.values()))
    section = {
        **result.payload,
        "figures": {name: figs.data_uri(png) for name, (_, png) in figures.items()},
    }
    return ThemeFiles(files, section)


def write_themes(result: ThemeResult, folder: Path) -> dict:
    """Write ``themes.csv``, ``framing.csv``, ``themes.json`` and the figures (atomically, each
    only if changed) and return the section the HTML shows."""
    out = theme_files(result, folder)
    for path, data in out.files.items():
        write_bytes(path, data, only_if_changed=True)
    return out.section


def machine_agreement(pairs: pd.DataFrame | None, book: Codebook) -> list[dict]:
    """Each machine coder against each human coder, per code (Cohen's kappa): how far its
    codes can be trusted for that code. Shown apart from the themes, never counted in them."""
    if pairs is None or pairs.empty:
        return []
    labels = {c.id: c.label for c in book.codes}
    rows = []
    for row in pairs.itertuples(index=False):
        a, b = is_machine_coder(row.coder_a), is_machine_coder(row.coder_b)
        if a == b or row.code not in labels:
            continue  # human pairs are the α column; (all) pools codes of unequal weight
        machine, human = (row.coder_a, row.coder_b) if a else (row.coder_b, row.coder_a)
        rows.append(
            {
                "code": row.code,
                "label": labels[row.code],
                "machine": machine,
                "human": human,
                "kappa": None if pd.isna(row.kappa) else round(float(row.kappa), 4),
                "percent_agreement": None
                if pd.isna(row.percent_agreement)
                else round(float(row.percent_agreement), 4),
                "units": int(row.units),
            }
        )
    order = {code: i for i, code in enumerate(labels)}
    return sorted(rows, key=lambda r: (r["machine"], order[r["code"]], r["human"]))


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
