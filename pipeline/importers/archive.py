"""Reading a ``.qdpx`` (a zip) within bounds, so a hostile archive cannot exhaust memory or time.

A zip's headers say how large each member unpacks, but a 1 MB archive can hold a 1 GiB member
(a "zip bomb"), and headers can lie. So every member this import reads is checked before it is
opened (declared size, compression ratio, method) and counted while it is read, in chunks, so
reading stops at the limit whatever the header said. Only ``project.qde`` and the plain-text
files it points to are ever read: audio, video, PDF and rich-text members are left unopened,
however large (a project with its recordings stays importable).

The limits are far above what a real project needs (a few workshops make an archive of a few
MB; the 5,000-segment benchmark's ``project.qde`` is 3.7 MB, compressed 7:1, its two
transcripts 1 MB each, 3:1) and far below what would exhaust a laptop.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

from pipeline.core.errors import CdaError

MiB = 1 << 20
# Each is far above a real project and low enough that what it lets through stays within a
# few hundred MB (the tests run every case under a 1 GiB address-space limit).
MAX_DIRECTORY = 8 * MiB  # the zip's central directory, which zipfile reads whole
MAX_MEMBERS = 50_000  # a project has one or two per source
MAX_PROJECT = 16 * MiB  # project.qde, the XML (4 times the benchmark's)
MAX_TEXT = 4 * MiB  # one plain-text source or note (a 3-hour workshop is about 0.2 MB)
MAX_TOTAL = 32 * MiB  # everything read from one archive, counted per read
MAX_RATIO = 100  # real XML and text compress 3-10:1
RATIO_FROM = 1 * MiB  # a small member may compress as it likes
CHUNK = 64 * 1024

READABLE = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
# Python's zipfile unpacks a bzip2 or LZMA chunk whole, however large it expands, so those
# members are refused rather than trusted; QDA tools write deflate.
METHODS = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA", 9: "Deflate64"}
# what a damaged member raises while it is unpacked
DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, struct.error)
EXPORT_AGAIN = "export the project again from the QDA tool as a REFI-QDA project (.qdpx)"
BOMB = "it looks like a zip bomb: do not use this file; " + EXPORT_AGAIN


def size_text(n: int) -> str:
    """A size as people read it: '64 MiB', '1.0 GiB', '512 bytes'."""
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GiB"
    if n >= MiB:
        return f"{n / MiB:.0f} MiB" if n % MiB == 0 else f"{n / MiB:.1f} MiB"
    return f"{n:,} bytes"


class QdpxZip:
    """An open ``.qdpx`` whose members are read within the limits above.

    ``names`` maps each member's lower-cased name to its real one (tools differ in case).
    """

    def __init__(self, path: Path):
        self.path = path
        self.total = 0  # bytes read so far, over all members
        _check_directory(path)
        try:
            self.zf = zipfile.ZipFile(path)
        except (*DAMAGED, zipfile.LargeZipFile):
            raise CdaError(
                f"{path}: not a QDPX archive (not a zip file)", hint=EXPORT_AGAIN
            ) from None
        infos = self.zf.infolist()
        if len(infos) > MAX_MEMBERS:
            self.zf.close()
            raise CdaError(
                f"{path}: the archive lists {len(infos):,} members, over the limit of "
                f"{MAX_MEMBERS:,} (a project has one or two per source)",
                hint=BOMB,
            )
        self.names = {i.filename.lower(): i.filename for i in infos}

    def __enter__(self) -> QdpxZip:
        return self

    def __exit__(self, *exc) -> None:
        self.zf.close()

    def read(self, member: str, *, limit: int, what: str) -> bytes:
        """The whole of ``member`` (``what`` it is, for messages), refused past ``limit`` bytes,
        declared or actual."""
        with self.open(member, limit=limit, what=what) as stream:
            parts = []
            while chunk := stream.read(CHUNK):
                parts.append(chunk)
        return b"".join(parts)

    def open(self, member: str, *, limit: int, what: str) -> Bounded:
        """A stream of ``member`` that raises a :class:`CdaError` as soon as it passes a limit."""
        info = self.zf.getinfo(member)
        where = f"{self.path}: {member}"
        if info.flag_bits & 0x1:
            raise CdaError(f"{where} is encrypted", hint="export the project without a password")
        if info.compress_type not in READABLE:
            method = METHODS.get(info.compress_type, f"method {info.compress_type}")
            raise CdaError(
                f"{where} is compressed with {method}; only stored and deflate members are read",
                hint="zip it again with ordinary (deflate) compression, or " + EXPORT_AGAIN,
            )
        if info.file_size > limit:
            raise CdaError(
                f"{where} unpacks to {size_text(info.file_size)}, over the limit of "
                f"{size_text(limit)} for {what}",
                hint=BOMB if _ratio(info.file_size, info.compress_size) > MAX_RATIO else _SPLIT,
            )
        _check_ratio(where, info.file_size, info.compress_size)
        if self.total + info.file_size > MAX_TOTAL:
            raise CdaError(_over_total(self.path, member), hint=_SPLIT)
        try:
            stream = self.zf.open(info)
        except DAMAGED as exc:
            raise CdaError(f"{where} is damaged ({exc})", hint=EXPORT_AGAIN) from None
        return Bounded(self, stream, member, limit=limit, what=what, packed=info.compress_size)


class Bounded:
    """A member's stream that counts what it gives and stops at the limits (a header may lie)."""

    def __init__(
        self, owner: QdpxZip, stream: BinaryIO, member: str, *, limit: int, what: str, packed: int
    ):
        self.owner, self.stream, self.member, self.what = owner, stream, member, what
        self.limit, self.packed, self.count = limit, packed, 0

    def __enter__(self) -> Bounded:
        return self

    def __exit__(self, *exc) -> None:
        self.stream.close()

    def read(self, n: int = CHUNK) -> bytes:
        """Up to ``n`` bytes, at most one chunk (callers read until b'')."""
        where = f"{self.owner.path}: {self.member}"
        try:
            data = self.stream.read(min(n, CHUNK) if n and n > 0 else CHUNK)
        except DAMAGED as exc:
            raise CdaError(f"{where} is damaged ({exc})", hint=EXPORT_AGAIN) from None
        self.count += len(data)
        self.owner.total += len(data)
        if self.count > self.limit:
            raise CdaError(
                f"{where} unpacks to more than its header says, past the limit of "
                f"{size_text(self.limit)} for {self.what}",
                hint=BOMB,
            )
        _check_ratio(where, self.count, self.packed)
        if self.owner.total > MAX_TOTAL:
            raise CdaError(_over_total(self.owner.path, self.member), hint=_SPLIT)
        return data


_SPLIT = (
    "a real project is far smaller; if this one is genuine, export fewer sources per project "
    "(one round or group at a time)"
)


def _ratio(size: int, packed: int) -> float:
    return size / max(packed, 1)


def _check_ratio(where: str, size: int, packed: int) -> None:
    if size > RATIO_FROM and _ratio(size, packed) > MAX_RATIO:
        raise CdaError(
            f"{where} is compressed {_ratio(size, packed):,.0f}:1 ({size_text(size)} from "
            f"{size_text(packed)}), over the limit of {MAX_RATIO}:1 for members over "
            f"{size_text(RATIO_FROM)}",
            hint=BOMB,
        )


def _over_total(path: Path, member: str) -> str:
    return (
        f"{path}: reading {member} takes the text read from the archive past the limit of "
        f"{size_text(MAX_TOTAL)} (project.qde and every text it points to, counted per use)"
    )


def _check_directory(path: Path) -> None:
    """Refuse a central directory too large to hold, before zipfile reads it whole (a small
    file can list a great many members, each of which becomes an object in memory)."""
    find_end = getattr(zipfile, "_EndRecData", None)  # zipfile's own reader, zip64 included
    if find_end is None:  # a Python without it: the member count below still holds
        return
    try:
        with path.open("rb") as handle:
            end = find_end(handle)
    except (OSError, *DAMAGED):
        return  # zipfile.ZipFile gives the error
    if end and end[zipfile._ECD_SIZE] > MAX_DIRECTORY:
        raise CdaError(
            f"{path}: the archive's directory is {size_text(end[zipfile._ECD_SIZE])}, over the "
            f"limit of {size_text(MAX_DIRECTORY)}",
            hint=BOMB,
        )
