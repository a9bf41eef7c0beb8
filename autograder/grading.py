"""Grade one submission: upload in, trusted result out.

The pipeline, as named steps:
1. load the assignment package (or unpacked bundle) and its digest;
2. convert the upload into `submission.py` (or reject it with a message);
3. scan its source for forbidden calls and tampering (outside the sandbox);
4. the trusted run: the tests against the reference, in the sandbox, cached per
   (bundle digest, seed, hardware);
5. the student run: the same tests against the submission, resumed past a test that hangs
   or kills the run, perf tests re-measured when noisy;
6. compare outside the sandbox and score (`autograder.compare`), build the result.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from autograder import config
from autograder.compare import TestVerdict, compare_check, perf_verdict
from autograder.errors import GradingError, SubmissionRejected
from autograder.notebook import MODULE_FILENAME, Converted, convert_upload
from autograder.package import Assignment, load_assignment
from autograder.records_io import RunRecords, read_run
from autograder.result import GradeResult, TestResult
from autograder.sandbox import Limits, Mount, Sandbox, SandboxJob, make_sandbox
from autograder.scan import ScanResult, scan_source

ENGINE_VERSION = "1"
HARNESS_SOURCE = Path(__file__).resolve().parent  # the `autograder` package, mounted read-only
PYTEST_EXIT_NORMAL = (0, 1, 5)  # all passed, some failed, none collected

ProgressCallback = Callable[[dict], None]


def grade(assignment_dir: Path, submission: Path, *, sandbox: str | Sandbox = "process", seed: int | None = None,
          hardware: str | None = None, on_progress: ProgressCallback | None = None,
          only_parts: tuple[str, ...] | None = None, with_reference_solution: bool = False,
          gpus: tuple[int, ...] = (), on_records: Callable[[RunRecords, RunRecords], None] | None = None
          ) -> GradeResult:
    """Grade `submission` (.ipynb, .py, or a package folder) against the assignment.

    `only_parts` restricts grading to those parts' tests (the gate's mutant runs);
    `with_reference_solution` makes the reference importable as `reference_solution` (mutants
    only: never for student work). `on_records(trusted, student)` sees both runs' records before
    their folders are removed (the gate's weak-check analysis). Never raises for a bad submission; raises `GradingError`
    only when grading itself failed.
    """
    started = time.monotonic()
    assignment = load_assignment(Path(assignment_dir))
    from autograder.bundle import bundle_digest

    digest = bundle_digest(assignment)
    backend = make_sandbox(sandbox) if isinstance(sandbox, str) else sandbox
    hardware = hardware or config.get("hardware") or detect_hardware(gpus)
    seed = choose_seed(digest) if seed is None else int(seed)
    run_meta = {"bundle_digest": digest, "seed": seed, "hardware": hardware, "engine_version": ENGINE_VERSION,
                **backend.describe()}
    result = GradeResult(status="graded", assignment=assignment.slug, run=run_meta)

    submission = Path(submission)
    try:
        converted = _convert(submission, assignment)
    except SubmissionRejected as rejection:
        result.status, result.message = "rejected", str(rejection)
        result.run["durations"] = {"total_s": round(time.monotonic() - started, 3)}
        return result
    result.warnings = converted.warnings if converted else []
    scan = _scan(converted, assignment)

    with tempfile.TemporaryDirectory(prefix="dlgrade-grade-") as work_dir:
        work = Path(work_dir)
        work.chmod(0o755)  # a sandbox running as nobody reads its config and submission here
        runner = _Runner(assignment, backend, work, seed, hardware, gpus)
        trusted_started = time.monotonic()
        trusted, cached = runner.trusted_run(digest)
        trusted_s = time.monotonic() - trusted_started
        nodeids = [nodeid for nodeid in trusted.order
                   if only_parts is None or trusted.tests[nodeid]["part"] in only_parts]
        student_started = time.monotonic()
        student, crashes, restarts, student_wall = runner.student_run(
            submission, converted, nodeids, on_progress, with_reference_solution)
        student_s = time.monotonic() - student_started
        _score(result, assignment, trusted, student, crashes, scan, nodeids, hardware, student_wall)
        if on_records:
            on_records(trusted, student)
        result.run.update({
            "restarts": restarts,
            "trusted_cached": cached,
            "image": runner.image,
            "durations": {
                "trusted_s": round(trusted_s, 3),
                "student_s": round(student_s, 3),
                "total_s": round(time.monotonic() - started, 3),
            },
        })
        if student.problems:
            result.flags.append({"kind": "records", "evidence": student.problems[:20]})
    if on_progress:
        on_progress({"test": None, "done": len(nodeids), "total": len(nodeids)})
    return result


# --- steps ----------------------------------------------------------------------------------

def _convert(submission: Path, assignment: Assignment) -> Converted | None:
    if submission.is_dir():  # a package (the reference, in the gate): trusted staff code
        return None
    if not submission.is_file():
        raise SubmissionRejected(f"{submission.name}: no such file")
    return convert_upload(submission, assignment.notebook_path, max_bytes=assignment.max_upload_bytes)


def _scan(converted: Converted | None, assignment: Assignment) -> ScanResult:
    if converted is None:
        return ScanResult({}, [])
    scan = scan_source(converted.source, assignment.forbidden)
    student_lines = converted.student_lines

    def located(finding):
        return finding.line in student_lines

    scan.forbidden = {part: [f for f in findings if located(f)] for part, findings in scan.forbidden.items()}
    scan.tamper = [finding for finding in scan.tamper if located(finding)]
    scan.where = {finding.line: student_lines[finding.line] for findings in scan.forbidden.values()
                  for finding in findings} | {finding.line: student_lines[finding.line] for finding in scan.tamper}
    return scan


@functools.lru_cache(maxsize=1)
def harness_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted((HARNESS_SOURCE / "harness").glob("*")):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def choose_seed(digest: str) -> int:
    """A seed from the bundle's pool: unpredictable to students (it mixes in a secret), few
    enough that trusted runs are cached."""
    index = random.SystemRandom().randrange(int(config.get("seed_pool")))
    material = f"{config.seed_secret()}:{digest}:{index}".encode()
    return int.from_bytes(hashlib.sha256(material).digest()[:4], "little")


def detect_hardware(gpus: tuple[int, ...] = ()) -> str:
    """The name perf specs match: the GPU's name where the run has one, else 'cpu'."""
    if gpus and shutil.which("nvidia-smi"):
        try:
            names = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader", "-i", str(gpus[0])],
                                   capture_output=True, text=True, timeout=20).stdout.strip()
            if names:
                return names.splitlines()[0]
        except (OSError, subprocess.TimeoutExpired):
            pass
    return f"cpu ({os.cpu_count()} cores)"


class _Runner:
    """Builds sandbox jobs for one grading and runs them."""

    def __init__(self, assignment: Assignment, backend: Sandbox, work: Path, seed: int, hardware: str,
                 gpus: tuple[int, ...]):
        self.assignment, self.backend, self.work = assignment, backend, work
        self.seed, self.hardware, self.gpus = seed, hardware, gpus
        self.image: str | None = None
        self.config_dir = work / "config"
        self.config_dir.mkdir()
        (self.config_dir / "run.json").write_text(json.dumps(assignment.run_config()))
        self.python = getattr(backend, "python", "python3")
        self.runs = 0
        self._trusted_timeouts: dict[str, float] = {}
        self._trusted_parts: dict[str, str | None] = {}

    def _job(self, module_mount: Mount, module_target: str, mode: str, nodeids: list[str] | None,
             wall_s: float, extra_mounts: list[Mount] = (), extra_paths: list[str] = ()) -> SandboxJob:
        self.runs += 1
        out = self.work / f"out-{self.runs}"
        argv = [self.python, "-m", "autograder.harness.run", "--tests", "/grader/tests", "--module", module_target,
                "--mode", mode, "--out", "/grader/out", "--seed", str(self.seed),
                "--config", "/grader/config/run.json"]
        if nodeids is not None:
            only = self.config_dir / f"only-{self.runs}.txt"
            only.write_text("\n".join(nodeids) + "\n")
            argv += ["--only", f"/grader/config/{only.name}"]
            # Only the files holding those tests are collected (and imported).
            for test_file in sorted({nodeid.split("::")[0] for nodeid in nodeids}):
                argv += ["--target", f"/grader/tests/{test_file}"]
        for path in extra_paths:
            argv += ["--path", path]
        resources = self.assignment.resources
        env, mounts = {}, []
        if not self.backend.harness_in_image:
            env["PYTHONPATH"] = "/grader/lib"
            mounts.append(Mount(HARNESS_SOURCE, "/grader/lib/autograder"))
        if resources.triton_interpret_on_cpu and not self.gpus:
            env["TRITON_INTERPRET"] = "1"
        mounts += [
            Mount(self.assignment.tests_dir, "/grader/tests"),
            Mount(self.config_dir, "/grader/config"),
            module_mount,
            *extra_mounts,
        ]
        limits = Limits(wall_s=wall_s, memory_mb=resources.memory_mb, cpus=resources.cpus, pids=resources.processes,
                        output_mb=self.assignment.max_output_bytes // 2**20)
        return SandboxJob(argv=argv, mounts=mounts, output_dir=out, output_target="/grader/out", limits=limits,
                          env=env, cwd="/scratch", gpus=self.gpus)

    def _run(self, job: SandboxJob, on_progress: ProgressCallback | None = None, names: list[str] = (),
             done_before: int = 0, watch: bool = False):
        watcher = None
        if on_progress or watch:
            job = dataclasses.replace(job, cancel=threading.Event())
            watcher = _RunWatcher(job, on_progress, names, done_before, self._timeout_of if watch else None)
        try:
            outcome = self.backend.run(job)
        finally:
            if watcher:
                watcher.stop()
        if outcome.image:
            self.image = outcome.image
        max_bytes = min(self.assignment.max_output_bytes, int(config.get("output_limit_mb")) * 2**20)
        return outcome, read_run(job.output_dir, max_bytes=max_bytes)

    # --- trusted ---------------------------------------------------------------------------
    def trusted_run(self, digest: str) -> tuple[RunRecords, bool]:
        records, cached = self._trusted_records(digest)
        self._trusted_timeouts = {nodeid: float(record["timeout_s"] or self.assignment.resources.test_timeout_s)
                                  for nodeid, record in records.tests.items()}
        self._trusted_parts = {nodeid: record["part"] for nodeid, record in records.tests.items()}
        return records, cached

    def _trusted_records(self, digest: str) -> tuple[RunRecords, bool]:
        # The harness's own source is part of the key: a changed harness records differently.
        key = hashlib.sha256((self.hardware + harness_digest()).encode()).hexdigest()[:12]
        cache = Path(config.get("cache_dir")) / "trusted" / digest / f"{self.seed}-{key}"
        if (cache / "complete").is_file():
            return read_run(cache, max_bytes=1 << 40), True
        reference = self.assignment.reference_dir
        if not (reference / "__init__.py").is_file():
            raise GradingError(f"no reference package at {reference}; grading needs the grader bundle")
        wall = self.assignment.resources.run_timeout_s * 2
        job = self._job(Mount(reference, "/grader/reference"), "/grader/reference", "trusted", None, wall)
        outcome, records = self._run(job)
        if not records.tests:
            raise GradingError(
                f"the trusted run (reference) produced no records: exit {outcome.exit_code}, timed out "
                f"{outcome.timed_out}; stderr: {outcome.stderr[-2000:]} stdout: {outcome.stdout[-2000:]}")
        if outcome.timed_out or outcome.exit_code not in PYTEST_EXIT_NORMAL:
            raise GradingError(f"the trusted run did not finish cleanly (exit {outcome.exit_code}, timed out "
                               f"{outcome.timed_out}): {outcome.stderr[-2000:]}")
        partial = cache.with_name(cache.name + f".partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(job.output_dir, partial)
        (partial / "complete").write_text("ok")
        try:
            partial.rename(cache)
        except OSError:  # another grader stored the same run first
            shutil.rmtree(partial, ignore_errors=True)
        return read_run(cache, max_bytes=1 << 40), False

    # --- student ---------------------------------------------------------------------------
    def student_run(self, submission: Path, converted: Converted | None, nodeids: list[str],
                    on_progress: ProgressCallback | None, with_reference_solution: bool):
        if converted is None:
            module_mount, target = Mount(submission.resolve(), "/grader/submission"), "/grader/submission"
        else:
            folder = self.work / "submission"
            folder.mkdir()
            (folder / MODULE_FILENAME).write_text(converted.source, encoding="utf-8")
            module_mount, target = Mount(folder, "/grader/submission"), f"/grader/submission/{MODULE_FILENAME}"
        extra_mounts, extra_paths = [], []
        if with_reference_solution:
            # A copy in a folder of its own: every backend can mount the folder as it is.
            mutant_dir = self.work / "mutant"
            shutil.copytree(self.assignment.reference_dir, mutant_dir / "reference_solution",
                            ignore=shutil.ignore_patterns("__pycache__"))
            mutant_dir.chmod(0o755)
            extra_mounts = [Mount(mutant_dir, "/grader/mutant")]
            extra_paths = ["/grader/mutant"]

        merged = RunRecords.at(self.work)
        roots: dict[str, Path] = {}
        crashes: dict[str, tuple[str, str]] = {}
        remaining = list(nodeids)
        restarts = 0
        wall_total = 0.0
        budget_end = time.monotonic() + self.assignment.resources.run_timeout_s * 1.5 + 30
        while remaining:
            wall = min(self.assignment.resources.run_timeout_s, self._expected_time(remaining) + 30,
                       max(budget_end - time.monotonic(), 1))
            job = self._job(module_mount, target, "student", remaining, wall, extra_mounts, extra_paths)
            outcome, records = self._run(job, on_progress, nodeids, done_before=len(merged.tests), watch=True)
            wall_total += outcome.wall_s
            merged.problems += records.problems
            for nodeid in remaining:
                if nodeid in records.tests:
                    merged.tests[nodeid] = records.tests[nodeid]
                    merged.order.append(nodeid)
                    roots[nodeid] = records.root
            left = [nodeid for nodeid in remaining if nodeid not in records.tests]
            if not left:
                break
            finished = not outcome.timed_out and outcome.exit_code in PYTEST_EXIT_NORMAL and records.finished
            if finished:
                for nodeid in left:
                    crashes[nodeid] = ("error", "this test did not run; the run ended without it "
                                                "(did your code call pytest.exit or remove tests?)")
                break
            culprit = records.current_test if records.current_test in left else left[0]
            crashes[culprit] = _crash_verdict(outcome, self._timeout_of(culprit))
            # Tests of the part that just hung or crashed go last: the others get their turn first.
            troubled = self._part_of(culprit)
            remaining = sorted((nodeid for nodeid in left if nodeid != culprit),
                               key=lambda nodeid: self._part_of(nodeid) == troubled)
            restarts += 1
            if restarts > int(config.get("max_restarts")) or time.monotonic() > budget_end - 5:
                for nodeid in remaining:
                    crashes[nodeid] = ("error", "not run: the grading run kept ending early "
                                                f"({_describe_end(outcome)}) and the retries ran out")
                break
        self._remeasure_noisy_perf(merged, roots, module_mount, target, extra_mounts, extra_paths)
        return _MultiRootRecords(merged, roots), crashes, restarts, wall_total

    def _part_of(self, nodeid: str) -> str | None:
        return self._trusted_parts.get(nodeid)

    def _timeout_of(self, nodeid: str) -> float:
        return self._trusted_timeouts.get(nodeid, self.assignment.resources.test_timeout_s)

    def _expected_time(self, nodeids: list[str]) -> float:
        return sum(self._timeout_of(nodeid) for nodeid in nodeids)

    def _remeasure_noisy_perf(self, merged, roots, module_mount, target, extra_mounts, extra_paths):
        specs = self.assignment.perf
        for _ in range(int(config.get("perf_remeasure"))):
            noisy = [nodeid for nodeid, record in merged.tests.items()
                     if _perf_spread_too_wide(record, specs, RunRecords.at(roots[nodeid]))]
            if not noisy:
                return
            wall = min(self.assignment.resources.run_timeout_s, self._expected_time(noisy) + 30)
            job = self._job(module_mount, target, "student", noisy, wall, extra_mounts, extra_paths)
            _, records = self._run(job)
            for nodeid in noisy:
                fresh = records.tests.get(nodeid)
                if fresh and _spread(fresh, records) < _spread(merged.tests[nodeid], RunRecords.at(roots[nodeid])):
                    merged.tests[nodeid] = fresh
                    roots[nodeid] = records.root


class _RunWatcher:
    """Watches a run from outside, once a second, through its output folder: reports which
    test it is on, and stops the run when one test outlives its limit by HANG_GRACE_S (the
    in-sandbox alarm can be blocked by student code). What the folder says is untrusted: only
    names of the trusted run's tests are acted on, and a lie only ends the run sooner."""

    HANG_GRACE_S = 10.0

    def __init__(self, job: SandboxJob, on_progress: ProgressCallback | None, names: list[str], done_before: int,
                 timeout_of: Callable[[str], float] | None):
        self.out_dir, self.cancel, self.on_progress = job.output_dir, job.cancel, on_progress
        self.names, self.done_before = set(names), done_before
        self.total = len(names)
        self.timeout_of = timeout_of
        self.stopped = threading.Event()
        self.last: tuple | None = None
        self.current_since: tuple[str, float] | None = None
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stopped.wait(1.0):
            self._report()

    def _check_hang(self, current: str | None) -> None:
        if self.timeout_of is None or current is None:
            self.current_since = None
            return
        now = time.monotonic()
        if self.current_since is None or self.current_since[0] != current:
            self.current_since = (current, now)
        elif now - self.current_since[1] > self.timeout_of(current) + self.HANG_GRACE_S:
            self.cancel.set()

    def _report(self) -> None:
        from autograder.harness.records import CURRENT_TEST_FILE, RECORDS_FILE

        try:
            with open(self.out_dir / RECORDS_FILE, "rb") as handle:
                done = sum(1 for _ in handle)
        except OSError:
            done = 0
        try:
            current = (self.out_dir / CURRENT_TEST_FILE).read_text(errors="replace")[:1000].strip()
        except OSError:
            current = ""
        state = (current if current in self.names else None, min(self.done_before + done, self.total))
        self._check_hang(state[0])
        if self.on_progress is None:
            return
        if state != self.last:
            self.last = state
            try:
                self.on_progress({"test": state[0], "done": state[1], "total": self.total})
            except Exception:  # noqa: BLE001 - a failing progress report must not stop grading
                pass

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)


class _MultiRootRecords(RunRecords):
    """Student records gathered over several runs, each test's arrays in its own folder."""

    def __init__(self, merged: RunRecords, roots: dict[str, Path]):
        super().__init__(merged.tests, merged.order, merged.problems, None, merged.root)
        self.roots = roots

    def for_test(self, nodeid: str) -> RunRecords:
        return RunRecords(self.tests, self.order, self.problems, None, self.roots.get(nodeid, self.root))


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


def _describe_end(outcome) -> str:
    if outcome.timed_out:
        return f"killed after {outcome.wall_s:.0f} s"
    if outcome.out_of_memory:
        return "out of memory"
    if outcome.exit_code is not None and outcome.exit_code < 0:
        return f"killed by signal {-outcome.exit_code}"
    if outcome.exit_code is not None and 128 < outcome.exit_code <= 128 + 64:  # a shell's way to say it
        return f"killed by signal {outcome.exit_code - 128}"
    return f"exit code {outcome.exit_code}"


def _crash_verdict(outcome, timeout_s: float) -> tuple[str, str]:
    if outcome.timed_out:
        return "timeout", (f"ran past its time limit ({timeout_s:g} s) and had to be stopped from outside; "
                           "look for an infinite loop or a blocking call")
    if outcome.out_of_memory:
        return "error", ("ran out of memory (the run's limit is the assignment's memory_mb); "
                         "look for a huge allocation")
    return "error", f"the grading run died during this test ({_describe_end(outcome)}); other tests still count"


# --- scoring ---------------------------------------------------------------------------------

def _score(result: GradeResult, assignment: Assignment, trusted: RunRecords, student: _MultiRootRecords,
           crashes: dict, scan: ScanResult, nodeids: list[str], hardware: str, student_wall: float) -> None:
    weights: dict[str, float] = {}
    for nodeid in nodeids:
        record = trusted.tests[nodeid]
        weights[record["part"] or ""] = weights.get(record["part"] or "", 0.0) + float(record["weight"])
    tamper_evidence = [f"{scan.where.get(f.line, f'line {f.line}')}: {f.name} ({f.why})" for f in scan.tamper]
    for nodeid in nodeids:
        record = trusted.tests[nodeid]
        part = assignment.part(record["part"] or "")
        if part is None:
            verdict = TestVerdict("error", 0.0, "could not be graded (grader problem)",
                                  f"test has no valid part marker: {record['part']!r}")
            max_score = 0.0
        else:
            max_score = part.points * float(record["weight"]) / weights[part.name] if weights[part.name] else 0.0
            verdict = _judge(nodeid, record, trusted, student, crashes, scan, assignment, hardware, student_wall)
        student_record = student.tests.get(nodeid)
        if student_record and student_record.get("tamper"):
            tamper_evidence += [f"{nodeid}: {name} was replaced at run time" for name in student_record["tamper"]]
        hidden = nodeid.startswith("hidden/")
        result.tests.append(TestResult(
            name=nodeid, part=record["part"] or "", status=verdict.status,
            score=max_score * verdict.fraction, max_score=max_score,
            message=verdict.message, detail=verdict.detail,
            visibility=part.visibility if (part and hidden) else "visible", hidden=hidden, perf=verdict.perf,
        ))
    measured = [test for test in result.tests if test.status != "not-measured"]
    result.score = sum(test.score for test in measured)
    result.max_score = sum(test.max_score for test in measured)
    result.unmeasured_points = round(sum(t.max_score for t in result.tests if t.status == "not-measured"), 4)
    for part in assignment.parts:
        tests = [test for test in measured if test.part == part.name]
        if tests or any(test.part == part.name for test in result.tests):
            result.parts.append({"name": part.name, "title": part.title, "kind": part.kind,
                                 "score": round(sum(t.score for t in tests), 4),
                                 "max_score": round(sum(t.max_score for t in tests), 4),
                                 "visibility": part.visibility})
    forbidden_evidence = sorted({f"{scan.where.get(f.line, f'line {f.line}')}: {f.name}"
                                 for findings in scan.forbidden.values() for f in findings})
    if forbidden_evidence:
        result.flags.append({"kind": "forbidden", "evidence": forbidden_evidence})
    if tamper_evidence:
        result.flags.append({"kind": "tamper", "evidence": sorted(set(tamper_evidence)),
                             "message": "possible tampering with the grader: review by staff"})
    grader_errors = [t.name for t in result.tests if "grader problem" in t.message]
    if grader_errors:
        result.flags.append({"kind": "grader", "evidence": grader_errors})
    passed = sum(1 for test in result.tests if test.status == "pass")
    result.message = f"{passed} of {len(result.tests)} tests passed; {result.score:.2f} / {result.max_score:.2f} points"


def _judge(nodeid: str, trusted_record: dict, trusted: RunRecords, student: _MultiRootRecords, crashes: dict, scan: ScanResult,
           assignment: Assignment, hardware: str, student_wall: float) -> TestVerdict:
    if trusted_record["outcome"] == "skipped":
        return TestVerdict("not-measured", 0.0, f"not measured here: {trusted_record['message'] or 'skipped'}")
    if trusted_record["outcome"] != "passed":
        return TestVerdict("error", 0.0, "could not be graded (grader problem); staff have been told",
                           f"the reference run {trusted_record['outcome']}: {trusted_record['message']}")
    part = trusted_record["part"] or ""
    findings = scan.forbidden_for(part)
    if findings:
        rule_reason = findings[0].why  # the scan keeps each finding's rule reason
        places = "; ".join(f"{f.name} ({scan.where.get(f.line, f'line {f.line}')})" for f in findings[:3])
        return TestVerdict("fail", 0.0, f"uses a forbidden call: {places}. {rule_reason}".strip())
    if nodeid in crashes:
        status, message = crashes[nodeid]
        return TestVerdict(status, 0.0, message)
    record = student.tests.get(nodeid)
    if record is None:
        return TestVerdict("error", 0.0, "not run: the grading run ended before this test")
    if record["violations"]:
        calls = sorted({str(v.get("call")) for v in record["violations"]})
        reason = next((rule.reason for rule in assignment.forbidden if set(calls) & set(rule.calls)), "")
        return TestVerdict("fail", 0.0, f"called a forbidden function at run time: {', '.join(calls)}. {reason}".strip())
    if record["outcome"] == "timeout":
        return TestVerdict("timeout", 0.0, f"ran past its time limit ({trusted_record['timeout_s'] or '?'} s)")
    if record["outcome"] == "skipped":
        return TestVerdict("fail", 0.0, f"was skipped ({record['message'][:200]}); a submission may not skip tests")
    if record["outcome"] != "passed":
        return TestVerdict("fail", 0.0, _student_failure_message(record["message"]), record["message"])
    records_for_test = student.for_test(nodeid)
    student_checks = {check["name"]: check for check in record["checks"] if isinstance(check.get("name"), str)}
    perf = None
    failures, details = [], []
    for entry in trusted_record["checks"]:
        if entry.get("kind") == "perf":
            perf = (entry, student_checks.get(entry["name"]))
            continue
        verdict = compare_check(entry, student_checks.get(entry["name"]), trusted, records_for_test, assignment)
        if not verdict.ok:
            failures.append(verdict.message)
            if verdict.detail:
                details.append(f"{entry['name']}: {verdict.detail}")
    if failures:
        return TestVerdict("fail", 0.0, "; ".join(failures[:3]), "; ".join(details[:5]))
    if perf is not None:
        entry, student_entry = perf
        return perf_verdict(entry, student_entry, records_for_test, assignment.perf.get(entry["name"]), hardware,
                            student_wall)
    return TestVerdict("pass", 1.0, "")


def _student_failure_message(message: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else "the test failed"
    return f"failed: {first[:300]}"
