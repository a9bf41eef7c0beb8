"""The engine entry points a worker calls, as one value handed to the Celery app.

`ENGINE` is the real engine, imported and called directly; the worker's own tests build their
Celery app with a stand-in `Engine` instead (tests/worker/standin_app.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autograder.assign import assign
from autograder.bundle import unpack
from autograder.grading import grade


@dataclasses.dataclass(frozen=True)
class Engine:
    # grade(assignment_dir, upload, *, sandbox, seed, on_progress, gpus, trusted_share, run_lanes)
    #   -> result with to_dict()
    grade: Callable[..., Any]
    # run_gate(package_dir, *, out_dir, sandbox[, jobs, perf_only, gpus]) -> report with passed, bundle_path, bundle_digest
    run_gate: Callable[..., Any]
    # unpack(bundle_archive, dest) -> the unpacked assignment folder
    unpack: Callable[[Path, Path], Any]


ENGINE = Engine(grade=grade, run_gate=assign, unpack=unpack)
