"""``cda code --llm``: a language model codes a round's participant segments as one more coder.

Each participant segment of ``data/interim/segments.parquet`` (pseudonymised), with the
``llm.context_turns`` turns before it, goes with the round's codebook to an OpenAI-compatible
chat-completions server (:mod:`pipeline.code.endpoint`); the reply is checked
(:mod:`pipeline.code.reply`) and stored in the round's ``codings.parquet`` as coder and origin
``llm:<model>``, beside the human coders and never in their place:

- the other coders' rows are re-read and kept at every write, so a pull or an import between
  two batches is not undone, and the model's rows are the only ones this stage replaces;
- a bad reply is retried ``llm.max_retries`` times, then the segment is *failed*: it gets no
  row (a failure is no judgement), the run goes on, and ``llm.json`` lists why;
- every ``llm.batch_size`` segments the table is written (atomically), so an interrupted run
  keeps what it did; a rerun codes only the segments the model has no row for, and only when
  the model, prompt template, codebook and parameters are those of the stored rows;
- ``data/processed/round-N/llm.json`` records the model, the server's host, the parameters,
  the prompt template and its sha256, and the counts: the provenance the report shows.

What the model's codes are worth is measured, not assumed: ``cda agreement`` puts it against
each human coder per code (Cohen's kappa), and no finding of the report counts its codes.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd

from pipeline.code import prompt
from pipeline.code.endpoint import API_KEY, Endpoint, check_endpoint
from pipeline.code.reply import BadReply, Reply, parse_reply
from pipeline.codebook import Loaded, load_round
from pipeline.codings.machine import machine_coder
from pipeline.codings.order import sort_codings
from pipeline.core.config import StudyConfig
from pipeline.core.env import environment
from pipeline.core.errors import CdaError
from pipeline.core.io import frame_of, read_table, validate, write_table, write_text
from pipeline.core.paths import Workspace
from pipeline.core.schemas import CODINGS, SEGMENTS
from pipeline.core.transcript import in_turn_order

log = logging.getLogger(__name__)
RETRY_PAUSE_S = 0.25  # first pause before a retry; doubled each time, at most MAX_PAUSE_S
MAX_PAUSE_S = 4.0
# what must be equal for a rerun to add codes to a machine coder's stored ones
RESUME_KEYS = ("prompt_template_sha256", "codebook_sha256", "parameters")


@dataclass
class CodeResult:
    """One run: what was coded now, what was there already, and what failed and why."""

    coder: str
    segments: int  # participant segments of the round
    already: int  # coded by this model before this run (resumed)
    coded: int = 0  # coded now with at least one code
    empty: int = 0  # coded now with no code
    failed: dict[str, str] = field(default_factory=dict)  # segment id -> last reason

    @property
    def reasons(self) -> Counter:
        return Counter(self.failed.values())


def llm_file(ws: Workspace, round_no: int):
    return ws.round_dir(round_no) / "llm.json"


def read_llm_record(ws: Workspace, round_no: int) -> dict:
    """``llm.json`` of the round: machine coder -> its run record; {} when absent."""
    path = llm_file(ws, round_no)
    if not path.is_file():
        return {}
    hint = f"delete it and rerun `cda code --llm --restart --round {round_no}`"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:
        problem = f"{ws.display(path)}: damaged, not JSON ({str(exc)[:80]})"
        raise CdaError(problem, hint=hint) from None
    coders = data.get("coders") if isinstance(data, dict) else None
    if not isinstance(coders, dict) or not all(isinstance(v, dict) for v in coders.values()):
        raise CdaError(f"{ws.display(path)}: damaged, no 'coders' object", hint=hint)
    return coders


def participant_turns(segments: pd.DataFrame) -> pd.DataFrame:
    """Every segment in spoken order per recording, with its place, for context lookups."""
    return in_turn_order(segments, first=("recording_id",)).reset_index(drop=True)


def context_of(ordered: pd.DataFrame, at: int, turns: int) -> list[tuple[str, str]]:
    """The ``turns`` segments before row ``at`` of the same recording: (speaker, text)."""
    recording = ordered.at[at, "recording_id"]
    before = ordered.iloc[max(0, at - turns) : at]
    before = before[before["recording_id"] == recording]
    return list(zip(before["speaker"], before["text"], strict=True))


def reply_rows(segment_id: str, reply: Reply, *, coder: str, seconds: float) -> list[dict]:
    """A reply as codings rows: a code per quote (its span), a code without one whole; no
    code at all is one ``empty`` row (a judgement, as a coder's deliberate "no code")."""
    base = {
        "segment_id": segment_id,
        "coder": coder,
        "memo": reply.rationale or None,
        "lead_time": round(seconds, 3),
        "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "origin": coder,
    }
    if not reply.codes:
        return [{**base, "status": "empty", "in_codebook": True}]
    rows = []
    for code in reply.codes:
        spans = [e for e in reply.evidence if e.code == code]
        for e in spans or [None]:
            span = {} if e is None else {"span_start": e.start, "span_end": e.end,
                                         "span_text": e.text}  # fmt: skip
            rows.append({**base, "code": code, **span, "status": "coded", "in_codebook": True})
    return rows


def run_record(loaded: Loaded, config: StudyConfig, host: str) -> dict:
    """What ``llm.json`` says of a run, before the counts."""
    s = config.llm
    return {
        "model": s.model,
        "base_url_host": host,
        "parameters": {
            "temperature": s.temperature,
            "seed": s.seed,
            "context_turns": s.context_turns,
            "timeout_s": s.timeout_s,
            "max_retries": s.max_retries,
        },
        "prompt_template_sha256": prompt.TEMPLATE_SHA256,
        "prompt_template": {"system": prompt.SYSTEM_TEMPLATE, "user": prompt.USER_TEMPLATE},
        "response_format": "json_schema (strict): codes, evidence quotes, rationale",
        "codebook": str(loaded.path.name),
        "codebook_sha256": loaded.sha256,
    }


def _comparable(record: dict) -> dict:
    out = {k: record.get(k) for k in RESUME_KEYS}
    params = dict(out["parameters"] or {})
    for operational in ("timeout_s", "max_retries"):  # how patiently, not what was asked
        params.pop(operational, None)
    out["parameters"] = params
    return out


def _check_resumable(ws, round_no: int, coder: str, stored: dict | None, now: dict, done: int):
    if not done or (stored is not None and _comparable(stored) == _comparable(now)):
        return
    path = ws.display(llm_file(ws, round_no))
    if stored is None:
        why = f"{path} has no record of how they were made"
    else:
        changed = [k for k in RESUME_KEYS if _comparable(stored)[k] != _comparable(now)[k]]
        why = f"they were made with another {', '.join(changed).replace('_sha256', '')}"
    raise CdaError(
        f"round {round_no}: {coder} already coded {done} segment(s), but {why}",
        hint="`cda code --llm --restart` replaces this model's codes (only these) with a new "
        "run; or set cda.yaml back to the settings of the stored run",
    )


def _merge(ws: Workspace, round_no: int, coder: str, ours: list[dict]) -> pd.DataFrame:
    """The round's codings as on disk now, with this machine coder's rows replaced by ours."""
    path = ws.codings(round_no)
    current = read_table(path, CODINGS) if path.is_file() else CODINGS.empty()
    others = current[current["coder"] != coder]
    mine = frame_of(ours, CODINGS) if ours else CODINGS.empty()
    table = pd.concat([f for f in (others, mine) if len(f)] or [CODINGS.empty()])
    return sort_codings(validate(table, CODINGS, where=str(path)))


def run_code(
    ws: Workspace,
    config: StudyConfig,
    round_no: int,
    *,
    restart: bool = False,
    force: bool = False,
) -> CodeResult:
    """Code the round's participant segments with ``llm.model``; see the module docstring."""
    settings = config.llm
    if not settings.model:
        raise CdaError(
            "llm.model is not set in cda.yaml",
            hint="name the model the server runs, e.g. llm: {model: qwen2.5:7b-instruct}",
        )
    host = check_endpoint(settings)
    loaded = load_round(ws, config, round_no)
    if not loaded.book.codes:
        raise CdaError(f"{ws.display(loaded.path)} has no codes", hint="add codes first")
    path = ws.codings(round_no)
    if loaded.book.state == "closed" and path.is_file() and not force:
        raise CdaError(
            f"round {round_no} is closed; coding it would change its frozen codings",
            hint="codings.parquet is unchanged; pass --force to add the machine coder anyway",
        )
    coder = machine_coder(settings.model)
    segments = read_table(ws.segments, SEGMENTS)
    ordered = participant_turns(segments)
    current = read_table(path, CODINGS) if path.is_file() else CODINGS.empty()
    ours = [] if restart else current[current["coder"] == coder].to_dict("records")
    done = {r["segment_id"] for r in ours}
    records = read_llm_record(ws, round_no)
    record = run_record(loaded, config, host)
    _check_resumable(ws, round_no, coder, records.get(coder), record, len(done))
    todo = [i for i in ordered.index[ordered["role"] == "participant"]
            if ordered.at[i, "segment_id"] not in done]  # fmt: skip
    result = CodeResult(coder, int((ordered["role"] == "participant").sum()), len(done))
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def save(finished: bool, *, codings: bool = True) -> None:
        table = _merge(ws, round_no, coder, ours)
        if codings and (ours or path.is_file()):
            write_table(table, CODINGS, path, only_if_changed=True)
        mine = table[table["coder"] == coder]
        per_segment = mine.groupby("segment_id")["status"].first()
        entry = {
            **record,
            "coder": coder,
            "started": started,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")
            if finished
            else None,
            "segments": result.segments,
            "counts": {
                "coded": int((per_segment == "coded").sum()),
                "empty": int((per_segment == "empty").sum()),
                "failed": len(result.failed),
            },
            "failed": [{"segment_id": s, "reason": r} for s, r in sorted(result.failed.items())],
        }
        records[coder] = entry
        text = json.dumps({"coders": records}, indent=2, sort_keys=True, ensure_ascii=False)
        write_text(llm_file(ws, round_no), text + "\n")

    api_key = environment(ws).get(API_KEY)
    endpoint = Endpoint.open(settings, api_key=api_key)
    response_format = prompt.response_format(loaded.book)
    pending = 0
    try:
        if restart or not records.get(coder):
            # the run's record exists before its first codes; a restart drops the old ones
            save(finished=False, codings=restart)
        for at in todo:
            rows = _code_one(endpoint, loaded, ordered, at, response_format, result)
            if rows is None:
                continue
            ours.extend(rows)
            pending += 1
            if pending >= settings.batch_size:
                save(finished=False)
                pending = 0
    except (CdaError, KeyboardInterrupt):
        if pending:  # a stopped run keeps what it coded (a kill keeps the last batch)
            save(finished=False)
        raise
    finally:
        endpoint.close()
    save(finished=True)
    return result


def _code_one(endpoint, loaded, ordered, at, response_format, result) -> list[dict] | None:
    """One segment: ask, check, retry; its rows, or None when it failed (reason recorded)."""
    settings = endpoint.settings
    segment_id, text = ordered.at[at, "segment_id"], ordered.at[at, "text"]
    body = endpoint.request_body(
        prompt.messages(
            loaded.book,
            segment=text,
            speaker=ordered.at[at, "speaker"],
            context=context_of(ordered, at, settings.context_turns),
        ),
        response_format,
    )
    pause = RETRY_PAUSE_S
    for attempt in range(settings.max_retries + 1):
        began = time.monotonic()
        try:
            reply = parse_reply(endpoint.complete(body), text=text, ids=loaded.book.ids)
        except BadReply as bad:
            log.debug("%s, attempt %d: %s", segment_id, attempt + 1, bad)
            result.failed[segment_id] = bad.reason
            if attempt < settings.max_retries:
                time.sleep(pause)
                pause = min(2 * pause, MAX_PAUSE_S)
            continue
        result.failed.pop(segment_id, None)
        rows = reply_rows(segment_id, reply, coder=result.coder, seconds=time.monotonic() - began)
        if reply.codes:
            result.coded += 1
        else:
            result.empty += 1
        return rows
    log.warning("%s: no usable reply after %d attempt(s) (%s)", segment_id, attempt + 1,
                result.failed[segment_id])  # fmt: skip
    return None
