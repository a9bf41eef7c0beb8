"""What a killed run leaves behind, and how a worker starting up removes it.

A run killed with its worker (SIGKILL, OOM, a host reboot of the container) never reaches its
`finally`: its per-run cgroups stay under /sys/fs/cgroup (holding a memory limit and, until
killed, any process left in them) and its scratch folders stay on disk. Every such name
carries the pid of the process that made it, so a leftover is one whose maker is gone.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_CONTROLLERS = ("pids", "memory")
SCRATCH_PREFIX = "dlgrade-scratch-"


def cgroup_name() -> str:
    return f"dlgrade-{os.getpid()}-{time.monotonic_ns()}"


def scratch_prefix() -> str:
    return f"{SCRATCH_PREFIX}{os.getpid()}-"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _maker_gone(name: str, pattern: re.Pattern) -> bool:
    match = pattern.fullmatch(name)
    return bool(match) and not pid_alive(int(match.group(1)))


def empty_cgroup(path: Path, rounds: int = 50) -> None:
    """Kill every process in the cgroup, then remove it (a cgroup with members cannot go)."""
    for _ in range(rounds):
        try:
            procs = (path / "cgroup.procs").read_text().split()
        except OSError:
            break
        for pid in procs:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        if not procs:
            break
        time.sleep(0.05)
    try:
        path.rmdir()
    except OSError:
        pass


def remove_stale_cgroups(root: Path = CGROUP_ROOT) -> int:
    pattern = re.compile(r"dlgrade-(\d+)-\d+")
    removed = 0
    for controller in CGROUP_CONTROLLERS:
        base = root / controller
        if not os.access(base, os.W_OK):
            continue
        for path in base.glob("dlgrade-*"):
            if path.is_dir() and _maker_gone(path.name, pattern):
                empty_cgroup(path)
                removed += not path.exists()
    return removed


def remove_stale_folders(parent: Path, prefix: str) -> int:
    """Folders `<prefix><pid>-...` in `parent` whose maker is gone."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)-.*")
    removed = 0
    if not parent.is_dir():
        return 0
    for path in parent.iterdir():
        if path.is_dir() and _maker_gone(path.name, pattern):
            shutil.rmtree(path, ignore_errors=True)
            removed += not path.exists()
    return removed


def remove_stale_scratch() -> int:
    return remove_stale_folders(Path(tempfile.gettempdir()), SCRATCH_PREFIX)
