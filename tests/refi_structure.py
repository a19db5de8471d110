"""The REFI-QDA Project schema's structure (Project.xsd, QDA-XML 1.0, 2019), as checks.

The published XSD cannot be fetched here, so the rules it sets for the elements a coding
exchange uses are written out below: each element's children in their ``xsd:sequence`` order,
its required and allowed attributes, and the simple types (GUID, integer, dateTime). On top,
what the schema states in comments or implies: every reference resolves, a text source has
its text in exactly one place, and ``internal://`` paths exist in the archive.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime

NS = "urn:QDA-XML:project:1.0"
GUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}|\{[0-9a-fA-F-]{36}\}")
_STAMPED = {"creatingUser", "creationDateTime", "modifyingUser", "modifiedDateTime"}
_TEXT = (
    ["Description", "PlainTextContent", "PlainTextSelection", "Coding", "NoteRef", "VariableValue"],
    {"guid"},
    {"name", "richTextPath", "plainTextPath", *_STAMPED},
)

# element: (children in sequence order, required attributes, optional attributes)
RULES: dict[str, tuple[list[str], set[str], set[str]]] = {
    "Project": (
        [
            "Users",
            "CodeBook",
            "Variables",
            "Cases",
            "Sources",
            "Notes",
            "Links",
            "Sets",
            "Graphs",
            "Description",
            "NoteRef",
        ],
        {"name"},
        {
            "origin",
            "creatingUserGUID",
            "creationDateTime",
            "modifyingUserGUID",
            "modifiedDateTime",
            "basePath",
        },
    ),
    "Users": (["User"], set(), set()),
    "User": ([], {"guid"}, {"name", "id"}),
    "CodeBook": (["Codes"], set(), set()),
    "Codes": (["Code"], set(), set()),
    "Code": (["Description", "NoteRef", "Code"], {"guid", "name", "isCodable"}, {"color"}),
    "Variables": (["Variable"], set(), set()),
    "Variable": (["Description"], {"guid", "name", "typeOfVariable"}, set()),
    "VariableValue": (["VariableRef", "TextValue"], set(), set()),
    "VariableRef": ([], {"targetGUID"}, set()),
    "Sources": (["TextSource", "AudioSource"], set(), set()),  # a choice, in any order
    "TextSource": _TEXT,
    "Note": _TEXT,
    "Notes": (["Note"], set(), set()),
    "PlainTextSelection": (
        ["Description", "Coding", "NoteRef"],
        {"guid", "startPosition", "endPosition"},
        {"name", *_STAMPED},
    ),
    "Coding": (["CodeRef", "NoteRef"], {"guid"}, {"creatingUser", "creationDateTime"}),
    "CodeRef": ([], {"targetGUID"}, set()),
    "NoteRef": ([], {"targetGUID"}, set()),
    "AudioSource": (
        ["Description", "Transcript", "AudioSelection", "Coding", "NoteRef", "VariableValue"],
        {"guid"},
        {"name", "path", "currentPath", *_STAMPED},
    ),
    "Transcript": (
        ["Description", "PlainTextContent", "SyncPoint", "TranscriptSelection", "NoteRef"],
        {"guid"},
        {"name", "richTextPath", "plainTextPath", *_STAMPED},
    ),
    "SyncPoint": ([], {"guid"}, {"timeStamp", "position"}),
    "Description": ([], set(), set()),
    "PlainTextContent": ([], set(), set()),
    "TextValue": ([], set(), set()),
}
_GUID_ATTRS = {
    "guid",
    "targetGUID",
    "creatingUser",
    "modifyingUser",
    "creatingUserGUID",
    "modifyingUserGUID",
}
_INT_ATTRS = {"startPosition", "endPosition", "timeStamp", "position"}
_TIME_ATTRS = {"creationDateTime", "modifiedDateTime"}
_NON_EMPTY = {"Users", "Codes", "Variables", "Notes"}  # maxOccurs unbounded, minOccurs 1


def _local(tag: str) -> str:
    if not tag.startswith(f"{{{NS}}}"):
        raise AssertionError(f"element {tag} is outside the {NS} namespace")
    return tag.split("}", 1)[1]


def problems(root: ET.Element, archive_names: set[str]) -> list[str]:
    """Every way ``root`` departs from the schema's structure (empty when it conforms)."""
    found: list[str] = []
    guids: dict[str, str] = {}
    refs: list[tuple[str, str]] = []  # (element kind, target guid)

    def visit(element: ET.Element, path: str) -> None:
        name = _local(element.tag)
        here = f"{path}/{name}"
        if name not in RULES:
            found.append(f"{here}: element not in the schema's exchange subset")
            return
        order, required, optional = RULES[name]
        attrs = {k for k in element.attrib if not k.startswith("{")}
        found.extend(f"{here}: missing attribute {a}" for a in sorted(required - attrs))
        found.extend(
            f"{here}: attribute {a} not allowed" for a in sorted(attrs - required - optional)
        )
        for attr, value in element.attrib.items():
            if attr in _GUID_ATTRS and not GUID.fullmatch(value):
                found.append(f"{here}: {attr}='{value}' is not a GUID")
            if attr in _INT_ATTRS and not re.fullmatch(r"-?\d+", value):
                found.append(f"{here}: {attr}='{value}' is not an integer")
            if attr in _TIME_ATTRS:
                try:
                    datetime.fromisoformat(value.replace("Z", "+00:00"))
                except ValueError:
                    found.append(f"{here}: {attr}='{value}' is not an xsd:dateTime")
            if attr == "isCodable" and value not in ("true", "false", "1", "0"):
                found.append(f"{here}: isCodable='{value}' is not a boolean")
        if "guid" in element.attrib:
            key = element.get("guid").upper()
            if key in guids:
                found.append(f"{here}: guid {key} is already used by a {guids[key]}")
            guids[key] = name
        if name in ("CodeRef", "NoteRef", "VariableRef"):
            refs.append((name, element.get("targetGUID", "").upper()))
        children = [_local(c.tag) for c in element]
        if name in _NON_EMPTY and not children:
            found.append(f"{here}: needs at least one child")
        if name != "Sources":
            positions = [order.index(c) if c in order else -1 for c in children]
            for child, pos in zip(children, positions, strict=True):
                if pos < 0:
                    found.append(f"{here}: child {child} not allowed")
            if positions != sorted(positions):
                found.append(f"{here}: children out of the schema's order: {children}")
        elif any(c not in order for c in children):
            found.append(f"{here}: unexpected source kind in {children}")
        if name in ("TextSource", "Note", "Transcript"):
            inline = element.find(f"{{{NS}}}PlainTextContent") is not None
            linked = element.get("plainTextPath")
            if inline == bool(linked) and name != "Transcript":
                found.append(f"{here}: needs PlainTextContent or plainTextPath, not both/neither")
        for attr in ("plainTextPath", "path"):
            value = element.get(attr, "")
            if value.startswith("internal://") and (
                "sources/" + value.removeprefix("internal://") not in archive_names
            ):
                found.append(f"{here}: {attr} {value} is not in the archive")
        for child in element:
            visit(child, here)

    visit(root, "")
    wanted = {"CodeRef": "Code", "NoteRef": "Note", "VariableRef": "Variable"}
    for kind, target in refs:
        if guids.get(target) != wanted[kind]:
            found.append(f"{kind} {target} does not point at a {wanted[kind]}")
    return found
