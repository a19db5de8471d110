"""A real single-node SLURM cluster on localhost, started and stopped by a test fixture.

Debian's ``slurm-wlm`` and ``munge`` (``apt-get install slurm-wlm munge``) provide the daemons.
The fixture writes a fresh munge key, starts ``munged``, writes a minimal ``slurm.conf`` (one
node with this machine's real CPUs and memory from ``slurmd -C``, one partition, no
accounting, no cgroups) with every state, spool, pid and log file under the test's tmp folder
and its own ports, starts ``slurmctld`` and ``slurmd`` as child processes (no systemd), and
waits until ``sinfo`` shows the node idle. Clients find the cluster through ``SLURM_CONF``
(:attr:`Cluster.env`), so a system-wide SLURM, if any, is never touched.

tests/test_slurm.py holds the fixture: without the binaries it skips, unless
``CDA_REQUIRE_SLURM=1`` (CI) makes that a failure.
The daemons run as the current user; as root (CI) that is what a real cluster does.
"""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "sinfo", "scancel")
PARTITION = "cda"
# A Unix socket path longer than this is refused by the kernel (sun_path is 108 bytes).
MAX_SOCKET = 100


@dataclass(frozen=True)
class Cluster:
    conf: Path
    node: str
    partition: str
    cpus: int
    logs: Path

    @property
    def env(self) -> dict[str, str]:
        """The current environment, pointed at this cluster (sbatch passes it to the tasks)."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(args), capture_output=True, text=True, env=self.env, timeout=timeout
        )


def missing_binaries() -> list[str]:
    return [name for name in BINARIES if shutil.which(name) is None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_line() -> tuple[str, int, str]:
    """(node name, CPUs, the NodeName line) of this machine as ``slurmd -C`` reports it."""
    out = subprocess.run(
        ["slurmd", "-C"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("NodeName="))
    fields = dict(part.split("=", 1) for part in line.split())
    return fields["NodeName"], int(fields["CPUs"]), line


def slurm_conf(root: Path, *, node: str, node_spec: str, socket_path: Path) -> str:
    """A minimal one-node configuration; every path it names is under ``root``."""
    user = getpass.getuser()
    return "\n".join(
        [
            "ClusterName=cda-test",
            f"SlurmctldHost={node}(127.0.0.1)",
            f"SlurmctldPort={free_port()}",
            f"SlurmdPort={free_port()}",
            f"SlurmUser={user}",
            f"SlurmdUser={user}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={socket_path}",
            f"StateSaveLocation={root / 'state'}",
            f"SlurmdSpoolDir={root / 'spool'}",
            f"SlurmctldPidFile={root / 'slurmctld.pid'}",
            f"SlurmdPidFile={root / 'slurmd.pid'}",
            f"SlurmctldLogFile={root / 'slurmctld.log'}",
            f"SlurmdLogFile={root / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "MpiDefault=none",
            "SwitchType=switch/none",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none",
            "MailProg=/bin/true",
            "ReturnToService=2",
            f"{node_spec} NodeAddr=127.0.0.1 State=UNKNOWN",
            f"PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]
    )


def _tail(path: Path, lines: int = 15) -> str:
    if not path.is_file():
        return f"({path.name} missing)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_idle(cluster: Cluster, procs: list[subprocess.Popen], *, timeout: float = 60) -> None:
    """Block until ``sinfo`` shows the node idle; fail with the daemons' logs otherwise."""
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            break
        result = cluster.run("sinfo", "-h", "-N", "-n", cluster.node, "-o", "%t", timeout=10)
        state = result.stdout.strip()
        if state == "idle":
            return
        time.sleep(0.5)
    logs = "\n".join(
        f"--- {name}\n{_tail(cluster.logs / name)}"
        for name in ("munged.log", "slurmctld.log", "slurmd.log")
    )
    raise RuntimeError(f"the SLURM node never became idle (last state {state!r})\n{logs}")


def start_cluster(root: Path) -> tuple[Cluster, list[subprocess.Popen]]:
    """Start munged, slurmctld and slurmd under ``root``; the processes are the caller's."""
    for sub in ("state", "spool", "munge"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    munge = root / "munge"
    munge.chmod(0o700)
    socket_path = munge / "munge.socket"
    if len(str(socket_path)) > MAX_SOCKET:
        raise RuntimeError(f"tmp path too long for a Unix socket: {socket_path}")
    key = munge / "munge.key"
    key.write_bytes(secrets.token_bytes(1024))
    key.chmod(0o400)
    node, cpus, spec = node_line()
    conf = root / "slurm.conf"
    conf.write_text(slurm_conf(root, node=node, node_spec=spec, socket_path=socket_path))
    cluster = Cluster(conf=conf, node=node, partition=PARTITION, cpus=cpus, logs=root)
    procs: list[subprocess.Popen] = []

    def spawn(*args: str) -> subprocess.Popen:
        log = (root / f"{Path(args[0]).name}.out").open("w")
        proc = subprocess.Popen(list(args), stdout=log, stderr=subprocess.STDOUT, env=cluster.env)
        log.close()
        procs.append(proc)
        return proc

    try:
        # --force: pytest's tmp folders are 0700, which munged otherwise refuses for its socket
        spawn(
            "munged", "--foreground", "--force", f"--key-file={key}", f"--socket={socket_path}",
            f"--pid-file={munge / 'munged.pid'}", f"--log-file={root / 'munged.log'}",
            f"--seed-file={munge / 'munged.seed'}",
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while not socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        spawn("slurmctld", "-D", "-i", "-f", str(conf))
        spawn("slurmd", "-D", "-f", str(conf), "-N", node)
        wait_idle(cluster, procs)
    except BaseException:
        stop(procs)
        raise
    return cluster, procs


def stop(procs: list[subprocess.Popen]) -> None:
    """Stop the daemons in reverse order of start: slurmd, slurmctld, munged."""
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
