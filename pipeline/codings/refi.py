"""What the REFI-QDA exports and the import share: namespaces, GUIDs, codes, transcript layout.

REFI-QDA (www.qdasoftware.org) is the exchange standard of ATLAS.ti, NVivo, MAXQDA, QualCoder
and others: a codebook file (``.qdc``) and a project archive (``.qdpx``: ``project.qde`` XML
plus the sources). Positions in a text source count characters (Unicode code points) of its
plain text, which is why the transcript layout below is defined in one place: the export
writes it and the import reads codings back through it.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd

from pipeline.codebook import Codebook
from pipeline.core.citation import clock
from pipeline.core.errors import CdaError
from pipeline.core.transcript import in_turn_order

XSI = "http://www.w3.org/2001/XMLSchema-instance"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
CODEBOOK_XSD = "http://schema.qdasoftware.org/versions/Codebook/v1.0/Codebook.xsd"
PROJECT_NS = "urn:QDA-XML:project:1.0"
PROJECT_XSD = "http://schema.qdasoftware.org/versions/Project/v1.0/Project.xsd"


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """``text`` without the control characters XML 1.0 forbids (a stray form feed in a memo
    would otherwise make the whole project unreadable for other tools)."""
    return _NOT_XML.sub("", text)


def guid(study: str, kind: str, *parts: object) -> str:
    """A stable GUID for one object of a study, so re-exports line up in other tools."""
    name = ":".join(["cda-pipeline", study, kind, *map(str, parts)])
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name)).upper()


def code_guid(study: str, code_id: str) -> str:
    """The GUID of a code (the same in ``.qdc`` and ``.qdpx``, so both import as one code)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"cda-pipeline:{study}:{code_id}")).upper()


def code_description(code) -> str:
    """Description plus the inclusion and exclusion rules, as other tools have no field for them."""
    text = code.description.strip()
    if code.include:
        text += f"\nInclude: {code.include.strip()}"
    if code.exclude:
        text += f"\nExclude: {code.exclude.strip()}"
    return text


def add_codes(parent: ET.Element, book: Codebook, ns: str, extra: list[str] = ()) -> None:
    """``<Code>`` elements under ``parent``, children nested in their parent code.

    ``extra`` are code ids used in codings but missing from the codebook: they are added at the
    top level, so every coding keeps a code to point at.
    """

    def add(element: ET.Element, parent_id: str | None) -> None:
        for code in book.codes:
            if code.parent != parent_id:
                continue
            child = ET.SubElement(
                element, f"{{{ns}}}Code",
                {"guid": code_guid(book.study, code.id), "name": code.label, "isCodable": "true"},
            )  # fmt: skip
            ET.SubElement(child, f"{{{ns}}}Description").text = xml_safe(code_description(code))
            add(child, code.id)

    add(parent, None)
    for code_id in extra:
        child = ET.SubElement(
            parent, f"{{{ns}}}Code",
            {"guid": code_guid(book.study, code_id), "name": code_id, "isCodable": "true"},
        )  # fmt: skip
        ET.SubElement(
            child, f"{{{ns}}}Description"
        ).text = f"Not in the codebook of {book.study} round {book.round}; kept from the codings."


def xml_text(root: ET.Element, ns: str) -> str:
    ET.register_namespace("", ns)
    ET.register_namespace("xsi", XSI)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def transcript(segments: pd.DataFrame) -> tuple[str, dict[str, tuple[int, int]]]:
    """One recording's plain text, a turn per line (``P03 [0:01:23]: text``), and where each
    segment's text sits in it (start, end character offsets)."""
    lines, where, offset = [], {}, 0
    ordered = in_turn_order(segments, first=("start",))
    for row in ordered.itertuples():
        stamp = f" [{clock(row.start)}]" if pd.notna(row.start) else ""
        head = f"{row.speaker}{stamp}: "
        where[row.segment_id] = (offset + len(head), offset + len(head) + len(row.text))
        line = head + row.text + "\n"
        lines.append(line)
        offset += len(line)
    return "".join(lines), where


def check_against(xml: str, xsd: Path, *, what: str) -> None:
    """Validate ``xml`` with a REFI-QDA XSD the user has (Project.xsd or Codebook.xsd from
    www.qdasoftware.org); the schema is not bundled, so this runs only when asked for."""
    from lxml import etree  # a dependency of python-docx

    try:
        schema = etree.XMLSchema(etree.parse(str(xsd)))
    except (OSError, etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
        raise CdaError(f"{xsd}: not a readable XML schema ({exc})", hint=_XSD_HINT) from None
    document = etree.fromstring(xml.encode("utf-8"))
    if schema.validate(document):
        return
    errors = [f"line {e.line}: {e.message}" for e in schema.error_log][:5]
    raise CdaError(
        f"{what} does not validate against {xsd.name}: " + "; ".join(errors),
        hint="nothing was written; please report this with the schema version you used",
    )


_XSD_HINT = "download Project.xsd or Codebook.xsd from https://www.qdasoftware.org"
