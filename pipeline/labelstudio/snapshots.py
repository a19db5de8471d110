"""Export snapshots that an interrupted command left on the server, found and deleted.

A pull (and a push, to see what a project holds) reads a project through export snapshots
(:func:`pipeline.labelstudio.projects.export_tasks`): Label Studio writes the tasks to a file
on the server, the command downloads it and deletes the snapshot in a ``finally``. A command
killed in between (kill -9, a closed laptop) never gets there, and the snapshot stays: a full
copy of the project's tasks and annotations in the server's export folder and on the
project's Export page, one more after every such kill.

So each snapshot is signed with who made it, ``cda export · <host> · <pid>`` (the host as a
short hash: the title names no machine), and before a project is exported its snapshots are
swept. A signed snapshot is left behind when it comes from this host and its process is no
longer running (or is this one, which has no export under way while it sweeps). Snapshots of
a command still running (a second pull in another terminal), of other hosts (whose own next
pull sweeps them) and every snapshot a person made are left alone. The bare title
``cda export`` is what versions before the signature used; only they made it, and nothing
runs those exports any more once this version pulls.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket

from pipeline.labelstudio.client import Client

log = logging.getLogger("pipeline")

PREFIX = "cda export"
_SIGNED = re.compile(rf"^{PREFIX} · ([0-9a-f]{{8}}) · ([0-9]+)$")


def _host() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def title() -> str:
    """The title of a snapshot this process makes: the pipeline's, this host's, this pid's."""
    return f"{PREFIX} · {_host()} · {os.getpid()}"


def left_behind(snapshot_title: str | None) -> bool:
    """Whether a snapshot of this title was made by a command that can no longer delete it."""
    if snapshot_title == PREFIX:
        return True
    match = _SIGNED.match(snapshot_title or "")
    if match is None or match[1] != _host():
        return False
    pid = int(match[2])
    return pid == os.getpid() or not _running(pid)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: running
        return True
    return True


def sweep(client: Client, project_id: int, name: str) -> int:
    """Delete the project's snapshots that interrupted commands left; how many went.

    Label Studio lists a project's latest 100 snapshots, so the listing is repeated until it
    shows no more left-behind ones.
    """
    from label_studio_sdk.core.api_error import ApiError

    exports = client.sdk.projects.exports
    deleted: set[int] = set()
    with client.talking(f"deleting old export snapshots of '{name}'"):
        while stale := [
            s.id
            for s in exports.list(id=project_id)
            if left_behind(s.title) and s.id not in deleted
        ]:
            for export_pk in stale:
                try:
                    exports.delete(id=project_id, export_pk=export_pk)
                except ApiError as exc:
                    if exc.status_code != 404:  # 404: a parallel sweep was first
                        raise
            deleted.update(stale)
    if deleted:
        log.info(
            "deleted %d export snapshot(s) of '%s' left on the server by an interrupted "
            "command", len(deleted), name,
        )  # fmt: skip
    return len(deleted)
