"""Checking a chat-completions reply before any of it becomes a coding.

A server that promised structured output can still answer with prose, a refusal, a reply cut
off at the token limit, a code the codebook lacks or a quote that is not in the segment. Each
is a :class:`BadReply` with a short reason (counted in the run's summary); only a reply that
passes every check becomes a :class:`Reply`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


class BadReply(Exception):
    """A reply that cannot be stored as codes; ``reason`` is its kind, for the summary."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Evidence:
    code: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Reply:
    codes: tuple[str, ...]
    evidence: tuple[Evidence, ...]
    rationale: str


def message_of(body: object) -> dict:
    """``choices[0].message`` of a chat-completions response, after its finish reason."""
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BadReply("malformed response", "no choices[0]")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise BadReply("malformed response", "no choices[0].message")
    if message.get("refusal"):
        raise BadReply("refusal", str(message["refusal"])[:120])
    if choice.get("finish_reason") == "length":
        raise BadReply("truncated", "finish_reason length: the reply hit the token limit")
    return message


def find_quote(text: str, quote: str) -> tuple[int, int] | None:
    """Where ``quote`` is in ``text``: as written, else ignoring case (first occurrence)."""
    quote = quote.strip()
    if not quote:
        return None
    at = text.find(quote)
    if at < 0:
        at = text.casefold().find(quote.casefold())
        # casefold can change lengths (ß → ss): only trust a match of the same length
        if at < 0 or len(text.casefold()) != len(text):
            return None
    return at, at + len(quote)


def parse_reply(body: object, *, text: str, ids: list[str]) -> Reply:
    """The codes of one reply to one segment's ``text``, or :class:`BadReply`."""
    content = message_of(body).get("content")
    if not isinstance(content, str) or not content.strip():
        raise BadReply("no content")
    try:
        data = json.loads(content)
    except ValueError:
        raise BadReply("not JSON", content[:80]) from None
    if not isinstance(data, dict):
        raise BadReply("not the schema", f"a JSON {type(data).__name__}, not an object")
    codes, evidence, rationale = data.get("codes"), data.get("evidence", []), data.get("rationale")
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise BadReply("not the schema", "'codes' is not a list of code ids")
    if not isinstance(evidence, list) or not all(isinstance(e, dict) for e in evidence):
        raise BadReply("not the schema", "'evidence' is not a list of objects")
    if rationale is not None and not isinstance(rationale, str):
        raise BadReply("not the schema", "'rationale' is not text")
    known = set(ids)
    unknown = sorted({c for c in codes if c not in known})
    if unknown:
        raise BadReply("unknown code", ", ".join(unknown)[:120])
    found = []
    for item in evidence:
        code, quote = item.get("code"), item.get("quote")
        if code not in codes:
            raise BadReply("evidence for a code not applied", str(code)[:60])
        if not isinstance(quote, str):
            raise BadReply("not the schema", "an evidence quote is not text")
        where = find_quote(text, quote)
        if where is None:
            raise BadReply("quote not in the segment", quote[:60])
        found.append(Evidence(code, where[0], where[1], text[where[0] : where[1]]))
    line = " ".join((rationale or "").split())
    return Reply(tuple(dict.fromkeys(codes)), tuple(dict.fromkeys(found)), line)
