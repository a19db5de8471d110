"""A round's codebook as a Label Studio labeling config, and annotation results back as codes.

The interface shows the segment in its dialogue (turns before and after, with pseudonyms), an
audio player for the segment when the round has audio, the codes as a Taxonomy that follows
the codebook's parents with a "why suggested" line above it (the machine suggestions' source,
score and evidence), span labels for evidence, and a memo. Each choice shows the code's
label and stores its id (``alias``), so a relabelled code keeps its annotations.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable

from pipeline.codebook import Codebook

CODES, SPANS, MEMO, TEXT = "codes", "spans", "memo", "text"
WHY = "why"  # the task field with the suggestions' evidence (pipeline.labelstudio.tasks)


def labeling_config(book: Codebook, *, audio: bool) -> str:
    """The round's XML labeling config (deterministic: an unchanged codebook changes nothing)."""
    view = ET.Element("View")
    ET.SubElement(view, "Header", value="$heading", size="5")
    if audio:
        ET.SubElement(view, "Audio", name="audio", value="$audio", hotkey="ctrl+space")
    context = {"style": "color:#777;white-space:pre-wrap;font-size:90%"}
    before = ET.SubElement(view, "View", **context)
    ET.SubElement(before, "Text", name="before", value="$before", selectionEnabled="false")
    main = ET.SubElement(view, "View", style="border-left:4px solid #1f77b4;padding-left:8px")
    labels = ET.SubElement(main, "Labels", name=SPANS, toName=TEXT)
    for code in book.codes:
        ET.SubElement(labels, "Label", value=code.label, alias=code.id)
    ET.SubElement(main, "Text", name=TEXT, value="$text", granularity="word")
    after = ET.SubElement(view, "View", **context)
    ET.SubElement(after, "Text", name="after", value="$after", selectionEnabled="false")
    ET.SubElement(view, "Header", value="Codes", size="5")
    # why the machine suggested what it did (source, score, matched words or nearest example)
    hint = ET.SubElement(view, "View", style="color:#777;font-size:85%;white-space:pre-wrap")
    ET.SubElement(hint, "Text", name=WHY, value=f"${WHY}", selectionEnabled="false")
    taxonomy = ET.SubElement(view, "Taxonomy", name=CODES, toName=TEXT, showFullPath="true")
    _choices(taxonomy, book, parent=None)
    ET.SubElement(
        view, "TextArea", name=MEMO, toName=TEXT, editable="true", rows="3",
        placeholder="Memo: why this code, doubts, links to other segments",
    )  # fmt: skip
    ET.indent(view)
    return ET.tostring(view, encoding="unicode")


def _choices(element: ET.Element, book: Codebook, parent: str | None) -> None:
    for code in book.codes:
        if code.parent == parent:
            choice = ET.SubElement(
                element, "Choice", value=code.label, alias=code.id, hint=code.description.strip()
            )
            _choices(choice, book, parent=code.id)


def code_path(book: Codebook, code_id: str) -> list[str]:
    """Ids from the root theme down to ``code_id``: the Taxonomy's value for one choice."""
    path, current = [], book.code(code_id)
    while current is not None:
        path.insert(0, current.id)
        current = book.code(current.parent) if current.parent else None
    return path or [code_id]


def taxonomy_result(book: Codebook, code_ids: Iterable[str]) -> dict:
    """A Taxonomy result region choosing ``code_ids`` (for predictions and adjudication)."""
    return {
        "from_name": CODES,
        "to_name": TEXT,
        "type": "taxonomy",
        "value": {"taxonomy": [code_path(book, c) for c in code_ids]},
    }


def span_result(code_id: str, start: int, end: int, text: str) -> dict:
    return {
        "from_name": SPANS,
        "to_name": TEXT,
        "type": "labels",
        "value": {"start": start, "end": end, "text": text, "labels": [code_id]},
    }


def memo_result(text: str) -> dict:
    return {"from_name": MEMO, "to_name": TEXT, "type": "textarea", "value": {"text": [text]}}


def read_result(result: list[dict], book: Codebook) -> tuple[list[dict], str | None]:
    """An annotation's regions as coding rows (code, span) and its memo.

    A Taxonomy path counts as its last element; labels are mapped back to ids in case a
    config without aliases was used. Unknown codes are kept as written, for the caller to report.
    """
    by_label = {c.label: c.id for c in book.codes}
    rows: list[dict] = []
    memo_parts: list[str] = []
    for region in result:
        value = region.get("value") or {}
        kind = region.get("type")
        if kind == "taxonomy":
            for path in value.get("taxonomy", []):
                if path:
                    rows.append({"code": by_label.get(path[-1], path[-1])})
        elif kind == "choices":
            rows += [{"code": by_label.get(v, v)} for v in value.get("choices", [])]
        elif kind == "labels":
            for label in value.get("labels", []):
                rows.append(
                    {
                        "code": by_label.get(label, label),
                        "span_start": value.get("start"),
                        "span_end": value.get("end"),
                        "span_text": value.get("text"),
                    }
                )
        elif kind == "textarea":
            memo_parts += [t for t in value.get("text", []) if t and t.strip()]
    return rows, ("\n".join(memo_parts) if memo_parts else None)
