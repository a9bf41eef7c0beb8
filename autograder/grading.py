"""Grade one submission: upload in, trusted result out.

The pipeline, as named steps:
1. load the assignment package (or unpacked bundle) and its digest;
2. convert the upload into its cells, run one by one in the sandbox (or a `.py` upload into
   `submission.py`), or reject it with a message;
3. scan its source for forbidden calls and tampering (outside the sandbox);
4. the trusted run: the tests against the reference, in the sandbox, cached per
   (bundle digest, seed, hardware);
5. the student run: the same tests against the submission, resumed past a test that hangs
   or kills the run, perf tests re-measured when noisy;
6. compare outside the sandbox and score (`autograder.scoring`), build the result.

The runs live in `sandbox_runs` (one harness run), `trusted_run` and `student_run` (the
restart policy); this module only orders the steps and times them.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from autograder import config
from autograder.bundle import bundle_digest
from autograder.cells import CellFeedback
from autograder.errors import SubmissionRejected
from autograder.notebook import Converted, convert_upload, source_cells
from autograder.package import Assignment, load_assignment
from autograder.records_io import RunRecords
from autograder.result import GradeResult
from autograder.sandbox import Sandbox, make_sandbox
from autograder.sandbox_runs import ProgressCallback, RunSetup, SandboxRunner
from autograder.scan import ScanResult, scan_source
from autograder.scoring import score
from autograder.student_run import module_under_test, student_run
from autograder.trusted_run import TrustedRunShare, trusted_run

ENGINE_VERSION = "1"


def grade(assignment_dir: Path, submission: Path, *, sandbox: str | Sandbox = "process", seed: int | None = None,
          hardware: str | None = None, on_progress: ProgressCallback | None = None,
          only_parts: tuple[str, ...] | None = None, with_reference_solution: bool = False,
          gpus: tuple[int, ...] = (), on_records: Callable[[RunRecords, RunRecords], None] | None = None,
          trusted_share: TrustedRunShare | None = None, run_lanes: int | None = None) -> GradeResult:
    """Grade `submission` (.ipynb, .py, or a package folder) against the assignment.

    `only_parts` restricts grading to those parts' tests (the gate's mutant runs);
    `with_reference_solution` makes the reference importable as `reference_solution` (mutants
    only: never for student work). `on_records(trusted, student)` sees both runs' records before
    their folders are removed (the gate's weak-check analysis). `trusted_share` is where the
    workers of a deployment share trusted runs (trusted_run.py). `run_lanes`: sandbox runs the
    student run may run at once (lanes.py; default: the `run_lanes` setting, 0 meaning 1); the
    caller sizes it to the cores and memory it grants the grading (the worker: worker/lanes.py).
    Never raises for a bad submission; raises `GradingError` only when grading itself failed.
    """
    started = time.monotonic()
    run_lanes = max(1, int(config.get("run_lanes") if run_lanes is None else run_lanes))
    assignment = load_assignment(Path(assignment_dir))
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
        runner = SandboxRunner(RunSetup(assignment, backend, work, seed, gpus))
        trusted_started = time.monotonic()
        trusted = trusted_run(runner, bundle_digest=digest, hardware=hardware, share=trusted_share)
        trusted_s = time.monotonic() - trusted_started
        nodeids = [nodeid for nodeid in trusted.records.order
                   if only_parts is None or trusted.part_of(nodeid) in only_parts]
        student_started = time.monotonic()
        module = module_under_test(submission, converted, work, assignment, with_reference_solution)
        student = student_run(runner, module, trusted, nodeids, on_progress,
                              student_lines=converted.student_lines if converted else None, lanes=run_lanes)
        student_s = time.monotonic() - student_started
        feedback = _cell_feedback(converted, assignment, student.out_dirs)
        score(result, assignment, trusted.records, student, scan, nodeids, hardware, feedback)
        if feedback:
            result.warnings += feedback.notes()
        if student.deaths.summary():
            result.message = f"{student.deaths.summary()} ({result.message})"
        if on_records:
            on_records(trusted.records, student.records)
        result.run.update({
            "restarts": student.restarts,
            "lanes": run_lanes,
            "student_runs": student.log,
            "trusted_cached": trusted.cached,
            "trusted_source": trusted.source,
            "image": runner.image,
            "durations": {
                "trusted_s": round(trusted_s, 3),
                "student_s": round(student_s, 3),
                "total_s": round(time.monotonic() - started, 3),
            },
        })
        if student.records.problems:
            result.flags.append({"kind": "records", "evidence": student.records.problems[:20]})
    if on_progress:
        on_progress({"test": None, "part": None, "done": len(nodeids), "total": len(nodeids)})
    return result


# --- steps ----------------------------------------------------------------------------------

def _convert(submission: Path, assignment: Assignment) -> Converted | None:
    if submission.is_dir():  # a package (the reference, in the gate): trusted staff code
        return None
    if not submission.is_file():
        raise SubmissionRejected(f"{submission.name}: no such file")
    return convert_upload(submission, assignment.notebook_path, max_bytes=assignment.max_upload_bytes)


def _cell_feedback(converted: Converted | None, assignment: Assignment, out_dirs: list[Path]) -> CellFeedback | None:
    """Which cells of a notebook upload failed or are unanswered (messages only, never points)."""
    if converted is None or not converted.cells:
        return None
    instructor = json.loads(assignment.notebook_path.read_text(encoding="utf-8"))
    sources = {cell.grade_id: cell.source for cell in source_cells(instructor)}
    return CellFeedback.build(converted.cells, sources, out_dirs)


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
