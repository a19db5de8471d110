"""Hostile ``.qdpx`` archives (issue 17, #4 and #10): zip bombs, lying headers, huge values,
broken deflate streams. Each case runs the real ``cda import qdpx`` in a subprocess under a
1 GiB address-space limit and checks the exit status, that the message names the member and
the limit, that there is no traceback, that it is quick, and that nothing was written.

The 1 GiB members are built without ever holding or compressing 1 GiB: after a full flush a
deflate stream starts afresh, so each MiB of zeros compresses to the same bytes, which are
repeated. A zip is then written by hand around the stream (the headers can say what we like).
"""

from __future__ import annotations

import io
import os
import random
import shutil
import struct
import subprocess
import tempfile
import threading
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.core.io import read_table
from pipeline.core.paths import Workspace
from pipeline.core.schemas import SEGMENTS

CDA = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "cda"
GIB = 1 << 30
MIB = 1 << 20
NS = "urn:QDA-XML:project:1.0"
USER = "0AF4C1B8-36C0-4B0B-9E6F-0D5A1F2C3B4D"
SOURCE = "7E1D8C2A-4B3F-4A5E-9C6D-1F2E3D4C5B6A"
PEAKS: dict[str, tuple[float, float]] = {}  # case -> (peak RSS in MB, seconds), for the record


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    peak_mb: float  # the child's own peak resident size (os.wait4)
    seconds: float


def cda(*args: str, memory: int | None = None, timeout: float = 60) -> Run:
    """The real CLI in a subprocess, under an address-space cap; killed after ``timeout``."""

    def limit() -> None:  # a bomb fails fast instead of swapping
        if memory is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "COLUMNS")}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        proc = subprocess.Popen(
            [str(CDA), *args], stdout=out, stderr=err, text=True, preexec_fn=limit,
            env={**env, "COLUMNS": "200"},
        )  # fmt: skip
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        return Run(proc.returncode, out.read(), err.read(), usage.ru_maxrss / 1024, seconds)


def refused(proc: Run, *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def files_under(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Workspace:
    """The sample, imported and pseudonymised: segments and a round-1 codebook to import into."""
    from pipeline.cli.init import init_workspace
    from pipeline.core.config import load_config
    from pipeline.importers import import_transcripts
    from pipeline.pseudonymise import pseudonymise

    workspace = Workspace.at(tmp_path_factory.mktemp("hostile-qdpx") / "ws")
    init_workspace(workspace, sample=True)
    config = load_config(workspace)
    import_transcripts(workspace, config)
    pseudonymise(workspace, config)
    return workspace


@pytest.fixture
def ws(study: Workspace, tmp_path: Path) -> Workspace:
    target = tmp_path / "ws"
    shutil.copytree(study.root, target)
    return Workspace.at(target)


def import_refused(
    ws: Workspace, archive: Path, *needles: str, case: str | None = None, timeout: float = 60
) -> Run:
    """``cda import qdpx`` of ``archive`` under 1 GiB: refused, quickly, with nothing written."""
    before = files_under(ws.root)
    proc = cda("import", "qdpx", str(archive), "--round", "1", "-w", str(ws.root), memory=GIB,
               timeout=timeout)  # fmt: skip
    if case:
        PEAKS[case] = (proc.peak_mb, proc.seconds)
        print(f"\npeak RSS {case}: {proc.peak_mb:.0f} MB in {proc.seconds:.1f} s")
    refused(proc, str(archive), *needles)
    assert files_under(ws.root) == before
    return proc


# building archives ------------------------------------------------------------------------------


@dataclass
class Member:
    name: str
    data: bytes  # as stored in the archive
    crc: int
    size: int  # what the headers declare it unpacks to
    method: int = zipfile.ZIP_DEFLATED


def deflated(content: bytes, name: str) -> Member:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return Member(name, c.compress(content) + c.flush(), zlib.crc32(content), len(content))


def members(qde: str, text: str | bytes | None = None) -> list[Member]:
    """project.qde and, when given, the text source it points at."""
    found = [deflated(qde.encode(), "project.qde")]
    if text is not None:
        data = text.encode() if isinstance(text, str) else text
        found.append(deflated(data, f"sources/{SOURCE}.txt"))
    return found


def bomb(name: str, size: int, *, head: bytes = b"", tail: bytes = b"", fill: bytes = b"\0"):
    """A member of ``head``, ``size`` bytes of ``fill`` and ``tail``, compressed about 1000:1."""
    chunk = fill * MIB
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    assert c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH) == block  # each MiB the same bytes
    end = c.compress(tail) + c.flush()
    assert size % MIB == 0 and size >= 2 * MIB
    crc = zlib.crc32(head)
    for _ in range(size // MIB):
        crc = zlib.crc32(chunk, crc)
    data = start + block * (size // MIB) + end
    return Member(name, data, zlib.crc32(tail, crc), len(head) + size + len(tail))


def write_zip(path: Path, members: list[Member], *, offsets: list[int] | None = None) -> Path:
    """A zip written field by field (no zip64: every size here is under 4 GiB)."""
    local, central = bytearray(), bytearray()
    for i, m in enumerate(members):
        name = m.name.encode()
        offset = len(local) if offsets is None else offsets[i]
        if offsets is None:
            local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, m.method, 0, 0x21, m.crc,
                                 len(m.data), m.size, len(name), 0) + name + m.data  # fmt: skip
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, m.method, 0, 0x21,
                               m.crc, len(m.data), m.size, len(name), 0, 0, 0, 0, 0,
                               offset) + name  # fmt: skip
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, min(len(members), 0xFFFF),
                      min(len(members), 0xFFFF), len(central), len(local), 0)  # fmt: skip
    path.write_bytes(bytes(local + central + end))
    return path


def burgers_text(ws: Workspace) -> str:
    """The burgers recording as a text source: its turns, one a line."""
    seg = read_table(ws.segments, SEGMENTS)
    return "".join(t + "\n" for t in seg[seg["recording_id"] == "burgers"]["text"])


def guid(i: int, kind: int = 0xA) -> str:
    return f"{kind:X}{i:07X}-0000-4000-8000-000000000000"


def project(
    text_ref: str,
    *,
    codes: int = 1,
    selection: tuple[int, int] = (0, 10),
    user: str = "Anna",
    code_name: str = "havenots",
    stamp: str = "2026-11-01T09:30:00Z",
    description: str = "",
    note: str = "",
    sources: int = 1,
) -> str:
    """A small REFI-QDA project: ``codes`` codes on one selection of the first text source
    (``text_ref`` is its text element or attribute), with a description and a note."""
    code_list = "".join(
        f'<Code guid="{guid(i)}" name="{code_name if i == 0 else f"code {i}"}" isCodable="true"/>'
        for i in range(codes)
    )
    note_ref = f'<NoteRef targetGUID="{guid(0, 0xC)}"/>' if note else ""
    codings = "".join(
        f'<Coding guid="{guid(i, 0xB)}" creatingUser="{USER}" creationDateTime="{stamp}">'
        f'<CodeRef targetGUID="{guid(i)}"/>{note_ref}</Coding>'
        for i in range(codes)
    )
    start, end = selection
    described = f"<Description>{description}</Description>" if description else ""
    notes = (
        f'<Notes><Note guid="{guid(0, 0xC)}" name="m" creatingUser="{USER}">'
        f"<PlainTextContent>{note}</PlainTextContent></Note></Notes>"
        if note
        else ""
    )
    attr, _, inner = text_ref.partition("|")  # 'plainTextPath="..."' or '|<PlainTextContent>'
    more = "".join(
        f'<TextSource guid="{guid(i, 0xD)}" name="copy {i}" {attr}/>' for i in range(1, sources)
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="{NS}" name="hostile" creatingUserGUID="{USER}">
  <Users><User guid="{USER}" name="{user}"/></Users>
  <CodeBook><Codes>{code_list}</Codes></CodeBook>
  <Sources>
    <TextSource guid="{SOURCE}" name="burgers" {attr}>{inner}
      <PlainTextSelection guid="{guid(0, 0xE)}" startPosition="{start}" endPosition="{end}"
          creatingUser="{USER}">{described}{codings}</PlainTextSelection>
    </TextSource>{more}
  </Sources>{notes}
</Project>
"""


def good_archive(ws: Workspace, path: Path, **options) -> Path:
    """A project another tool could have written, coding the start of the burgers recording."""
    text = burgers_text(ws)
    options.setdefault("selection", (0, len(text.splitlines()[0])))
    qde = project(f'plainTextPath="internal://{SOURCE}.txt"', **options)
    return write_zip(path, members(qde, text))


def test_the_good_archive_imports(ws: Workspace, tmp_path: Path) -> None:
    """The baseline the hostile cases vary: without the hostile part it imports."""
    proc = cda("import", "qdpx", str(good_archive(ws, tmp_path / "good.qdpx")), "--round", "1",
               "-w", str(ws.root), memory=GIB)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "imported 1 coding(s) (Anna: 1)" in proc.stdout


# zip bombs (#4) ---------------------------------------------------------------------------------


def test_a_1_gib_project_qde_is_refused_from_its_header(ws: Workspace, tmp_path: Path) -> None:
    head = f'<?xml version="1.0"?><Project xmlns="{NS}" name="bomb">'.encode()
    member = bomb("project.qde", GIB, head=head, tail=b"</Project>", fill=b" ")
    archive = write_zip(tmp_path / "bomb.qdpx", [member])
    assert archive.stat().st_size < 2 * MIB
    import_refused(ws, archive, "project.qde unpacks to 1.0 GiB", "limit of 16 MiB",
                   "zip bomb", case="1 GiB project.qde")  # fmt: skip


def test_a_1_gib_text_source_is_refused_from_its_header(ws: Workspace, tmp_path: Path) -> None:
    qde = project(f'plainTextPath="internal://{SOURCE}.txt"')
    archive = write_zip(tmp_path / "bomb.qdpx", [*members(qde), bomb(f"sources/{SOURCE}.txt", GIB)])
    import_refused(ws, archive, f"sources/{SOURCE}.txt unpacks to 1.0 GiB", "limit of 4 MiB",
                   case="1 GiB text source")  # fmt: skip


def test_a_200_mb_attribute_is_refused_before_it_is_parsed(ws: Workspace, tmp_path: Path) -> None:
    """The issue's case: a 200 MB code name went into codings.parquet and hung the summary."""
    text = burgers_text(ws)
    qde = project(f'plainTextPath="internal://{SOURCE}.txt"', code_name="@@",
                  selection=(0, len(text.splitlines()[0])))  # fmt: skip
    head, tail = qde.encode().split(b"@@")
    parts = [bomb("project.qde", 200 * MIB, head=head, tail=tail, fill=b"x"), members("", text)[1]]
    archive = write_zip(tmp_path / "bomb.qdpx", parts)
    import_refused(ws, archive, "project.qde unpacks to 200.0 MiB", "limit of 16 MiB",
                   case="200 MB attribute")  # fmt: skip


@pytest.mark.parametrize("member", ["project.qde", "source"])
def test_a_member_whose_header_understates_its_size_is_cut_there(
    ws: Workspace, tmp_path: Path, member: str
) -> None:
    """The header says 4 KiB, the stream holds 1 GiB: reading stops at what the header says
    (and the checksum, over the whole GiB, then fails)."""
    qde = project(f'plainTextPath="internal://{SOURCE}.txt"')
    if member == "project.qde":
        head = f'<?xml version="1.0"?><Project xmlns="{NS}" name="bomb">'.encode()
        liar = bomb("project.qde", GIB, head=head, fill=b" ")
        parts = [liar, members(qde, burgers_text(ws))[1]]
    else:
        liar = bomb(f"sources/{SOURCE}.txt", GIB)
        parts = [*members(qde), liar]
    liar.size = 4096
    archive = write_zip(tmp_path / "liar.qdpx", parts)
    import_refused(ws, archive, f"{liar.name} is damaged (Bad CRC-32",
                   case=f"lying header ({member})")  # fmt: skip


def test_a_small_member_compressed_like_a_bomb_is_refused(ws: Workspace, tmp_path: Path) -> None:
    """3 MiB of zeros is under the size limit for a text, but 1000:1 is no text."""
    qde = project(f'plainTextPath="internal://{SOURCE}.txt"')
    parts = [*members(qde), bomb(f"sources/{SOURCE}.txt", 3 * MIB)]
    archive = write_zip(tmp_path / "bomb.qdpx", parts)
    import_refused(ws, archive, f"sources/{SOURCE}.txt is compressed", "over the limit of 100:1")


def test_many_sources_reading_one_member_hit_the_total_limit(ws: Workspace, tmp_path: Path) -> None:
    """1,000 text sources point at one 3 MiB member (honest, compressed 2:1): 3 GiB of text
    from a 1.6 MB archive; reading stops past the 32 MiB read from any one archive."""
    text = random.Random(17).randbytes(3 * MIB // 2).hex().encode()  # 3 MiB, compresses 2:1
    ref = f'plainTextPath="internal://{SOURCE}.txt"'
    qde = project(ref, sources=1_000)
    archive = write_zip(tmp_path / "many.qdpx", members(qde, text))
    import_refused(ws, archive, "past the limit of 32 MiB", f"reading sources/{SOURCE}.txt",
                   case="1,000 sources on one 3 MiB member")  # fmt: skip


@pytest.mark.parametrize(
    ("count", "needle"),
    [(50_001, "lists 50,001 members, over the limit of 50,000"),
     (170_000, "directory is 8.6 MiB, over the limit of 8 MiB")],
    ids=["members", "directory"],
)  # fmt: skip
def test_an_archive_listing_too_many_members_is_refused(
    ws: Workspace, tmp_path: Path, count: int, needle: str
) -> None:
    """Each listed member becomes an object in memory: the directory is bounded before it is
    read, and the count after. Every entry points at one tiny member."""
    one = deflated(b"x", "m")
    listed = [Member(f"{i:07}", one.data, one.crc, one.size) for i in range(count)]
    archive = write_zip(tmp_path / "wide.qdpx", listed, offsets=[0] * count)
    import_refused(ws, archive, needle)


@pytest.mark.parametrize(("elements", "attributes"), [(200_001, 1), (80_000, 11)])
def test_a_project_of_too_many_elements_or_attributes_is_refused(
    ws: Workspace, tmp_path: Path, elements: int, attributes: int
) -> None:
    """A small XML of many elements or attributes is a large tree; these compress only 3:1."""
    rng = random.Random(4)
    body = "".join(
        "<Note " + " ".join(f'a{j}="{rng.getrandbits(16):04x}"' for j in range(attributes)) + "/>"
        for _ in range(elements)
    )
    qde = f'<?xml version="1.0"?><Project xmlns="{NS}" name="wide">{body}</Project>'
    archive = write_zip(tmp_path / "wide.qdpx", members(qde))
    import_refused(ws, archive, "has more than 200,000 XML elements or 800,000 attributes",
                   case=f"{elements:,} elements of {attributes} attributes")  # fmt: skip


def test_a_bzip2_member_is_refused_unread(ws: Workspace, tmp_path: Path) -> None:
    """zipfile unpacks a bzip2 chunk whole, however far it expands (128 MiB of zeros is 112
    bytes), so the size it reads is not bounded: such members are refused, not read."""
    good = good_archive(ws, tmp_path / "good.qdpx")
    archive = tmp_path / "bzip2.qdpx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(archive, "w", zipfile.ZIP_BZIP2) as out:
        for name in src.namelist():
            out.writestr(name, src.read(name))
    import_refused(ws, archive, "project.qde is compressed with bzip2", "deflate")


def test_a_project_at_the_limits_is_read_within_1_gib(ws: Workspace, tmp_path: Path) -> None:
    """The limits themselves are safe. A project.qde just under them all (16 MiB, 199,000
    elements, 796,000 short distinct attribute values, a 4-byte character in each element's
    text, so 4 bytes a character in memory) whose four text sources read one text just under
    4 MiB, likewise (32 MiB read in all), is read and matched under 1 GiB, and refused only
    because it codes nothing. (This guards the limits' calibration; main, which had no limits,
    passes it too.)"""
    rng = random.Random(8)
    filler = "\U0001f600" + "x" * (16 * MIB // 199_000 - 52)
    body = "".join(
        "<A " + " ".join(f'a{j}="{rng.getrandbits(16):04x}"' for j in range(4)) + f">{filler}</A>"
        for _ in range(199_000)
    )
    ref = f'plainTextPath="internal://{SOURCE}.txt"'
    qde = project(ref, sources=4).replace("<Users>", body + "<Users>")
    words = " ".join(rng.choice(["ja", "nee", "misschien", "digitaal"]) for _ in range(700_000))
    text = ("\U0001f600 " + words)[: 4 * MIB - 8]
    archive = write_zip(tmp_path / "limits.qdpx", members(qde, text))
    assert 15 * MIB < len(qde.encode()) < 16 * MIB and 4 * MIB - 16 < len(text.encode()) < 4 * MIB
    # it takes some 10 s alone (parsing, matching 4 MiB texts): slack for a loaded machine
    import_refused(ws, archive, "no coding lines up", case="at the limits (no bomb)", timeout=300)


# values too long for what they are (#4) ----------------------------------------------------------

LONG = random.Random(2).randbytes(1_000_000).hex()  # 2,000,000 characters, compressed 2:1


@pytest.mark.parametrize(
    ("option", "value", "needle"),
    [("user", LONG, "name is 2,000,000 characters long, over the limit of 1,000"),
     ("code_name", LONG, "a Code's name is 2,000,000 characters long, over the limit of 1,000"),
     ("stamp", LONG, "creationDateTime is 2,000,000 characters long, over the limit of 1,000"),
     ("description", "y" * 200_000,
      "Description is 200,000 characters long, over the limit of 100,000"),
     ("note", "z" * 200_000,
      "PlainTextContent is 200,000 characters long, over the limit of 100,000")],
    ids=["user", "code", "stamp", "description", "note"],
)  # fmt: skip
def test_a_value_too_long_for_a_name_or_memo_is_refused(
    ws: Workspace, tmp_path: Path, option: str, value: str, needle: str
) -> None:
    archive = good_archive(ws, tmp_path / "long.qdpx", **{option: value})
    import_refused(ws, archive, "project.qde", needle)


def test_a_memo_repeated_on_every_segment_and_code_is_bounded(
    ws: Workspace, tmp_path: Path
) -> None:
    """A 100,000-character note (at its limit) on a selection of all 77 burgers turns with 10
    codes: each of the 770 rows carries it, 77 million characters for codings.parquet (the
    limit is 20 million)."""
    text = burgers_text(ws)
    archive = good_archive(ws, tmp_path / "memo.qdpx", codes=10, selection=(0, len(text)),
                           note="m" * 100_000)  # fmt: skip
    import_refused(ws, archive, "memos and coded spans come to more than 20,000,000 characters")


def test_a_selection_with_thousands_of_codes_cannot_ask_for_millions_of_rows(
    ws: Workspace, tmp_path: Path
) -> None:
    """6,500 codes on a selection of all 77 burgers turns: 500,500 codings from 2 MB of XML."""
    text = burgers_text(ws)
    archive = good_archive(ws, tmp_path / "rows.qdpx", codes=6_500, selection=(0, len(text)))
    import_refused(ws, archive, "give more than 500,000 codings", case="500,500 rows")


def test_reading_stops_at_the_limit_whatever_the_stream_gives(tmp_path: Path) -> None:
    """zipfile cuts a stored or deflate member at its declared size; counting while reading is
    the second line, for a stream that gives more than its header said."""
    from pipeline.core.errors import CdaError
    from pipeline.importers.archive import CHUNK, Bounded, QdpxZip

    with QdpxZip(write_zip(tmp_path / "a.qdpx", members("<x/>"))) as zf:
        stream = Bounded(zf, io.BytesIO(bytes(5 * MIB)), "project.qde", limit=MIB,
                         what="project.qde", packed=5 * MIB)  # fmt: skip
        with pytest.raises(CdaError, match="more than its header says, past the limit of 1 MiB"):
            while stream.read(CHUNK):
                pass
        assert MIB < stream.count <= MIB + CHUNK and zf.total == stream.count


# broken archives (#10) --------------------------------------------------------------------------


@pytest.mark.parametrize("member", ["project.qde", "source"])
@pytest.mark.parametrize("damage", ["stream", "checksum"])
def test_a_damaged_member_gets_a_clear_error(
    ws: Workspace, tmp_path: Path, member: str, damage: str
) -> None:
    text = burgers_text(ws)
    qde = project(f'plainTextPath="internal://{SOURCE}.txt"', selection=(0, 10))
    parts = members(qde, text)
    broken = parts[0] if member == "project.qde" else parts[1]
    if damage == "stream":  # the first block's type bits say 11, which deflate reserves
        broken.data = b"\xff" + broken.data[1:]
        needle = "invalid block type"
    else:
        broken.crc ^= 1
        needle = "Bad CRC-32"
    archive = write_zip(tmp_path / "broken.qdpx", parts)
    import_refused(ws, archive, f"{broken.name} is damaged (", needle, "export the project again")


@pytest.mark.parametrize(
    ("doctype", "ref"),
    [('<!DOCTYPE Project [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
      "&b;"),
     ('<!DOCTYPE Project [<!ENTITY x SYSTEM "file:///etc/passwd">]>', "&x;")],
    ids=["laughs", "external"],
)  # fmt: skip
def test_xml_entities_are_refused(ws: Workspace, tmp_path: Path, doctype: str, ref: str) -> None:
    """No "billion laughs" and no file read through an entity: a project never declares one."""
    qde = project(f'plainTextPath="internal://{SOURCE}.txt"', code_name=ref)
    qde = qde.replace("<Project", doctype + "\n<Project", 1)
    archive = write_zip(tmp_path / "entities.qdpx", members(qde, burgers_text(ws)))
    import_refused(ws, archive, "project.qde declares XML entities")
