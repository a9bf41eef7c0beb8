"""Lanes: one grading's correctness tests split over sandbox runs that run at the same time.

A GPU grading of a Triton assignment spends most of its time compiling kernels, one after the
other in one process, while the host's other cores idle. With `run_lanes` above 1 the student
run (student_run.py) splits the tests that time nothing into up to that many lanes, balanced
by how long each test took in the trusted run, runs the lanes concurrently, and then runs the
perf tests alone: no other run of the grading shares the GPU or the CPU while they are timed.

A part's tests stay in one lane unless the part alone is longer than a lane's share: the part
is the unit the restart policy moves to the end of a lane ("the troubled part goes last").
"""

from __future__ import annotations

import threading

from autograder.package import Assignment
from autograder.sandbox_runs import ProgressCallback
from autograder.trusted_run import TrustedRun


def perf_tests(nodeids: list[str], trusted: TrustedRun, assignment: Assignment) -> set[str]:
    """The tests that time something: in a perf part, or recording a perf check (trusted run)."""
    perf_parts = {part.name for part in assignment.parts if part.kind == "perf"}
    found = set()
    for nodeid in nodeids:
        record = trusted.records.tests.get(nodeid) or {}
        if trusted.part_of(nodeid) in perf_parts or any(c.get("kind") == "perf" for c in record.get("checks", [])):
            found.add(nodeid)
    return found


def split(nodeids: list[str], lanes: int, trusted: TrustedRun, *, keep_parts: bool = True) -> list[list[str]]:
    """At most `lanes` non-empty lanes covering `nodeids`, each in the order of `nodeids`.

    Longest group first to the least loaded lane, where a group is a part's tests, or a run of
    consecutive tests of a part that alone exceeds a lane's share (total / lanes); with
    `keep_parts` False every test is a group of its own."""
    if lanes <= 1 or len(nodeids) <= 1:
        return [list(nodeids)] if nodeids else []
    position = {nodeid: index for index, nodeid in enumerate(nodeids)}
    by_part: dict[str | None, list[str]] = {}
    for nodeid in nodeids:
        by_part.setdefault(trusted.part_of(nodeid), []).append(nodeid)
    share = sum(trusted.duration_of(nodeid) for nodeid in nodeids) / lanes
    groups: list[list[str]] = []
    for tests in by_part.values():
        if not keep_parts:
            groups += [[nodeid] for nodeid in tests]
        else:
            groups += _chunks(tests, share, trusted) if _cost(tests, trusted) > share else [tests]
    loads = [0.0] * min(lanes, len(groups))
    assigned: list[list[str]] = [[] for _ in loads]
    for group in sorted(groups, key=lambda g: (-_cost(g, trusted), position[g[0]])):
        lightest = loads.index(min(loads))
        assigned[lightest] += group
        loads[lightest] += _cost(group, trusted)
    return [sorted(lane, key=position.__getitem__) for lane in assigned if lane]


def _cost(tests: list[str], trusted: TrustedRun) -> float:
    return sum(trusted.duration_of(nodeid) for nodeid in tests)


def _chunks(tests: list[str], share: float, trusted: TrustedRun) -> list[list[str]]:
    """Consecutive runs of `tests`, each closed once it reaches `share` seconds."""
    chunks, current, load = [], [], 0.0
    for nodeid in tests:
        current.append(nodeid)
        load += trusted.duration_of(nodeid)
        if load >= share:
            chunks.append(current)
            current, load = [], 0.0
    return chunks + ([current] if current else [])


class LaneProgress:
    """Progress of concurrent runs as one count: each lane's watcher reports what its lane has
    done; the student sees the sum over lanes, never going back, and the part (never the test's
    name: the worker's reporter drops it) of the lane that reported last."""

    def __init__(self, on_progress: ProgressCallback | None, total: int):
        self.on_progress, self.total = on_progress, total
        self.done_by_lane: dict[object, int] = {}
        self.shown = 0
        self.lock = threading.Lock()

    def for_lane(self, lane: object) -> ProgressCallback | None:
        if self.on_progress is None:
            return None

        def report(progress: dict) -> None:
            with self.lock:  # one report at a time, so what goes out is in order
                self.done_by_lane[lane] = max(self.done_by_lane.get(lane, 0), int(progress.get("done", 0)))
                self.shown = min(max(self.shown, sum(self.done_by_lane.values())), self.total)
                self.on_progress({"test": progress.get("test"), "part": progress.get("part"),
                                  "done": self.shown, "total": self.total})

        return report
