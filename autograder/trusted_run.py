"""The trusted run: the tests against the reference, cached per (bundle digest, seed,
hardware, harness). Its records are the expected values and, for the student run, each test's
time limit and part."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import shutil
from pathlib import Path

from autograder import config
from autograder.errors import GradingError
from autograder.records_io import RunRecords, read_run
from autograder.sandbox import Mount
from autograder.sandbox_runs import HARNESS_DIR, ModuleUnderTest, RunRequest, SandboxRunner, ended_cleanly


@dataclasses.dataclass(frozen=True)
class TrustedRun:
    records: RunRecords
    cached: bool
    default_timeout_s: float  # the assignment's test_timeout_s, for a test the run did not record

    def timeout_of(self, nodeid: str) -> float:
        record = self.records.tests.get(nodeid)
        return float(record["timeout_s"] or self.default_timeout_s) if record else self.default_timeout_s

    def part_of(self, nodeid: str) -> str | None:
        record = self.records.tests.get(nodeid)
        return record["part"] if record else None

    def expected_time(self, nodeids: list[str]) -> float:
        return sum(self.timeout_of(nodeid) for nodeid in nodeids)


@functools.lru_cache(maxsize=1)
def harness_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(HARNESS_DIR.glob("*")):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def trusted_run(runner: SandboxRunner, *, bundle_digest: str, hardware: str) -> TrustedRun:
    """The reference's records: from the cache, or run now and stored."""
    assignment = runner.setup.assignment
    default_timeout_s = float(assignment.resources.test_timeout_s)
    # The harness's own source is part of the key: a changed harness records differently.
    key = hashlib.sha256((hardware + harness_digest()).encode()).hexdigest()[:12]
    cache = Path(config.get("cache_dir")) / "trusted" / bundle_digest / f"{runner.setup.seed}-{key}"
    if (cache / "complete").is_file():
        return TrustedRun(read_run(cache, max_bytes=1 << 40), True, default_timeout_s)
    reference = assignment.reference_dir
    if not (reference / "__init__.py").is_file():
        raise GradingError(f"no reference package at {reference}; grading needs the grader bundle")
    request = RunRequest(ModuleUnderTest(Mount(reference, "/grader/reference"), "/grader/reference"),
                         "trusted", None, assignment.resources.run_timeout_s * 2)
    job, outcome, records = runner.run(request)
    if not records.tests:
        raise GradingError(
            f"the trusted run (reference) produced no records: exit {outcome.exit_code}, timed out "
            f"{outcome.timed_out}; stderr: {outcome.stderr[-2000:]} stdout: {outcome.stdout[-2000:]}")
    if not ended_cleanly(outcome):
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
    return TrustedRun(read_run(cache, max_bytes=1 << 40), False, default_timeout_s)
