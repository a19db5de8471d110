"""``cda transcribe --slurm``: one ``sbatch`` array task per recording."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

from pipeline.core.config import StudyConfig
from pipeline.core.io import write_text
from pipeline.core.paths import Workspace
from pipeline.transcribe.jobs import Job


def usable_cpus(env: Mapping[str, str]) -> int:
    """CPUs this process may use: a SLURM task's allocation, else its affinity mask.

    ``os.cpu_count()`` counts the whole node: inside an array task with ``--cpus-per-task=8``
    on a 64-core node it would start 64 threads per worker, fighting the other tasks there.
    ``SLURM_CPUS_PER_TASK`` is the allocation even where the cluster does not bind CPUs
    (``TaskPlugin=task/none``), so it comes first.
    """
    value = env.get("SLURM_CPUS_PER_TASK", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def slurm_script(ws: Workspace, config: StudyConfig, jobs: list[Job], folder: Path) -> Path:
    """Write an ``sbatch`` array script (one task per recording) and the list it reads.

    Task ``i`` transcribes line ``i + 1`` of ``recordings.txt``. Afterwards, run
    ``make transcribe`` once: every step is then cached and it only writes the index.
    """
    folder.mkdir(parents=True, exist_ok=True)
    listing = folder / "recordings.txt"
    write_text(listing, "".join(f"{job.recording_id}\n" for job in jobs))
    s = config.transcribe.slurm
    lines = [
        "#!/bin/bash",
        "#SBATCH --job-name=cda-transcribe",
        f"#SBATCH --array=0-{len(jobs) - 1}",
        f"#SBATCH --time={s.time}",
        f"#SBATCH --cpus-per-task={s.cpus}",
        f"#SBATCH --mem={s.mem}",
        f"#SBATCH --output={folder.resolve()}/%A_%a.log",
    ]
    if s.gpus:
        lines.append(f"#SBATCH --gpus={s.gpus}")
    if s.partition:
        lines.append(f"#SBATCH --partition={s.partition}")
    cda = f"{shlex.quote(sys.executable)} -m pipeline"
    lines += [
        "set -euo pipefail",
        *s.setup,
        f'RID=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" {shlex.quote(str(listing.resolve()))})',
        f"cd {shlex.quote(str(Path.cwd()))}",
        f"exec ${{CDA:-{cda}}} transcribe --workspace {shlex.quote(str(ws.root))} "
        f'--only "$RID" --jobs 1',
        "",
    ]
    script = folder / "transcribe.sbatch"
    write_text(script, "\n".join(lines))
    script.chmod(0o755)
    return script
