"""Corpus tools over the nlp stage's tables: concordance, keyness and collocations.

All three read pseudonymised segments and lemma-annotated tokens, so they never see a real
name. Formulas are the standard ones of corpus linguistics, stated where they are used:

- keyness: log-likelihood G2 (Rayson & Garside 2000) with the log-ratio effect size
  (Hardie 2014), and Gries' deviation of proportions (DP, 2008) over the target group's
  speakers, so a word one talkative speaker repeats is not mistaken for a group's word;
- collocations: log-Dice (Rychlý 2008) and mutual information within a symmetric window.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pipeline.core.errors import CdaError
from pipeline.language.spoken import noise_mask, spoken_stopwords


def content_mask(tokens: pd.DataFrame, *, language: str = "nl") -> pd.Series:
    """Alphabetic, non-stop-word tokens: spaCy's stop list, and no spoken fillers of
    ``language``, hesitations or transcriber notes (:func:`~.spoken.noise_mask`, shared
    with the topics stage)."""
    return (
        tokens["is_alpha"].astype(bool)
        & ~tokens["is_stop"].astype(bool)
        & ~noise_mask(tokens, fillers=spoken_stopwords(language))
        & (tokens["lemma"].str.len() > 1)
    )


def words_per_segment(tokens: pd.DataFrame) -> pd.Series:
    """Words per segment: tokens that are not punctuation (numbers and placeholders count).

    The one definition of "words" behind every rate and share in the report, so a count can
    be checked by hand against the tokens table.
    """
    return tokens[~tokens["is_punct"].astype(bool)].groupby("segment_id").size()


# concordance --------------------------------------------------------------------------------


def kwic(
    segments: pd.DataFrame,
    tokens: pd.DataFrame,
    term: str,
    *,
    group: str | None = None,
    window: int = 5,
    lemma: bool = True,
) -> pd.DataFrame:
    """Keyword-in-context lines for ``term`` (one or more words), matched on lemma or form.

    A query word matches a token whose lemma or lower-cased form equals it, so "moet" finds
    "moeten" only where the lemmatiser maps it; ``lemma=False`` matches forms only. Context is
    ``window`` tokens either side, cut from the segment text so spacing is as written.
    """
    words = term.lower().split()
    if not words:
        raise CdaError("empty search term", hint="give a word or phrase, e.g. cda kwic China")
    segs = segments if group is None else segments[segments["group"] == group]
    if group is not None and segs.empty:
        raise CdaError(f"no segments in group '{group}'", hint="check the group name")
    text_of = segs.set_index("segment_id")
    rows = []
    toks = tokens[tokens["segment_id"].isin(text_of.index)].reset_index(drop=True)
    for sid, seg_toks in toks.groupby("segment_id", sort=False):
        forms = seg_toks["text"].str.lower().tolist()
        lemmas = seg_toks["lemma"].tolist()
        starts = seg_toks["start_char"].tolist()
        texts = seg_toks["text"].tolist()
        n = len(words)
        for i in range(len(forms) - n + 1):
            hit = all(
                forms[i + k] == w or (lemma and lemmas[i + k] == w) for k, w in enumerate(words)
            )
            if not hit:
                continue
            text = text_of.at[sid, "text"]
            node_start = starts[i]
            node_end = starts[i + n - 1] + len(texts[i + n - 1])
            left_start = starts[max(0, i - window)]
            right_last = min(len(forms) - 1, i + n - 1 + window)
            right_end = starts[right_last] + len(texts[right_last])
            rows.append(
                {
                    "segment_id": sid,
                    "group": text_of.at[sid, "group"],
                    "speaker": text_of.at[sid, "speaker"],
                    "start": text_of.at[sid, "start"],
                    "left": text[left_start:node_start].strip(),
                    "node": text[node_start:node_end],
                    "right": text[node_end:right_end].strip(),
                }
            )
    columns = ["segment_id", "group", "speaker", "start", "left", "node", "right"]
    return pd.DataFrame(rows, columns=columns)


# keyness ------------------------------------------------------------------------------------


def log_likelihood(a: float, b: float, c: float, d: float) -> float:
    """G2 for frequency ``a`` in a corpus of ``c`` tokens against ``b`` in ``d`` tokens.

    E1 = c(a+b)/(c+d), E2 = d(a+b)/(c+d), G2 = 2(a ln(a/E1) + b ln(b/E2)), with 0 ln 0 = 0.
    """
    e1 = c * (a + b) / (c + d)
    e2 = d * (a + b) / (c + d)
    return 2 * sum(o * math.log(o / e) for o, e in ((a, e1), (b, e2)) if o > 0)


def log_ratio(a: float, b: float, c: float, d: float) -> float:
    """log2 of the ratio of relative frequencies; zeros get 0.5 (Hardie's adjustment)."""
    return math.log2(((a or 0.5) / c) / ((b or 0.5) / d))


def dispersion(counts: pd.Series, sizes: pd.Series) -> float:
    """Gries' DP over parts (speakers): 0 = spread as the parts' sizes predict, ~1 = in one part.

    ``counts``: the word's frequency per part; ``sizes``: tokens per part (same index).
    """
    row = counts.reindex(sizes.index, fill_value=0).to_numpy(float)[None, :]
    return float(dispersions(row, sizes.to_numpy(float))[0])


def dispersions(matrix: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """DP for many words at once: ``matrix`` is words × parts counts, ``sizes`` tokens per part."""
    expected = sizes / sizes.sum()
    totals = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    return 0.5 * np.abs(matrix / totals - expected).sum(axis=1)


def keyness(
    tokens: pd.DataFrame,
    segments: pd.DataFrame,
    target: str,
    *,
    reference: str | None = None,
    by: str = "group",
    min_freq: int = 5,
    min_speakers: int = 2,
    language: str = "nl",
) -> pd.DataFrame:
    """Key lemmas of segments where ``by == target`` against ``reference`` (default: the rest).

    Rows are content lemmas with frequency >= ``min_freq`` in the target, used by at least
    ``min_speakers`` of its speakers; sorted by G2, overused words (log ratio > 0) first.
    """
    if by not in segments.columns:
        raise CdaError(f"no segment column '{by}'", hint="group by group, speaker or role")
    meta = segments.set_index("segment_id")[[by, "speaker"]]
    toks = tokens[content_mask(tokens, language=language)].join(meta, on="segment_id")
    return keyness_of(
        toks, target, reference=reference, by=by, min_freq=min_freq, min_speakers=min_speakers
    )


def keyness_of(
    toks: pd.DataFrame,
    target: str,
    *,
    reference: str | None = None,
    by: str = "group",
    min_freq: int = 5,
    min_speakers: int = 2,
) -> pd.DataFrame:
    """:func:`keyness` on content tokens already labelled with ``by`` and ``speaker``.

    For callers that compare many partitions of one corpus (the report, per theme and group):
    the content filter and the join are done once instead of per comparison.
    """
    in_target = toks[by] == target
    if not in_target.any():  # (not `target in set(...)`: that iterates every token in Python)
        raise CdaError(f"no content words where {by} = '{target}'", hint="check the name")
    in_ref = toks[by] == reference if reference is not None else ~in_target
    if not in_ref.any():
        raise CdaError(f"no content words where {by} = '{reference}'", hint="check the name")
    return keyness_on(
        toks["lemma"],
        toks["speaker"],
        in_target.to_numpy(dtype=bool),
        in_ref.to_numpy(dtype=bool),
        min_freq=min_freq,
        min_speakers=min_speakers,
    )


def keyness_on(
    lemmas: pd.Series,
    speakers_of: pd.Series,
    in_target: np.ndarray,
    in_ref: np.ndarray,
    *,
    min_freq: int = 5,
    min_speakers: int = 2,
) -> pd.DataFrame:
    """:func:`keyness_of` with the target and reference given as masks over the content
    tokens' ``lemmas`` and ``speakers_of`` (each side must hold a token).

    For a caller that compares a theme with the rest many times over one corpus: only the
    two columns are counted, the frame is neither labelled nor filtered per comparison.
    """
    tgt_lemma, tgt_speaker = lemmas[in_target], speakers_of[in_target]
    c, d = int(in_target.sum()), int(in_ref.sum())
    freq_t = tgt_lemma.value_counts()
    freq_r = lemmas[in_ref].value_counts()
    sizes = tgt_speaker.groupby(tgt_speaker).size()
    candidates = freq_t[freq_t >= min_freq]
    # lemma × speaker counts in one go: DP, breadth and top share for all candidates at once
    # (per-lemma pandas lookups made a theme report of 5,000 segments take ~40 s)
    at_row = candidates.index.get_indexer(tgt_lemma)
    at_col = sizes.index.get_indexer(tgt_speaker)
    counted = (at_row >= 0) & (at_col >= 0)  # a missing speaker is in no column, as in groupby
    width = len(sizes)
    matrix = (
        np.bincount(at_row[counted] * width + at_col[counted], minlength=len(candidates) * width)
        .reshape(len(candidates), width)
        .astype(float)
    )
    speakers = (matrix > 0).sum(axis=1)
    dps = dispersions(matrix, sizes.to_numpy(float))
    top_shares = matrix.max(axis=1, initial=0) / np.maximum(matrix.sum(axis=1), 1)
    in_reference = freq_r.reindex(candidates.index, fill_value=0).tolist()
    rows = []
    for i, (lemma, a) in enumerate(
        zip(candidates.index.tolist(), candidates.tolist(), strict=True)
    ):
        if speakers[i] < min_speakers:
            continue
        b = int(in_reference[i])
        rows.append(
            {
                "lemma": lemma,
                "freq_target": int(a),
                "freq_reference": b,
                "per_10k_target": 1e4 * a / c,
                "per_10k_reference": 1e4 * b / d,
                "g2": log_likelihood(a, b, c, d),
                "log_ratio": log_ratio(a, b, c, d),
                "speakers": int(speakers[i]),
                "top_speaker_share": float(top_shares[i]),
                "dp": float(dps[i]),
            }
        )
    out = pd.DataFrame(rows, columns=KEYNESS_COLUMNS)
    out = out.sort_values(["g2", "lemma"], ascending=[False, True], ignore_index=True)
    return out[out["log_ratio"] > 0].reset_index(drop=True) if len(out) else out


KEYNESS_COLUMNS = [
    "lemma",
    "freq_target",
    "freq_reference",
    "per_10k_target",
    "per_10k_reference",
    "g2",
    "log_ratio",
    "speakers",
    "top_speaker_share",
    "dp",
]


# collocations -------------------------------------------------------------------------------


def collocations(
    tokens: pd.DataFrame,
    segments: pd.DataFrame,
    node: str,
    *,
    window: int = 5,
    min_freq: int = 2,
    by: str = "group",
    language: str = "nl",
) -> pd.DataFrame:
    """Content-lemma collocates of ``node`` within ``window`` tokens, per ``by`` value.

    The window counts content words (stop words are dropped first, as in the keyness list),
    within one segment (a turn does not run into the next speaker's). With f_xy the
    co-occurrences, f_x / f_y the node and collocate frequencies and N the content tokens:
    logDice = 14 + log2(2 f_xy / (f_x + f_y)); MI = log2(f_xy N / (f_x f_y 2·window)).
    """
    node = node.lower()
    meta = segments.set_index("segment_id")[[by]]
    toks = tokens[content_mask(tokens, language=language)].join(meta, on="segment_id")
    rows = []
    for value, part in toks.groupby(by, sort=True):
        freq = part["lemma"].value_counts()
        f_x = int(freq.get(node, 0))
        if f_x == 0:
            continue
        pairs: dict[str, int] = {}
        for _, seg in part.groupby("segment_id", sort=False):
            lemmas = seg["lemma"].tolist()
            for i, lem in enumerate(lemmas):
                if lem != node:
                    continue
                for j in range(max(0, i - window), min(len(lemmas), i + window + 1)):
                    if j != i and lemmas[j] != node:
                        pairs[lemmas[j]] = pairs.get(lemmas[j], 0) + 1
        n = len(part)
        for collocate, f_xy in pairs.items():
            if f_xy < min_freq:
                continue
            f_y = int(freq[collocate])
            rows.append(
                {
                    by: value,
                    "node": node,
                    "collocate": collocate,
                    "f_xy": f_xy,
                    "f_node": f_x,
                    "f_collocate": f_y,
                    "log_dice": 14 + math.log2(2 * f_xy / (f_x + f_y)),
                    "mi": math.log2(f_xy * n / (f_x * f_y * 2 * window)),
                }
            )
    columns = [by, "node", "collocate", "f_xy", "f_node", "f_collocate", "log_dice", "mi"]
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values(
        [by, "log_dice", "collocate"], ascending=[True, False, True], ignore_index=True
    )
