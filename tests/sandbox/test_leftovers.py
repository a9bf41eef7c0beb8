"""A worker starting up removes the cgroups and scratch folders of runs killed with an earlier
worker, and only those: a live run's are left alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.sandbox import leftovers


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_scratch_and_job_folders_of_dead_makers_go(tmp_path):
    dead = tmp_path / f"{leftovers.SCRATCH_PREFIX}{_dead_pid()}-abc"
    live = tmp_path / f"{leftovers.SCRATCH_PREFIX}{os.getpid()}-def"
    unrelated = tmp_path / "dlgrade-grade-xyz"
    for folder in (dead, live, unrelated):
        (folder / "inner").mkdir(parents=True)
        (folder / "inner" / "big.bin").write_bytes(b"x" * 1000)
    assert leftovers.remove_stale_folders(tmp_path, leftovers.SCRATCH_PREFIX) == 1
    assert not dead.exists() and live.exists() and unrelated.exists()


@pytest.mark.skipif(not os.access(leftovers.CGROUP_ROOT / "pids", os.W_OK) and os.geteuid() != 0,
                    reason="cgroup v1 pids controller not writable here: the process sandbox makes no cgroups either")
def test_a_dead_runs_cgroup_is_emptied_and_removed():
    base = leftovers.CGROUP_ROOT / "pids"
    stale = base / f"dlgrade-{_dead_pid()}-1"
    live = base / f"dlgrade-{os.getpid()}-2"
    stale.mkdir()
    live.mkdir()
    orphan = subprocess.Popen(["sleep", "300"])  # a process the killed run left running
    try:
        (stale / "cgroup.procs").write_text(str(orphan.pid))
        assert leftovers.remove_stale_cgroups() >= 1
        assert not stale.exists() and live.exists()
        assert orphan.wait(timeout=10) == -9, "the leftover's process was killed"
    finally:
        orphan.kill()
        for path in (stale, live):
            if path.exists():
                leftovers.empty_cgroup(path)
