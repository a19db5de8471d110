"""What a language model is asked (``cda code --llm``): the prompt, the reply's JSON schema,
and the hash that ties stored codes to the prompt they were made with.

The template is fixed text with slots for the codebook, the context and the segment; its
sha256 (:data:`TEMPLATE_SHA256`) goes to ``llm.json``, so two runs are comparable only when
their hashes are equal, and a resumed run refuses to add codes made with another prompt.
Evidence is asked for as a verbatim quote, not as offsets: models count characters badly, and
a quote is checked against the segment's text (:mod:`pipeline.code.reply`).
"""

from __future__ import annotations

import hashlib
import json

from pipeline.codebook import Codebook

SYSTEM_TEMPLATE = """\
You are a qualitative researcher coding a transcript of a workshop or focus group with a \
codebook. Apply a code only when the segment itself fits the code's description and inclusion \
rule and not its exclusion rule; the context turns are only there to understand the segment \
and are never coded. Apply no code when none fits: that is a valid answer.

Answer with JSON only: "codes" (the ids of the codes that apply, possibly none), "evidence" \
(for each code applied, a short quote copied exactly from the segment that shows it) and \
"rationale" (one line on why).

Codebook:
{codebook}"""

USER_TEMPLATE = """\
Context (the turns before the segment, not to be coded):
{context}

Segment to code ({speaker}):
{segment}"""

NO_CONTEXT = "(none: the segment opens the recording)"


def _schema(ids: list[str]) -> dict:
    code = {"type": "string", "enum": ids}
    evidence = {
        "type": "object",
        "additionalProperties": False,
        "required": ["code", "quote"],
        "properties": {"code": code, "quote": {"type": "string"}},
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["codes", "evidence", "rationale"],
        "properties": {
            "codes": {"type": "array", "items": code},
            "evidence": {"type": "array", "items": evidence},
            "rationale": {"type": "string"},
        },
    }


def response_format(book: Codebook) -> dict:
    """The OpenAI ``response_format`` that constrains a reply to the codebook's ids."""
    return {
        "type": "json_schema",
        "json_schema": {"name": "codes", "strict": True, "schema": _schema(book.ids)},
    }


def _template_text() -> str:
    """Everything of the prompt that is not the study's: templates and the reply's schema."""
    return "\n\n".join(
        [SYSTEM_TEMPLATE, USER_TEMPLATE, NO_CONTEXT, json.dumps(_schema(["<id>"]), sort_keys=True)]
    )


TEMPLATE_SHA256 = hashlib.sha256(_template_text().encode("utf-8")).hexdigest()


def codebook_text(book: Codebook) -> str:
    """The codebook as the model reads it: id, label, description, rules and examples."""
    blocks = []
    for code in book.codes:
        lines = [f"- id: {code.id}", f"  label: {code.label}"]
        lines.append(f"  description: {' '.join(code.description.split())}")
        if code.parent:
            lines.append(f"  part of: {code.parent}")
        if code.include:
            lines.append(f"  include: {' '.join(code.include.split())}")
        if code.exclude:
            lines.append(f"  exclude: {' '.join(code.exclude.split())}")
        lines += [f"  example: {' '.join(example.split())}" for example in code.examples]
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def messages(
    book: Codebook, *, segment: str, speaker: str, context: list[tuple[str, str]]
) -> list[dict]:
    """The chat messages for one segment; ``context`` is (speaker, text) of earlier turns."""
    shown = "\n".join(f"{who}: {text}" for who, text in context) or NO_CONTEXT
    return [
        {"role": "system", "content": SYSTEM_TEMPLATE.format(codebook=codebook_text(book))},
        {
            "role": "user",
            "content": USER_TEMPLATE.format(context=shown, speaker=speaker, segment=segment),
        },
    ]
