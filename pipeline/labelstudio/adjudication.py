"""``cda ls adjudicate``: the segments the coders disagree on, in a project of their own.

Each coder's version becomes a prediction named after the coder, so the adjudicator sees the
versions side by side and accepts, merges or overrides them; the decision is pulled as coder
``adjudication`` and never counts as a coder in the agreement.
"""

from __future__ import annotations

import logging

import pandas as pd

from pipeline.codebook import Codebook
from pipeline.codings.basis import NO_CODE
from pipeline.core.config import ADJUDICATION, StudyConfig
from pipeline.core.io import read_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import CODINGS
from pipeline.labelstudio import labeling as lsconfig
from pipeline.labelstudio.pushing import PushResult, push
from pipeline.labelstudio.tasks import audio_urls, round_inputs, task_data

log = logging.getLogger("pipeline")


def adjudicate(ws: Workspace, config: StudyConfig, round_no: int) -> list[PushResult]:
    """Push the segments the coders disagree on into an adjudication project.

    Each coder's codes (and spans) become a prediction named after the coder, so the
    adjudicator sees both versions side by side and accepts, merges or overrides them.
    """
    from pipeline.codings.machine import human_rows
    from pipeline.codings.presence import disagreements

    loaded, segments = round_inputs(ws, config, round_no)
    codings = read_table(ws.codings(round_no), CODINGS)
    # the human coders' versions only: a machine coder (llm:<model>) is measured, not heard
    codings = human_rows(codings[codings["coder"] != ADJUDICATION])
    disputed = disagreements(codings)
    if disputed.empty:
        log.info("the coders agree on every segment of round %d: nothing to adjudicate", round_no)
        return []
    wanted = set(disputed["segment_id"])
    audio = audio_urls(ws, config, segments)
    tasks = [t for t in task_data(segments, config, audio) if t["segment_id"] in wanted]
    predictions = coder_versions(codings, wanted, loaded.book)
    # disputes in segment order: the learned model's uncertainty is no guide to them
    return push(
        ws, config, round_no, coders=[ADJUDICATION], tasks=tasks, predictions=predictions,
        order="segment",
    )  # fmt: skip


def coder_versions(codings: pd.DataFrame, wanted: set[str], book: Codebook) -> dict[str, list]:
    """Each coder's version of each disputed segment, as a prediction named after the coder.

    A coder who coded the segment with no code at all made a judgement too: their version is
    a memo reading "(no code)" (followed by their own memo, if any), so the adjudicator sees
    "B applied nothing" rather than B missing from the list.
    """
    judged = codings[
        codings["status"].isin(["coded", "empty"]) & codings["segment_id"].isin(wanted)
    ]
    out: dict[str, list[dict]] = {}
    for (segment, coder), rows in judged.groupby(["segment_id", "coder"], sort=True):
        coded = rows[rows["status"] == "coded"]
        result = []
        choices = sorted(coded[coded["span_start"].isna()]["code"].dropna().unique())
        if choices:
            result.append(lsconfig.taxonomy_result(book, choices))
        for row in coded[coded["span_start"].notna()].itertuples():
            result.append(
                lsconfig.span_result(
                    row.code, int(row.span_start), int(row.span_end), row.span_text
                )
            )
        memo = rows["memo"].dropna()
        note = memo.iloc[0] if len(memo) else None
        if coded.empty:
            note = f"{NO_CODE} {note}" if note else NO_CODE
        if note:
            result.append(lsconfig.memo_result(note))
        out.setdefault(segment, []).append(
            {"model_version": f"coder {coder}", "score": 1.0, "result": result}
        )
    return out
