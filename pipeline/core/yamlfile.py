"""Load YAML files that people edit (config, codebooks) and report errors by line and field.

PyYAML drops positions once a document becomes Python objects; we compose the node graph
once to remember the line of every mapping key and list item, so a pydantic error such as
``codes.3.parent`` can be reported as ``codebooks/x/round-1.yaml:42 codes[3].parent``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from pipeline.core.errors import CdaError

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)

# Study files are small: a codebook of hundreds of codes is well under a megabyte.
MAX_BYTES = 8 * 1024 * 1024


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*loc, str(key_node.value))
            lines[key] = key_node.start_mark.line + 1
            _walk(value_node, key, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*loc, index), lines)


def load(path: Path) -> tuple[Any, dict[Loc, int]]:
    """Parse ``path``; return the data and a map from field location to line number."""
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise CdaError(
            f"{path}: {size / 1024 / 1024:.0f} MB is too large for a settings or codebook file "
            f"(at most {MAX_BYTES // 1024 // 1024} MB)",
            hint="is this the right file? Large word lists belong in CSV files",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CdaError(
            f"{path}: not UTF-8 text (byte {exc.start})", hint="save it as UTF-8"
        ) from None
    return load_text(text, path)


def load_text(text: str, path: Path | str = "<text>") -> tuple[Any, dict[Loc, int]]:
    """Like :func:`load`, for YAML that is not a file of its own (e.g. package data).

    Aliases (``*name``) are refused before anything is built: a few lines of nested aliases
    expand to gigabytes (a "billion laughs"), and nothing in a study file needs them.
    """
    try:
        _refuse_aliases(text, path)
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise CdaError(
            f"{where}: invalid YAML: {problem}", hint="check indentation and quoting"
        ) from None
    lines: dict[Loc, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def _refuse_aliases(text: str, path: Path | str) -> None:
    """Scan the event stream (constant memory) for an alias."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise CdaError(
                f"{path}:{event.start_mark.line + 1}: YAML alias *{event.anchor} is not "
                "accepted in study files",
                hint=f"write the value of &{event.anchor} out in full where it is used",
            )


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def line_of(loc: Loc, lines: dict[Loc, int]) -> int | None:
    """The line of ``loc`` or of its nearest enclosing field that has one."""
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


def parse(model: type[M], path: Path, data: Any, lines: dict[Loc, int]) -> M:
    """Validate ``data`` with a pydantic model; on failure name file, line and field."""
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        line = line_of(loc, lines)
        where = f"{path}:{line}" if line else str(path)
        more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
        raise CdaError(
            f"{where}: {format_loc(loc)}: {err['msg']}{more}", hint="fix the field and run again"
        ) from None


def load_model(model: type[M], path: Path) -> M:
    data, lines = load(path)
    return parse(model, path, data, lines)
