"""One grading's sandbox runs: how a harness run is described (argv, mounts, limits) and run.

`RunSetup` holds what every run of one grading shares (the assignment, the backend, the
scratch folder, the seed, the GPUs); `SandboxRunner` turns a `RunRequest` (what to test,
against which module, in which mode, for how long) into a `SandboxJob`, runs it, and reads
back its records. Only `autograder/harness/` is made visible inside, never the engine.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from autograder import compile_cache, config
from autograder.package import Assignment
from autograder.records_io import RunRecords, read_run
from autograder.run_watch import RunWatcher
from autograder.sandbox import Limits, Mount, Sandbox, SandboxJob, SandboxOutcome

# The in-sandbox harness, mounted read-only where the backend's runtime lacks it. Mounted at
# /grader/lib/autograder/harness, `autograder` is a namespace package there holding nothing else.
HARNESS_DIR = Path(__file__).resolve().parent / "harness"
HARNESS_TARGET = "/grader/lib/autograder/harness"
PYTEST_EXIT_NORMAL = (0, 1, 5)  # all passed, some failed, none collected

ProgressCallback = Callable[[dict], None]


@dataclasses.dataclass(frozen=True)
class ModuleUnderTest:
    """The code the tests import: a mounted folder and the path the harness loads it from."""

    mount: Mount
    target: str
    extra_mounts: tuple[Mount, ...] = ()
    extra_paths: tuple[str, ...] = ()  # added to sys.path inside (the mutants' reference copy)


@dataclasses.dataclass(frozen=True)
class RunRequest:
    module: ModuleUnderTest
    mode: str  # "trusted" or "student"
    nodeids: list[str] | None  # None: every test
    wall_s: float


@dataclasses.dataclass(frozen=True)
class RunSetup:
    assignment: Assignment
    backend: Sandbox
    work: Path  # this grading's scratch folder (config, outputs, submission copies)
    seed: int
    gpus: tuple[int, ...] = ()


class SandboxRunner:
    """Builds and runs the sandbox jobs of one grading, numbering their output folders."""

    def __init__(self, setup: RunSetup):
        self.setup = setup
        self.config_dir = setup.work / "config"
        self.config_dir.mkdir()
        (self.config_dir / "run.json").write_text(json.dumps(setup.assignment.run_config()))
        self.python = getattr(setup.backend, "python", "python3")
        self.runs = 0
        self.numbering = threading.Lock()  # the lanes of a student run (lanes.py) start runs from threads
        self.image: str | None = None  # the image the last run used (docker)

    def job(self, request: RunRequest) -> SandboxJob:
        with self.numbering:
            self.runs += 1
            number = self.runs
        setup, module = self.setup, request.module
        out = setup.work / f"out-{number}"
        argv = [self.python, "-m", "autograder.harness.run", "--tests", "/grader/tests", "--module", module.target,
                "--mode", request.mode, "--out", "/grader/out", "--seed", str(setup.seed),
                "--config", "/grader/config/run.json"]
        if request.nodeids is not None:
            only = self.config_dir / f"only-{number}.txt"
            only.write_text("\n".join(request.nodeids) + "\n")
            argv += ["--only", f"/grader/config/{only.name}"]
            # Only the files holding those tests are collected (and imported).
            for test_file in sorted({nodeid.split("::")[0] for nodeid in request.nodeids}):
                argv += ["--target", f"/grader/tests/{test_file}"]
        for path in module.extra_paths:
            argv += ["--path", path]
        resources = setup.assignment.resources
        env, mounts = {}, []
        if not setup.backend.harness_in_image:
            env["PYTHONPATH"] = "/grader/lib"
            mounts.append(Mount(HARNESS_DIR, HARNESS_TARGET))
        if resources.triton_interpret_on_cpu and not setup.gpus:
            env["TRITON_INTERPRET"] = "1"
        if request.mode == "trusted" and setup.gpus:  # never a student's: compile_cache.py
            cache = Mount(setup.work / f"compile-cache-{number}", compile_cache.TARGET, writable=True)
            compile_cache.checkout(cache.source, seen_at=setup.backend.seen_at(cache))
            mounts.append(cache)
            env["TRITON_CACHE_DIR"] = compile_cache.TARGET
        elif request.mode == "student" and setup.gpus:  # the student's own kernels, for their other runs
            cache = Mount(compile_cache.student_folder(setup.work), compile_cache.STUDENT_TARGET, writable=True)
            mounts.append(cache)
            env["TRITON_CACHE_DIR"] = compile_cache.STUDENT_TARGET
        mounts += [
            Mount(setup.assignment.tests_dir, "/grader/tests"),
            Mount(self.config_dir, "/grader/config"),
            module.mount,
            *module.extra_mounts,
        ]
        limits = Limits(wall_s=request.wall_s, memory_mb=resources.memory_mb, cpus=resources.cpus,
                        pids=resources.processes, output_mb=setup.assignment.max_output_bytes // 2**20)
        return SandboxJob(argv=argv, mounts=mounts, output_dir=out, output_target="/grader/out", limits=limits,
                          env=env, cwd="/scratch", gpus=setup.gpus)

    def run(self, request: RunRequest, *, on_progress: ProgressCallback | None = None,
            progress_names: list[str] = (), done_before: int = 0,
            hang_limit_of: Callable[[str], float] | None = None,
            part_of: Callable[[str], str | None] | None = None) -> tuple[SandboxJob, SandboxOutcome, RunRecords]:
        """Run `request`; with `on_progress` or `hang_limit_of`, a watcher reports which test it
        is on and stops the run when a test outlives its limit."""
        job = self.job(request)
        watcher = None
        if on_progress or hang_limit_of:
            job = dataclasses.replace(job, cancel=threading.Event())
            watcher = RunWatcher(job, on_progress, list(progress_names), done_before, hang_limit_of, part_of)
        try:
            outcome = self.setup.backend.run(job)
        finally:
            if watcher:
                watcher.stop()
        if outcome.image:
            self.image = outcome.image
        for mount in job.mounts:
            if mount.target == compile_cache.TARGET:
                compile_cache.keep(mount.source)
                shutil.rmtree(mount.source, ignore_errors=True)  # gone before the student run starts
        max_bytes = min(self.setup.assignment.max_output_bytes, int(config.get("output_limit_mb")) * 2**20)
        return job, outcome, read_run(job.output_dir, max_bytes=max_bytes)


def describe_end(outcome: SandboxOutcome) -> str:
    if outcome.timed_out:
        return f"killed after {outcome.wall_s:.0f} s"
    if outcome.out_of_memory:
        return "out of memory"
    if outcome.exit_code is not None and outcome.exit_code < 0:
        return f"killed by signal {-outcome.exit_code}"
    if outcome.exit_code is not None and 128 < outcome.exit_code <= 128 + 64:  # a shell's way to say it
        return f"killed by signal {outcome.exit_code - 128}"
    return f"exit code {outcome.exit_code}"


def ended_cleanly(outcome: SandboxOutcome) -> bool:
    return not outcome.timed_out and outcome.exit_code in PYTEST_EXIT_NORMAL
