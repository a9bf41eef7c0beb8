"""The student run and its policy: resumed past a test that hangs or kills the run (the
tests of the troubled part go last), within a total budget and a restart count; perf tests
whose measurements spread too widely are measured again; every test that could not finish
gets a verdict in words a student can act on. With several lanes (lanes.py) the tests that
time nothing run in concurrent runs, each lane under that policy (restarts, time budget and
the runaway rule counted over all of them), and the perf tests after them, alone."""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from autograder import config, run_log
from autograder.cells import write_cells
from autograder.lanes import LaneProgress, perf_tests, split
from autograder.notebook import MODULE_FILENAME, Converted
from autograder.package import Assignment
from autograder.records_io import RunRecords
from autograder.runaway import RepeatedDeath, cell_names
from autograder.sandbox import Mount, SandboxOutcome
from autograder.sandbox_runs import (ModuleUnderTest, ProgressCallback, RunRequest, SandboxRunner, describe_end,
                                     ended_cleanly)
from autograder.trusted_run import TrustedRun


class StudentRecords(RunRecords):
    """Student records gathered over several runs, each test's arrays in its own folder."""

    def __init__(self, merged: RunRecords, roots: dict[str, Path]):
        super().__init__(merged.tests, merged.order, merged.problems, None, merged.root)
        self.roots = roots

    def for_test(self, nodeid: str) -> RunRecords:
        return RunRecords(self.tests, self.order, self.problems, None, self.roots.get(nodeid, self.root))


@dataclasses.dataclass
class StudentRun:
    records: StudentRecords
    crashes: dict[str, tuple[str, str]]  # nodeid -> (status, message) for tests that could not finish
    restarts: int
    wall_s: float  # sandbox time summed over the runs
    out_dirs: list[Path]  # every student run's output folder, in run order (their cell logs)
    log: list[dict]  # one run_log entry per run, for staff
    deaths: RepeatedDeath  # how the runs died (runaway.py)
    perf_runs: dict[str, int] = dataclasses.field(default_factory=dict)  # nodeid -> runs that timed it (noisy ones)


def module_under_test(submission: Path, converted: Converted | None, work: Path, assignment: Assignment,
                      with_reference_solution: bool) -> ModuleUnderTest:
    """What the student run imports: the converted upload (or a package folder, in the gate)."""
    if converted is None:
        mount, target = Mount(submission.resolve(), "/grader/submission"), "/grader/submission"
    else:
        folder = work / "submission"
        folder.mkdir()
        if converted.cells:  # a notebook: one file per cell, run one by one
            module_file = write_cells(folder, converted.cells).name
        else:
            module_file = MODULE_FILENAME
            (folder / module_file).write_text(converted.source, encoding="utf-8")
        mount, target = Mount(folder, "/grader/submission"), f"/grader/submission/{module_file}"
    if not with_reference_solution:
        return ModuleUnderTest(mount, target)
    # A copy in a folder of its own: every backend can mount the folder as it is.
    mutant_dir = work / "mutant"
    shutil.copytree(assignment.reference_dir, mutant_dir / "reference_solution",
                    ignore=shutil.ignore_patterns("__pycache__"))
    mutant_dir.chmod(0o755)
    return ModuleUnderTest(mount, target, (Mount(mutant_dir, "/grader/mutant"),), ("/grader/mutant",))


def student_run(runner: SandboxRunner, module: ModuleUnderTest, trusted: TrustedRun, nodeids: list[str],
                on_progress: ProgressCallback | None, *, student_lines: dict[int, str] | None = None,
                lanes: int = 1) -> StudentRun:
    """`student_lines` (module line -> cell) lets a repeated death name the cell it happened in.
    With `lanes` above 1 the tests that time nothing run in up to that many concurrent runs and
    the perf tests after them, alone (lanes.py); the result reads as one run's would."""
    run_timeout_s = runner.setup.assignment.resources.run_timeout_s
    shared = _Shared(RunRecords.at(runner.setup.work), RepeatedDeath(cell_names(student_lines)),
                     time.monotonic(), time.monotonic() + run_timeout_s * 1.5 + 30)
    progress = LaneProgress(on_progress, len(nodeids))
    timed = perf_tests(nodeids, trusted, runner.setup.assignment) if lanes > 1 else set()
    parallel = split([nodeid for nodeid in nodeids if nodeid not in timed], lanes, trusted)
    if len(parallel) > 1:
        with ThreadPoolExecutor(max_workers=len(parallel), thread_name_prefix="dlgrade-lane") as pool:
            running = [pool.submit(_run_lane, runner, module, trusted, tests, shared, progress.for_lane(lane), lane)
                       for lane, tests in enumerate(parallel)]
            for lane in running:
                lane.result()
    elif parallel:
        _run_lane(runner, module, trusted, parallel[0], shared, progress.for_lane(0), 0)
    if timed:  # after every lane has ended: nothing else of this grading runs while they are timed
        _run_lane(runner, module, trusted, [nodeid for nodeid in nodeids if nodeid in timed], shared,
                  progress.for_lane("perf"), "perf")
    merged, roots = shared.merged, shared.roots
    if lanes > 1:  # the lanes recorded in whatever order they ended; one run records in test order
        position = {nodeid: index for index, nodeid in enumerate(nodeids)}
        merged.order.sort(key=lambda nodeid: position.get(nodeid, len(position)))
    perf_runs: dict[str, int] = {}
    _remeasure_noisy_perf(runner, module, trusted, shared, perf_runs)
    runs = sorted(shared.runs, key=lambda run: run[0])  # in the order they started
    return StudentRun(StudentRecords(merged, roots), shared.crashes, shared.restarts, shared.wall_total,
                      [out_dir for _, out_dir, _ in runs], [entry for _, _, entry in runs], shared.deaths, perf_runs)


@dataclasses.dataclass
class _Shared:
    """What the lanes of one student run share; every change is made holding `lock`."""

    merged: RunRecords
    deaths: RepeatedDeath  # runaway.py: counted over every lane, as over one run
    started: float  # time.monotonic() when the student run began
    budget_end: float  # no run of the student run goes past this (time.monotonic())
    roots: dict[str, Path] = dataclasses.field(default_factory=dict)
    crashes: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    restarts: int = 0
    wall_total: float = 0.0
    runs: list[tuple[float, Path, dict]] = dataclasses.field(default_factory=list)  # (start, output, log entry)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


def _run_lane(runner: SandboxRunner, module: ModuleUnderTest, trusted: TrustedRun, nodeids: list[str],
              shared: _Shared, on_progress: ProgressCallback | None, lane: int | str) -> None:
    """Run `nodeids` to the end: resumed past a test that hangs or kills the run, the tests of
    the troubled part last, within the shared time budget, restart count and runaway rule."""
    run_timeout_s = runner.setup.assignment.resources.run_timeout_s
    remaining = list(nodeids)
    recorded = 0  # tests of this lane recorded so far (its progress count)
    while remaining:
        with shared.lock:
            if shared.deaths.stopped:  # the runaway rule, met in another lane: nothing more runs
                for nodeid in remaining:
                    shared.crashes.setdefault(nodeid, ("error", shared.deaths.not_run_message()))
                return
        wall = min(run_timeout_s, trusted.expected_time(remaining) + 30, max(shared.budget_end - time.monotonic(), 1))
        started = time.monotonic()
        job, outcome, records = runner.run(RunRequest(module, "student", remaining, wall), on_progress=on_progress,
                                           progress_names=nodeids, done_before=recorded,
                                           hang_limit_of=trusted.timeout_of, part_of=trusted.part_of)
        ended = time.monotonic()
        with shared.lock:
            entry = run_log.entry(outcome, tests=len(remaining), ended=describe_end(outcome))
            entry.update(lane=lane, start_s=round(started - shared.started, 3), end_s=round(ended - shared.started, 3))
            shared.runs.append((started, job.output_dir, entry))
            shared.wall_total += outcome.wall_s
            merged = shared.merged
            merged.problems += records.problems
            for nodeid in remaining:
                if nodeid in records.tests:
                    merged.tests[nodeid] = records.tests[nodeid]
                    merged.order.append(nodeid)
                    shared.roots[nodeid] = records.root
                    recorded += 1
            left = [nodeid for nodeid in remaining if nodeid not in records.tests]
            if not left:
                return
            if ended_cleanly(outcome) and records.finished:
                for nodeid in left:
                    shared.crashes[nodeid] = ("error", "this test did not run; the run ended without it "
                                                      "(did your code call pytest.exit or remove tests?)")
                return
            culprit = records.current_test if records.current_test in left else left[0]
            shared.crashes[culprit] = crash_verdict(outcome, trusted.timeout_of(culprit))
            # runaway.py: not a third time, whichever lane the deaths happened in
            if shared.deaths.stopped or shared.deaths.record(outcome, trusted.part_of(culprit)):
                for nodeid in left:
                    shared.crashes.setdefault(nodeid, ("error", shared.deaths.not_run_message()))
                return
            # Tests of the part that just hung or crashed go last: the others get their turn first.
            troubled = trusted.part_of(culprit)
            remaining = sorted((nodeid for nodeid in left if nodeid != culprit),
                               key=lambda nodeid: trusted.part_of(nodeid) == troubled)
            shared.restarts += 1
            if shared.restarts > int(config.get("max_restarts")) or time.monotonic() > shared.budget_end - 5:
                for nodeid in remaining:
                    shared.crashes[nodeid] = ("error", "not run: the grading run kept ending early "
                                                       f"({describe_end(outcome)}) and the retries ran out")
                return


def _remeasure_noisy_perf(runner: SandboxRunner, module: ModuleUnderTest, trusted: TrustedRun, shared: _Shared,
                          perf_runs: dict[str, int]) -> None:
    """Measure noisy perf tests again, each in a fresh run, up to `perf_remeasure` times; the
    least noisy measurement is kept. `perf_runs` counts the runs of each noisy test (so a
    verdict can say how often it was tried); each run joins `shared.runs` (lane "remeasure")."""
    assignment = runner.setup.assignment
    merged, roots = shared.merged, shared.roots
    for _ in range(int(config.get("perf_remeasure"))):
        noisy = [nodeid for nodeid, record in merged.tests.items()
                 if _perf_spread_too_wide(record, assignment.perf, RunRecords.at(roots[nodeid]))]
        if not noisy:
            break
        wall = min(assignment.resources.run_timeout_s, trusted.expected_time(noisy) + 30)
        started = time.monotonic()
        job, outcome, records = runner.run(RunRequest(module, "student", noisy, wall))
        entry = run_log.entry(outcome, tests=len(noisy), ended=describe_end(outcome))
        entry.update(lane="remeasure", start_s=round(started - shared.started, 3),
                     end_s=round(time.monotonic() - shared.started, 3))
        shared.runs.append((started, job.output_dir, entry))
        for nodeid in noisy:
            perf_runs[nodeid] = perf_runs.get(nodeid, 1) + 1
            fresh = records.tests.get(nodeid)
            if fresh and _spread(fresh, records) < _spread(merged.tests[nodeid], RunRecords.at(roots[nodeid])):
                merged.tests[nodeid] = fresh
                roots[nodeid] = records.root


def _perf_spread_too_wide(record: dict, specs: dict, records: RunRecords) -> bool:
    for check in record.get("checks", []):
        spec = specs.get(check.get("name"))
        if check.get("kind") == "perf" and spec is not None and _spread(record, records) > spec.max_spread:
            return True
    return False


def _spread(record: dict, records: RunRecords) -> float:
    for check in record.get("checks", []):
        if check.get("kind") == "perf":
            try:
                return float(records.load_value(check.get("value"))["spread"])
            except Exception:  # noqa: BLE001 - a malformed measurement is simply not better
                return float("inf")
    return float("inf")


def crash_verdict(outcome: SandboxOutcome, timeout_s: float) -> tuple[str, str]:
    if outcome.timed_out:
        return "timeout", (f"ran past its time limit ({timeout_s:g} s) and had to be stopped from outside; "
                           "look for an infinite loop or a blocking call")
    if outcome.out_of_memory:
        return "error", ("ran out of memory (the run's limit is the assignment's memory_mb); "
                         "look for a huge allocation")
    return "error", f"the grading run died during this test ({describe_end(outcome)}); other tests still count"
