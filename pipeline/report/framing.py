"""How a theme is talked about, and how differently each group talks about it.

A CDA reader asks less *whether* a group raised a theme than *how*: who is "we" and "they",
who is held responsible, how firmly claims are made. So besides the theme's own profile
(against the rest of the participants' talk) everything is given **per group**, and groups are
**contrasted within the theme**:

- **markers** per group: matches of each category inside the theme, the group's words inside
  the theme, the rate per 1,000 words, how many speakers used the category, and the group's
  rate outside the theme as its baseline;
- **key words** per group against the same theme in the other group(s) (G2 and log ratio from
  :func:`pipeline.language.corpus.keyness`, used by at least two speakers);
- **actors** per group: the actor markers inside the theme, with mentions and speakers;
- **contrasts** for each pair of groups: every marker category and the strongest key words
  either way, with counts, rates, log ratio (Hardie's 0.5 for zeros), G2 and a test over
  *speakers*: each speaker who spoke on the theme contributes their own rate (per 1,000 words,
  or per 1,000 content words for a word), compared by an exact permutation test and Cliff's
  delta (:mod:`pipeline.report.stats`). These rows are ``framing.csv``.

Definitions an analyst can recount by hand: *words* are tokens that are not punctuation
(:func:`pipeline.language.corpus.words_per_segment`); *content words* are those keyness counts
(:func:`pipeline.language.corpus.content_mask`); only participant segments count.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.core.citation import clock
from pipeline.core.errors import CdaError
from pipeline.core.transcript import in_turn_order
from pipeline.language.corpus import (
    content_mask,
    keyness_of,
    keyness_on,
    log_likelihood,
    log_ratio,
    words_per_segment,
)
from pipeline.report.stats import cliffs_delta, permutation_test

CONTRAST_WORDS = 5  # key words per direction in a contrast


@dataclass(frozen=True)
class Talk:
    """The participants' talk of one report, prepared once for every theme and group.

    ``participants``: participant segments with their ``words``; ``content``: their content
    tokens (see :func:`~.corpus.content_mask`) labelled with ``group`` and ``speaker``.
    """

    participants: pd.DataFrame
    content: pd.DataFrame

    @classmethod
    def of(cls, participants: pd.DataFrame, tokens: pd.DataFrame, *, language: str = "nl") -> Talk:
        seg = participants[participants["role"] != "facilitator"]
        if "words" not in seg.columns:
            counts = seg["segment_id"].map(words_per_segment(tokens)).fillna(0).astype(int)
            seg = seg.assign(words=counts)
        seg = plain_strings(seg, ("segment_id", "group", "speaker", "role"))
        mine = tokens[tokens["segment_id"].isin(seg["segment_id"])]
        meta = seg.set_index("segment_id")[["group", "speaker"]]
        content = plain_strings(
            mine[content_mask(mine, language=language)][["segment_id", "lemma"]],
            ("segment_id", "lemma"),
        ).join(meta, on="segment_id")
        return cls(seg.reset_index(drop=True), content.reset_index(drop=True))

    def inside(self, members: set[str]) -> pd.Series:
        return self.participants["segment_id"].isin(members)


def plain_strings(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """``frame`` with its text ``columns`` held as Python objects, values unchanged.

    The report filters the same few tables once per theme and group (hundreds of masks and
    ``isin`` calls): on pandas' Arrow-backed strings each ``isin`` converts its values one by
    one to Arrow scalars and each mask is an Arrow ``take``, which made a 5,000-segment report
    take seconds; on object columns both are hash lookups and numpy indexing. The strings and
    every count are the same.
    """
    present = [c for c in columns if c in frame.columns and frame[c].dtype != object]
    if not present:
        return frame
    return frame.astype({c: object for c in present})


def theme_segments(assigned: pd.DataFrame, code: str) -> set[str]:
    return set(assigned.loc[assigned["code"] == code, "segment_id"])


# the theme against the rest -----------------------------------------------------------------


def key_lemmas(talk: Talk, members: set[str], *, top: int = 8) -> list[dict]:
    """The theme's most characteristic lemmas (overused against the other segments)."""
    inside = talk.inside(members)
    if not inside.any() or inside.all():
        return []
    theme = talk.content["segment_id"].isin(members).to_numpy()
    if not theme.any() or theme.all():  # no content words on one side: nothing is key
        return []
    content = talk.content
    table = keyness_on(
        content["lemma"], content["speaker"], theme, ~theme, min_freq=2, min_speakers=2
    )
    return _shown(table, top)


def _key_rows(
    content: pd.DataFrame, target: str, *, by: str, top: int, reference: str | None = None
) -> list[dict]:
    try:
        table = keyness_of(content, target, reference=reference, by=by, min_freq=2, min_speakers=2)
    except CdaError:  # no content words on one side: nothing is key
        return []
    return _shown(table, top)


def _shown(table: pd.DataFrame, top: int) -> list[dict]:
    """The ``top`` rows of a keyness table as the report shows them."""
    return [
        {
            "lemma": r.lemma,
            "freq": int(r.freq_target),
            "freq_reference": int(r.freq_reference),
            "speakers": int(r.speakers),
            "g2": round(r.g2, 1),
            "log_ratio": round(r.log_ratio, 2),
        }
        for r in table.head(top).itertuples()
    ]


def marker_rates(talk: Talk, markers: pd.DataFrame, members: set[str]) -> list[dict]:
    """Per marker category: matches per 1,000 words inside the theme and in the rest."""
    words = talk.participants["words"]
    inside = talk.inside(members).to_numpy()
    size_in, size_out = int(words[inside].sum()), int(words[~inside].sum())
    found = markers[markers["segment_id"].isin(talk.participants["segment_id"])]
    rows = []
    for category, part in found.groupby("category", sort=True):
        n_in = int(part["segment_id"].isin(members).sum())
        n_out = len(part) - n_in
        rate_in = 1000 * n_in / size_in if size_in else float("nan")
        rate_out = 1000 * n_out / size_out if size_out else float("nan")
        rows.append(
            {
                "category": category,
                "in_theme": n_in,
                "per_1000_theme": rate_in,
                "per_1000_rest": rate_out,
                "ratio": rate_in / rate_out if rate_out else float("nan"),
            }
        )
    return rows


def first_mentions(
    segments: pd.DataFrame, members: set[str], *, ordered: pd.DataFrame | None = None
) -> list[dict]:
    """Per recording: who raised the theme first, when, and how many participants took it up.

    ``ordered``: the segments in turn order per recording
    (``in_turn_order(segments, first=("recording_id",))``), when the caller sorted them once
    for every theme.
    """
    rows = []
    if ordered is None:
        ordered = in_turn_order(segments, first=("recording_id",))
    # the theme's turns first, then per recording (only recordings with any, as before)
    theme = ordered[ordered["segment_id"].isin(members)]
    for recording, hits in theme.groupby("recording_id", sort=True):
        first = hits.iloc[0]
        later = hits.iloc[1:]
        taken_up = later[(later["role"] != "facilitator") & (later["speaker"] != first["speaker"])]
        rows.append(
            {
                "recording_id": recording,
                "segment_id": first["segment_id"],
                "speaker": first["speaker"],
                "role": first["role"],
                "time": clock(first["start"]),
                "taken_up_by": int(taken_up["speaker"].nunique()),
            }
        )
    return rows


# per group ----------------------------------------------------------------------------------


def group_markers(talk: Talk, markers: pd.DataFrame, members: set[str]) -> list[dict]:
    """Per group that raised the theme, per marker category: count, words, rate, speakers."""
    seg = talk.participants.assign(inside=talk.inside(members))
    found = markers.merge(seg[["segment_id", "group", "speaker", "inside"]], on="segment_id")
    categories = sorted(found["category"].unique())
    # matches, matches inside the theme and their speakers per (group, category), in one
    # groupby each rather than a filter per group and category
    keys = ["group", "category"]
    total = found.groupby(keys).size().to_dict()
    within = found[found["inside"].to_numpy(dtype=bool)]
    count = within.groupby(keys).size().to_dict()
    speakers = within.groupby(keys)["speaker"].nunique().to_dict()
    rows = []
    for group, part in seg.groupby("group", sort=True):
        words_in = int(part.loc[part["inside"], "words"].sum())
        if not words_in:
            continue
        words_out = int(part.loc[~part["inside"], "words"].sum())
        for category in categories:
            n_in = int(count.get((group, category), 0))
            n_out = int(total.get((group, category), 0)) - n_in
            rows.append(
                {
                    "group": group,
                    "category": category,
                    "count": n_in,
                    "words": words_in,
                    "per_1000": 1000 * n_in / words_in,
                    "speakers": int(speakers.get((group, category), 0)),
                    "per_1000_rest": 1000 * n_out / words_out if words_out else float("nan"),
                }
            )
    return rows


def group_key_words(talk: Talk, members: set[str], *, top: int = 8) -> dict[str, list[dict]]:
    """Per group: key lemmas of its theme segments against the same theme in the other groups."""
    groups = sorted(talk.participants.loc[talk.inside(members), "group"].unique())
    if len(groups) < 2:
        return {}
    content = talk.content[talk.content["segment_id"].isin(members)]
    return {group: _key_rows(content, group, by="group", top=top) for group in groups}


def group_actors(
    talk: Talk, markers: pd.DataFrame, members: set[str], *, top: int = 6
) -> dict[str, list[dict]]:
    """Per group: the actors mentioned inside the theme, with mentions and speakers."""
    seg = talk.participants[talk.inside(members)][["segment_id", "group", "speaker"]]
    found = markers[markers["category"] == "actor"].merge(seg, on="segment_id")
    if found.empty:
        return {}
    # mentions and speakers of every (group, actor) in one groupby, not one per group
    by = found.groupby(["group", "lemma"], sort=True)
    table = pd.DataFrame({"mentions": by.size(), "speakers": by["speaker"].nunique()})
    parts = {g: part.droplevel(0) for g, part in table.groupby(level=0, sort=True)}
    out = {}
    for group in found.groupby("group", sort=True).size().index:
        counts = parts.get(group, table.iloc[:0].droplevel(0))
        counts = counts.sort_values(["mentions", "speakers"], ascending=False, kind="stable")
        out[group] = [
            {"actor": lemma, "mentions": int(r.mentions), "speakers": int(r.speakers)}
            for lemma, r in counts.head(top).iterrows()
        ]
    return out


# contrasts ----------------------------------------------------------------------------------


def _per_speaker(counts: dict[str, int], speakers: list[str], sizes: np.ndarray) -> np.ndarray:
    """Each speaker's rate per 1,000: ``speakers`` and ``sizes`` are the speakers with words
    and their words (:func:`_talkers`), ``counts`` the uses per speaker."""
    hits = np.array([counts.get(speaker, 0) for speaker in speakers], dtype=np.int64)
    return np.asarray(1000 * hits / sizes, dtype=float)


def _talkers(sizes: pd.Series) -> tuple[list[str], np.ndarray]:
    """The speakers with words (others have no rate) and their words, once per group."""
    sizes = sizes[sizes > 0]
    return sizes.index.tolist(), sizes.to_numpy()


def _contrast_row(kind: str, item: str, a: dict, b: dict, *, seed: int) -> dict:
    """One marker category or lemma, group a against group b, with the speaker-level test.

    ``a`` and ``b``: per group, ``count`` and ``size`` (the item's uses and the group's words),
    ``by_speaker`` (uses per speaker who used it) and ``talkers`` (:func:`_talkers`).
    """
    rates_a = _per_speaker(a["by_speaker"], *a["talkers"])
    rates_b = _per_speaker(b["by_speaker"], *b["talkers"])
    return {
        "kind": kind,
        "item": item,
        "count_a": a["count"],
        "count_b": b["count"],
        "size_a": a["size"],
        "size_b": b["size"],
        "per_1000_a": 1000 * a["count"] / a["size"],
        "per_1000_b": 1000 * b["count"] / b["size"],
        "users_a": sum(n > 0 for n in a["by_speaker"].values()),
        "users_b": sum(n > 0 for n in b["by_speaker"].values()),
        "speakers_a": len(rates_a),
        "speakers_b": len(rates_b),
        "log_ratio": log_ratio(a["count"], b["count"], a["size"], b["size"]),
        "g2": log_likelihood(a["count"], b["count"], a["size"], b["size"]),
        "cliffs_delta": cliffs_delta(rates_a, rates_b),
        "p_value": permutation_test(rates_a, rates_b, seed=seed),
    }


def _uses(hits: pd.DataFrame, column: str) -> dict[tuple[str, str], tuple[int, dict[str, int]]]:
    """Uses of each item (``column``: category or lemma) per group, and per speaker, in one
    groupby each instead of filtering the hits once per item and group:
    {(item, group): (uses, {speaker: uses})}."""
    per_speaker: dict[tuple[str, str], dict[str, int]] = {}
    for (item, group, speaker), n in hits.groupby([column, "group", "speaker"]).size().items():
        per_speaker.setdefault((item, group), {})[speaker] = int(n)
    return {
        (item, group): (int(n), per_speaker.get((item, group), {}))
        for (item, group), n in hits.groupby([column, "group"]).size().items()
    }


def contrasts(
    talk: Talk,
    markers: pd.DataFrame | None,
    members: set[str],
    *,
    seed: int = 0,
    top_words: int = CONTRAST_WORDS,
) -> list[dict]:
    """Markers and words of the theme, each pair of groups that both raised it (framing.csv).

    Markers: every category found in the theme. Words: the ``top_words`` key lemmas each way
    (content lemmas with 2+ occurrences, used by 2+ speakers of the group that overuses them,
    by G2). Rows are sorted by G2 within each kind, so the biggest differences come first.
    """
    seg = talk.participants[talk.inside(members)]
    groups = sorted(g for g, part in seg.groupby("group") if part["words"].sum() > 0)
    if len(groups) < 2:
        return []
    content = talk.content[talk.content["segment_id"].isin(members)]
    found = (
        markers[markers["segment_id"].isin(seg["segment_id"])]
        if markers is not None
        else pd.DataFrame(columns=["segment_id", "category"])
    )
    meta = seg.set_index("segment_id")[["group", "speaker"]]
    found = found[["segment_id", "category"]].join(meta, on="segment_id")

    def by_group(sizes: pd.Series) -> dict[str, pd.Series]:
        return {g: part.droplevel(0) for g, part in sizes.groupby(level=0)}

    word_sizes = by_group(seg.groupby(["group", "speaker"])["words"].sum())
    content_sizes = by_group(content.groupby(["group", "speaker"]).size())
    marker_uses = _uses(found, "category")
    categories = sorted(found["category"].dropna().unique())

    def basis(sizes: dict[str, pd.Series]) -> dict[str, tuple[int, tuple]]:
        """Per group: its words (or content words) and its speakers with any, once."""
        return {g: (int(part.sum()), _talkers(part)) for g, part in sizes.items()}

    per_word, per_content = basis(word_sizes), basis(content_sizes)
    nobody = (0, _talkers(pd.Series(dtype=float)))

    def side(uses: dict, item: str, group: str, basis: dict) -> dict:
        count, by_speaker = uses.get((item, group), (0, {}))
        size, talkers = basis.get(group, nobody)
        return {"count": count, "size": size, "by_speaker": by_speaker, "talkers": talkers}

    rows = []
    for a, b in itertools.combinations(groups, 2):
        pair = {"group_a": a, "group_b": b}
        marker_rows = [
            _contrast_row(
                "marker",
                category,
                side(marker_uses, category, a, per_word),
                side(marker_uses, category, b, per_word),
                seed=seed,
            )
            for category in categories
        ]
        word_rows = []
        if a in content_sizes and b in content_sizes:
            lemmas = _contrast_lemmas(content, a, b, top_words)
            chosen = content[content["lemma"].isin(lemmas)]
            word_uses = _uses(chosen, "lemma")
            for lemma in sorted(chosen["lemma"].dropna().unique()):
                a_side = side(word_uses, lemma, a, per_content)
                b_side = side(word_uses, lemma, b, per_content)
                word_rows.append(_contrast_row("word", lemma, a_side, b_side, seed=seed))
        for block in (marker_rows, word_rows):
            block = [r for r in block if r["count_a"] or r["count_b"]]  # neither group used it
            block.sort(key=lambda r: (-r["g2"], r["item"]))
            rows.extend({**pair, **r} for r in block)
    return rows


def _contrast_lemmas(content: pd.DataFrame, a: str, b: str, top: int) -> list[str]:
    """Key lemmas of a against b and of b against a, within the theme (keyness rules)."""
    lemmas: list[str] = []
    for target, reference in ((a, b), (b, a)):
        lemmas.extend(
            row["lemma"]
            for row in _key_rows(content, target, reference=reference, by="group", top=top)
        )
    return list(dict.fromkeys(lemmas))
