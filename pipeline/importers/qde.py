"""Reading a REFI-QDA project (``project.qde`` in a ``.qdpx``) into plain records.

The XML is parsed with defusedxml, streamed from the archive: entity declarations and
external references are refused (no "billion laughs", no file read through an entity), and
the number of elements is bounded, since a small XML of empty elements becomes a large tree.
Every value that travels into ``codings.parquet`` or into a message (code, user and source
names, time stamps, memos, source texts) is bounded in length too: a 200 MB attribute is an
attack or a broken export, never a code name.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, iterparse

from pipeline.codings import refi
from pipeline.core.errors import CdaError
from pipeline.importers.archive import BOMB, EXPORT_AGAIN, MAX_PROJECT, MAX_TEXT, QdpxZip

NS = {"q": refi.PROJECT_NS}
# Parsed, an element costs some 300 bytes and an attribute 75: a small XML of many becomes a
# large tree. The 5,000-segment benchmark's project has 28,000 elements and 68,000 attributes.
MAX_ELEMENTS = 200_000
MAX_ATTRIBUTES = 800_000
MAX_NAME = 1_000  # characters in a code, user or source name, or a time stamp
MAX_MEMO = 100_000  # characters in a note or a description (some 15,000 words)
_HINT = EXPORT_AGAIN


@dataclass
class Selection:
    source: str
    guid: str
    start: int
    end: int
    codes: list[tuple[str, str | None, str | None]]  # code guid, creating user, creation time
    user: str | None
    stamp: str | None
    notes: list[tuple[str, str | None]]  # memo text, its author


@dataclass
class Archive:
    path: Path
    texts: dict[str, str]  # source name -> plain text
    selections: list[Selection]
    codes: dict[str, str]  # code guid -> name
    users: dict[str, str]  # user guid -> name
    project_user: str | None
    skipped_sources: list[str] = field(default_factory=list)


def read_archive(path: Path) -> Archive:
    """Parse a ``.qdpx``; structural problems are errors that name the archive and the element."""
    if not path.is_file():
        raise CdaError(f"{path} does not exist", hint="give the path of a .qdpx file")
    with QdpxZip(path) as zf:
        names = zf.names
        qde = names.get("project.qde") or next(
            (n for lower, n in names.items() if lower.endswith(".qde") and "/" not in lower), None
        )
        if qde is None:
            raise CdaError(f"{path}: has no project.qde at its root", hint=_HINT)
        root = _project(zf, qde)
        return _parse(path, root, zf, f"{path}: {qde}")


def _project(zf: QdpxZip, qde: str):
    """The root element of ``qde``, parsed as it is unpacked, within the limits."""
    where = f"{zf.path}: {qde}"
    root, elements, attributes = None, 0, 0
    with zf.open(qde, limit=MAX_PROJECT, what="project.qde") as stream:
        try:
            for _, element in iterparse(stream, events=("start",)):
                if root is None:
                    root = element
                    _check_root(where, root)
                elements += 1
                attributes += len(element.attrib)
                if elements > MAX_ELEMENTS or attributes > MAX_ATTRIBUTES:
                    raise CdaError(
                        f"{where} has more than {MAX_ELEMENTS:,} XML elements or "
                        f"{MAX_ATTRIBUTES:,} attributes, over the limit",
                        hint=BOMB,
                    )
        except ParseError as exc:
            line, column = exc.position
            raise CdaError(
                f"{where} is not well-formed XML (line {line}, column {column})", hint=_HINT
            ) from None
        except DefusedXmlException as exc:
            raise CdaError(
                f"{where} declares XML entities or external references ({_short(str(exc))}), "
                "which a REFI-QDA project never has",
                hint=BOMB,
            ) from None
    return root


def _check_root(where: str, root) -> None:
    if root.tag != f"{{{refi.PROJECT_NS}}}Project":
        raise CdaError(
            f"{where} is not a REFI-QDA project (root element {_short(root.tag)}, expected "
            f"Project in {refi.PROJECT_NS})",
            hint=_HINT,
        )


def _parse(path: Path, root, zf: QdpxZip, where: str) -> Archive:
    codes = {}
    for code in root.iterfind(".//q:CodeBook//q:Code", NS):
        codes[_guid(code, "guid", where, "Code")] = _name(code, "name", where, "Code")
    users = {}
    for user in root.iterfind("q:Users/q:User", NS):
        guid = _guid(user, "guid", where, "User")
        name = user.get("name") or user.get("id") or user.get("guid")
        users[guid] = _bounded(name, f"{where}: User {guid}", "name")
    notes = {}
    for note in root.iterfind("q:Notes/q:Note", NS):
        guid = _guid(note, "guid", where, "Note")
        label = f"{where}: Note {guid}"
        text = _plain_text(note, zf, label, limit=MAX_MEMO)
        notes[guid] = (text, _bounded(note.get("creatingUser"), label, "creatingUser"))
    project_user = _bounded(root.get("creatingUserGUID"), where, "Project creatingUserGUID")
    archive = Archive(path, {}, [], codes, users, project_user)
    for source in root.iterfind("q:Sources/q:TextSource", NS):
        name = _name(source, "name", where, "TextSource", required=False)
        name = name or _guid(source, "guid", where, "TextSource")
        label = f"{where}: TextSource '{name}'"
        text = _plain_text(source, zf, label, limit=MAX_TEXT)
        if text is None:
            archive.skipped_sources.append(f"{name} (its text is outside the archive)")
            continue
        if name in archive.texts:
            raise CdaError(f"{label}: two text sources have this name", hint="rename one")
        archive.texts[name] = text
        for sel in source.iterfind("q:PlainTextSelection", NS):
            archive.selections.append(_selection(sel, name, text, label, codes, notes))
    for kind in ("PictureSource", "PDFSource", "AudioSource", "VideoSource"):
        for other in root.iterfind(f"q:Sources/q:{kind}", NS):
            if other.find(".//q:Coding", NS) is not None:  # codings this import cannot place
                name = _name(other, "name", where, kind, required=False)
                archive.skipped_sources.append(f"{name} ({kind})")
    return archive


def _selection(sel, name: str, text: str, label: str, codes: dict, notes: dict) -> Selection:
    guid = _guid(sel, "guid", label, "PlainTextSelection")
    where = f"{label}, PlainTextSelection {guid}"
    start, end = (_int(sel, attr, where) for attr in ("startPosition", "endPosition"))
    if not 0 <= start < end <= len(text):
        raise CdaError(
            f"{where}: positions {start}-{end} lie outside its text (0-{len(text)})",
            hint="the selection and its source disagree; export the project again",
        )
    coded = []
    for coding in sel.iterfind("q:Coding", NS):
        ref = coding.find("q:CodeRef", NS)
        target = _guid(ref, "targetGUID", where, "CodeRef") if ref is not None else None
        if target not in codes:
            raise CdaError(
                f"{where}: a Coding refers to code {target}, which is not in the CodeBook",
                hint=_HINT,
            )
        user = _bounded(coding.get("creatingUser"), f"{where}, Coding", "creatingUser")
        stamp = _bounded(coding.get("creationDateTime"), f"{where}, Coding", "creationDateTime")
        coded.append((target, user, stamp))
    memos = []
    for ref in [*sel.iterfind("q:NoteRef", NS), *sel.iterfind("q:Coding/q:NoteRef", NS)]:
        target = _guid(ref, "targetGUID", where, "NoteRef")
        note = notes.get(target)
        if note and note[0] and note[0].strip():
            memos.append(note)
    user = _bounded(sel.get("creatingUser"), where, "creatingUser")
    description = sel.findtext("q:Description", default="", namespaces=NS)
    description = _bounded(description, where, "Description", limit=MAX_MEMO).strip()
    if description:
        memos.append((description, user))
    stamp = sel.get("modifiedDateTime") or sel.get("creationDateTime")
    stamp = _bounded(stamp, where, "modifiedDateTime/creationDateTime")
    return Selection(name, guid, start, end, coded, user, stamp, memos)


def _plain_text(element, zf: QdpxZip, label: str, *, limit: int) -> str | None:
    """A source's or note's text: ``PlainTextContent`` or an ``internal://`` file; None when
    it lives outside the archive (the caller reports or skips it)."""
    content = element.find("q:PlainTextContent", NS)
    if content is not None:
        return _bounded(content.text or "", label, "PlainTextContent", limit=limit)
    target = element.get("plainTextPath")
    if not target or not target.startswith("internal://"):
        return None
    member = posixpath.join("sources", target.removeprefix("internal://"))
    real = zf.names.get(member.lower())
    if real is None:
        raise CdaError(
            f"{label}: its text {_short(member)} is missing from the archive", hint=_HINT
        )
    # a character takes one to four bytes in UTF-8: the byte limit is the member's
    data = zf.read(real, limit=MAX_TEXT, what="a text source or note")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CdaError(
            f"{label}: {member} is not UTF-8 text (byte {exc.start})", hint=_HINT
        ) from None
    return _bounded(text, f"{label}: {member}", "text", limit=limit)


def _bounded(value: str | None, where: str, what: str, *, limit: int = MAX_NAME) -> str | None:
    """``value`` unless it is longer than ``limit`` characters (then the error names it)."""
    if value is not None and len(value) > limit:
        raise CdaError(
            f"{where}: {what} is {len(value):,} characters long, over the limit of {limit:,}",
            hint="shorten it in the QDA tool and export again; a value this long is no name "
            "or memo but a broken or hostile file",
        )
    return value


def _short(value: str, keep: int = 60) -> str:
    """A value as it may appear in a message (a hostile one can be megabytes long)."""
    return value if len(value) <= keep else value[:keep] + f"… ({len(value):,} characters)"


_GUID = re.compile(r"\{?[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\}?")


def _attr(element, attr: str, where: str, tag: str) -> str:
    value = element.get(attr)
    if not value:
        raise CdaError(f"{where}: a {tag} has no {attr}", hint=_HINT)
    return value


def _name(element, attr: str, where: str, tag: str, *, required: bool = True) -> str | None:
    value = _attr(element, attr, where, tag) if required else element.get(attr)
    return _bounded(value, where, f"a {tag}'s {attr}")


def _guid(element, attr: str, where: str, tag: str) -> str:
    value = _attr(element, attr, where, tag)
    if not _GUID.fullmatch(value):
        raise CdaError(f"{where}: {tag} {attr} '{_short(value)}' is not a GUID", hint=_HINT)
    return value.strip("{}").upper()


def _int(element, attr: str, where: str) -> int:
    value = _attr(element, attr, where, "PlainTextSelection")
    try:
        if len(value) > 20:  # beyond any text's length; int() of a huge string is slow
            raise ValueError
        return int(value)
    except ValueError:
        raise CdaError(
            f"{where}: {attr} '{_short(value)}' is not a whole number", hint=_HINT
        ) from None
