"""How many sandbox runs one grading may run at once on this worker (the engine's lanes,
autograder/lanes.py), from what the worker grants the job: its share of the host's cores and
memory.

A GPU worker runs one grading per GPU, so a grading leasing g of the worker's G GPUs owns g/G
of the host; a CPU worker's slot is one of `concurrency`. The engine setting `run_lanes`
(autograder/config.py) overrides the core count; the memory bound always holds: lanes times
the assignment's `resources.memory_mb` never exceeds the job's share of the worker's memory
(the worker setting `runs_memory_mb`, else the host's MemTotal).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from autograder import config

# Past 8 concurrent runs a Triton grading's remaining time is its slowest part and the runs'
# start-up (assignments/triton_kernels/PERF.md, "Grading time").
MAX_DERIVED_LANES = 8


def host_cores() -> int:
    return len(os.sched_getaffinity(0))


def host_memory_mb() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20


def lanes_for_job(settings: Mapping[str, Any], leased_gpus: int, memory_mb: int) -> int:
    """The lane count of a job leasing `leased_gpus` (0 on a CPU queue) of an assignment whose
    runs may each use `memory_mb`."""
    owned_gpus = len(settings["gpus"])
    share = leased_gpus / owned_gpus if leased_gpus and owned_gpus else 1 / max(int(settings["concurrency"]), 1)
    configured = int(config.get("run_lanes"))
    if configured > 0:
        lanes = configured
    elif leased_gpus:
        lanes = min(MAX_DERIVED_LANES, int(host_cores() * share))
    else:
        lanes = 1  # a CPU worker's slot is one core
    within_memory = int((settings.get("runs_memory_mb") or host_memory_mb()) * share) // max(int(memory_mb), 1)
    return max(1, min(lanes, within_memory))
