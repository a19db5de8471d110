"""Read and write tables: validate against the schema, write atomically (temp file + rename).

Raw data is never written here. Writers validate before anything touches disk, so a bad table
never replaces a good one; readers validate too, so a hand-edited or stale file is caught at the
boundary instead of deep inside a stage.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.errors import CdaError
from pipeline.core.schemas import Column, Schema

try:  # advisory locks tell a copy in progress from one a killed process left (POSIX only)
    import fcntl
except ImportError:  # pragma: no cover - Windows: leftovers are ignored, never removed
    fcntl = None  # type: ignore[assignment]

MAX_LISTED_ROWS = 5
log = logging.getLogger(__name__)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only on success.

    Readers never see a half-written file, and a crash leaves the previous version intact.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes, *, only_if_changed: bool = False) -> bool:
    """Write ``data`` atomically; with ``only_if_changed`` keep an identical file (and its mtime).

    Returns whether the file was (re)written, so callers can tell make-style dependents apart.
    """
    if only_if_changed and path.exists() and path.read_bytes() == data:
        return False
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return True


def write_text(path: Path, text: str, *, only_if_changed: bool = False) -> bool:
    return write_bytes(path, text.encode("utf-8"), only_if_changed=only_if_changed)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _temp_glob(path: Path) -> str:
    """The names :func:`claimed_temp` gives its temporary files for ``path``."""
    return str(path.parent / f".{glob.escape(path.name)}.*.tmp")


def remove_stale_copies(path: Path) -> list[Path]:
    """Delete temporary files of copies to ``path`` that a killed process left behind.

    A copy in progress holds an exclusive lock on its temporary file; one whose lock can be
    taken has no writer any more (a kill releases the lock), so it is half a file and goes.
    Without ``fcntl`` (Windows) leftovers are left alone: they have unique names and block
    nothing.
    """
    removed = []
    if fcntl is None:
        return removed
    for name in glob.glob(_temp_glob(path)):
        leftover = Path(name)
        try:
            fd = os.open(leftover, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # another process is copying right now
        else:
            leftover.unlink(missing_ok=True)
            removed.append(leftover)
            log.info("removed %s, left by an interrupted copy", leftover.name)
        finally:
            os.close(fd)
    return removed


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def claimed_temp(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path``, locked while in use, removed unless renamed.

    Leftovers of earlier, killed writers of ``path`` are removed first
    (:func:`remove_stale_copies`); the lock keeps a concurrent writer from removing this one.
    Rename the file over ``path`` (``os.replace``) when it is complete.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_copies(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)
    else:  # pragma: no cover - Windows: no lock, and an open file cannot be renamed
        os.close(fd)
        fd = -1
    tmp = Path(tmp_name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)
        if fd >= 0:
            os.close(fd)


def copy_verified(source: Path, target: Path, *, sha256: str) -> None:
    """Copy ``source`` to ``target`` so that ``target`` is either absent or whole and checked.

    The bytes go to a locked temporary file beside ``target`` (:func:`claimed_temp`), are
    flushed to disk, hashed and compared with ``sha256`` (the hash the caller registers), and
    only then renamed over ``target``. A copy killed half-way leaves only the temporary file,
    which the next copy to the same target removes; a source that changed while it was
    copied, or a bad disk, is refused instead of registered.
    """
    with claimed_temp(target) as tmp:
        shutil.copyfile(source, tmp)
        shutil.copystat(source, tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        copied = sha256_file(tmp)
        if copied != sha256:
            raise CdaError(
                f"the copy of {source} into {target.parent} does not match the file that was "
                f"checked (sha256 {copied[:12]}… instead of {sha256[:12]}…)",
                hint="the file changed while it was copied, or the disk is failing: wait until "
                "nothing writes to it and run the command again",
            )
        os.replace(tmp, target)
        _fsync_dir(target.parent)


# validation ----------------------------------------------------------------------------------


def _describe_rows(df: pd.DataFrame, mask: pd.Series, schema: Schema) -> str:
    bad = df.index[mask.fillna(False).to_numpy(dtype=bool)]
    shown = []
    for idx in bad[:MAX_LISTED_ROWS]:
        row_no = df.index.get_loc(idx) + 1
        keys = ", ".join(f"{k}={df.at[idx, k]!s}" for k in schema.key if k in df.columns)
        shown.append(f"row {row_no}" + (f" ({keys})" if keys else ""))
    more = f" and {len(bad) - MAX_LISTED_ROWS} more" if len(bad) > MAX_LISTED_ROWS else ""
    return f"{len(bad)} row(s): " + "; ".join(shown) + more


def _coerce(frame: pd.DataFrame, column: Column, schema: Schema, where: str) -> pd.Series:
    """Cast one column of ``frame`` to the schema's dtype; name the bad rows when it fails."""
    series = frame[column.name]
    target = schema.pandas_dtype(column)
    try:
        if column.dtype == "string":
            # Keep missing values missing instead of turning them into the text "nan".
            return series.astype("string")
        if column.dtype in ("int64", "float64"):
            numeric = pd.to_numeric(series, errors="raise")
            return numeric.astype(target)
        if column.dtype == "bool" and pd.api.types.is_string_dtype(series):
            # a CSV holds the text "True"/"False" (as pandas writes it), not booleans
            words = series.map(lambda v: v.strip().casefold() if isinstance(v, str) else v)
            values = words.map({"true": True, "false": False})
            if (words.notna() & values.isna()).any():
                raise ValueError("expected True or False")
            return values.astype(target)
        return series.astype(target)
    except (TypeError, ValueError) as exc:
        problem = str(exc)
        if column.dtype in ("int64", "float64"):
            # Name the rows (1-based, with their key) like every other check, not pandas'
            # 0-based "position".
            numeric = pd.to_numeric(series, errors="coerce")
            bad = series.notna() & numeric.isna()
            if column.dtype == "int64":
                bad |= numeric.notna() & (numeric % 1 != 0)
            if bad.any():
                rows = _describe_rows(
                    frame.reset_index(drop=True), bad.reset_index(drop=True), schema
                )
                problem = f"invalid value(s) in {rows}"
        raise CdaError(
            f"{where}: column '{column.name}' should be {column.dtype}: {problem}",
            hint=f"fix the values or rerun the stage that writes it ({schema.producer})",
        ) from None


def frame_of(rows: list[dict] | pd.DataFrame, schema: Schema, **defaults) -> pd.DataFrame:
    """Rows as a frame with exactly ``schema``'s columns: absent ones get ``defaults`` or None.

    For builders of sparse rows (a coding without a span, a fixture), so each states only
    what it knows and the schema's column list stays the one place that names them all.
    """
    frame = pd.DataFrame(rows) if not isinstance(rows, pd.DataFrame) else rows.copy()
    for column in schema.names:
        if column not in frame:
            frame[column] = defaults.get(column)
    return frame[schema.names]


def validate(df: pd.DataFrame, schema: Schema, *, where: str) -> pd.DataFrame:
    """Return ``df`` with the schema's columns, order and dtypes, or raise a :class:`CdaError`.

    ``where`` names the file (or the file about to be written) in every message.
    """
    hint = f"rerun or fix the stage that writes it ({schema.producer})"
    missing = [c for c in schema.names if c not in df.columns]
    if missing:
        raise CdaError(f"{where}: missing column(s) {', '.join(missing)} ({schema.tag})", hint=hint)
    extra = [c for c in df.columns if c not in schema.names]
    if extra:
        raise CdaError(
            f"{where}: unexpected column(s) {', '.join(extra)} ({schema.tag})", hint=hint
        )
    out = pd.DataFrame(index=df.index)
    for column in schema.columns:
        out[column.name] = _coerce(df, column, schema, where)
    out = out.reset_index(drop=True)
    for column in schema.columns:
        values = out[column.name]
        if not column.nullable and values.isna().any():
            rows = _describe_rows(out, values.isna(), schema)
            raise CdaError(f"{where}: column '{column.name}' has empty values in {rows}", hint=hint)
        if column.nonblank:
            blank = values.notna() & (values.str.strip() == "")
            if blank.any():
                rows = _describe_rows(out, blank, schema)
                raise CdaError(f"{where}: column '{column.name}' is blank in {rows}", hint=hint)
        if column.allowed is not None:
            wrong = values.notna() & ~values.isin(column.allowed)
            if wrong.any():
                rows = _describe_rows(out, wrong, schema)
                allowed = ", ".join(column.allowed)
                raise CdaError(
                    f"{where}: column '{column.name}' must be one of {allowed}; not so in {rows}",
                    hint=hint,
                )
    if schema.key:
        dup = out.duplicated(list(schema.key), keep=False)
        if dup.any():
            rows = _describe_rows(out, dup, schema)
            raise CdaError(
                f"{where}: key ({', '.join(schema.key)}) is not unique: {rows}", hint=hint
            )
    for check in schema.checks:
        bad = check.bad_rows(out)
        if bad.any():
            rows = _describe_rows(out, bad, schema)
            raise CdaError(
                f"{where}: column '{check.column}' breaks '{check.rule}' in {rows}", hint=hint
            )
    return out


# parquet -------------------------------------------------------------------------------------


def table_bytes(df: pd.DataFrame, schema: Schema) -> bytes:
    """Serialise a validated frame to parquet bytes (deterministic for equal input)."""
    table = pa.Table.from_pandas(df, schema=schema.arrow_schema(), preserve_index=False)
    table = table.replace_schema_metadata({b"cda.schema": schema.tag.encode()})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def write_table(
    df: pd.DataFrame, schema: Schema, path: Path, *, only_if_changed: bool = False
) -> bool:
    """Validate ``df`` and write it atomically as parquet; return whether the file changed."""
    clean = validate(df, schema, where=str(path))
    return write_bytes(path, table_bytes(clean, schema), only_if_changed=only_if_changed)


def read_table(path: Path, schema: Schema) -> pd.DataFrame:
    """Read and validate a parquet table written by a stage."""
    if not path.exists():
        raise CdaError(
            f"{path} does not exist", hint=f"run the stage that writes it first ({schema.producer})"
        )
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise CdaError(
            f"{path}: not a readable parquet file ({exc})",
            hint=f"delete it and rerun {schema.producer}",
        ) from None
    tag = (table.schema.metadata or {}).get(b"cda.schema", b"").decode()
    frame = table.to_pandas()
    if tag and tag != schema.tag:
        frame = _upgrade(frame, schema, tag, path)
    return validate(frame, schema, where=str(path))


def _upgrade(frame: pd.DataFrame, schema: Schema, tag: str, path: Path) -> pd.DataFrame:
    """Lift a table written by an older release to the current version, step by step."""
    name, _, version = tag.rpartition(".v")
    start = int(version) if version.isdigit() else None
    upgrades = dict(schema.upgrades)
    steps = range(start, schema.version) if start is not None else range(0)
    if name != schema.name or start is None or not all(v in upgrades for v in steps):
        raise CdaError(
            f"{path}: holds {tag}, expected {schema.tag}",
            hint=f"rerun {schema.producer} to rebuild it with this version",
        )
    for v in steps:
        frame = upgrades[v](frame)
    return frame


# csv -----------------------------------------------------------------------------------------


def read_csv(path: Path, schema: Schema, *, required: bool = True) -> pd.DataFrame:
    """Read a hand-editable CSV (manifest, speaker key, names list) and validate it."""
    if not path.exists():
        if required:
            raise CdaError(f"{path} does not exist", hint=schema.producer)
        return schema.empty()
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except UnicodeDecodeError as exc:
        # pandas decodes in chunks, so exc.start is not an offset in the file: find the real one.
        data, start = path.read_bytes(), exc.start
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as whole:
            start = whole.start
        line = data[:start].count(b"\n") + 1
        raise CdaError(
            f"{path}:{line}: not UTF-8 text (byte {start})", hint="save it as UTF-8 CSV"
        ) from None
    except pd.errors.ParserError as exc:
        raise CdaError(f"{path}: not valid CSV ({exc})", hint="check the quoting") from None
    df = df.apply(lambda col: col.str.strip())
    for column in schema.columns:
        # Optional columns added in a later schema version may be absent from older files.
        if column.nullable and column.name not in df.columns:
            df[column.name] = ""
        if column.nullable and column.name in df.columns:
            df[column.name] = df[column.name].mask(df[column.name] == "")
    return validate(df, schema, where=str(path))


def csv_text(df: pd.DataFrame, schema: Schema, *, where: str) -> str:
    clean = validate(df, schema, where=where)
    return clean.to_csv(index=False, lineterminator="\n")


def write_csv(
    df: pd.DataFrame, schema: Schema, path: Path, *, only_if_changed: bool = False
) -> bool:
    """Validate and write a CSV atomically."""
    return write_text(path, csv_text(df, schema, where=str(path)), only_if_changed=only_if_changed)
