"""The trusted run: the tests against the reference, cached per (bundle digest, seed,
hardware, harness). Its records are the expected values and, for the student run, each test's
time limit and part.

A machine's own cache lives under `config.get("cache_dir")`. A deployment's workers also share
their trusted runs through a `TrustedRunShare` (the worker's is the portal,
autograder/worker/trusted_share.py): a worker that lacks a run fetches the archive another
worker published before running the reference itself. Only this module publishes, and only
the output of a reference run; what comes back from the share is used when it unpacks and
reads as a complete run, else the reference is run here.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import io
import json
import logging
import os
import shutil
import tarfile
from pathlib import Path
from typing import Protocol

from autograder import config
from autograder.errors import GradingError
from autograder.records_io import RunRecords, read_run
from autograder.sandbox import Mount
from autograder.sandbox_runs import HARNESS_DIR, ModuleUnderTest, RunRequest, SandboxRunner, ended_cleanly

log = logging.getLogger(__name__)

COMPLETE_MARKER = "complete"
MAX_UNPACKED_BYTES = 4 << 30  # a shared archive that unpacks larger than this is not used


class TrustedRunShare(Protocol):
    """Trusted runs shared by the workers of a deployment, by `trusted_key`. `fetch` returns
    the archive published under `key` with its integrity checked, or None; neither method
    raises for a missing, corrupt or unreachable store (the run falls back to the reference)."""

    def fetch(self, key: str) -> bytes | None: ...

    def publish(self, key: str, archive: bytes) -> None: ...


@dataclasses.dataclass(frozen=True)
class TrustedRun:
    records: RunRecords
    source: str  # "run" (the reference ran now), "cache" (this machine's), "shared" (another worker's)
    default_timeout_s: float  # the assignment's test_timeout_s, for a test the run did not record

    @property
    def cached(self) -> bool:
        return self.source != "run"

    def timeout_of(self, nodeid: str) -> float:
        record = self.records.tests.get(nodeid)
        return float(record["timeout_s"] or self.default_timeout_s) if record else self.default_timeout_s

    def part_of(self, nodeid: str) -> str | None:
        record = self.records.tests.get(nodeid)
        return record["part"] if record else None

    def expected_time(self, nodeids: list[str]) -> float:
        return sum(self.timeout_of(nodeid) for nodeid in nodeids)

    def duration_of(self, nodeid: str) -> float:
        """How long the test took against the reference (its time limit where not recorded):
        what lanes.py balances the student run's lanes by."""
        record = self.records.tests.get(nodeid)
        seconds = record.get("duration_s") if record else None
        return max(float(seconds), 0.001) if seconds is not None else self.timeout_of(nodeid)


@functools.lru_cache(maxsize=1)
def harness_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(HARNESS_DIR.glob("*")):
        if path.is_file():
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def trusted_key(bundle_digest: str, seed: int, hardware: str) -> str:
    """What a trusted run depends on: the bundle, the seed, the hardware (perf baselines never
    mix GPUs) and the harness's own source (a changed harness records differently)."""
    material = json.dumps([bundle_digest, int(seed), hardware, harness_digest()])
    return hashlib.sha256(material.encode()).hexdigest()


def trusted_run(runner: SandboxRunner, *, bundle_digest: str, hardware: str,
                share: TrustedRunShare | None = None) -> TrustedRun:
    """The reference's records: from this machine's cache, from the share, or run now (and
    then stored in both)."""
    assignment = runner.setup.assignment
    default_timeout_s = float(assignment.resources.test_timeout_s)
    key = trusted_key(bundle_digest, runner.setup.seed, hardware)
    cache = Path(config.get("cache_dir")) / "trusted" / bundle_digest / f"{runner.setup.seed}-{key[:16]}"
    if (cache / COMPLETE_MARKER).is_file():
        return TrustedRun(read_run(cache, max_bytes=1 << 40), "cache", default_timeout_s)
    if share is not None and _take_shared(share, key, cache):
        return TrustedRun(read_run(cache, max_bytes=1 << 40), "shared", default_timeout_s)
    output_dir = _run_reference(runner)
    _store(cache, lambda partial: shutil.copytree(output_dir, partial))
    if share is not None:
        try:
            share.publish(key, pack(cache))
        except Exception as exc:  # noqa: BLE001 - sharing is an optimisation; grading goes on
            log.warning("could not publish trusted run %s: %s", key[:12], exc)
    return TrustedRun(read_run(cache, max_bytes=1 << 40), "run", default_timeout_s)


def _run_reference(runner: SandboxRunner) -> Path:
    assignment = runner.setup.assignment
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
    return job.output_dir


def _store(cache: Path, fill) -> bool:
    """Fill a fresh folder with `fill(folder)`, mark it complete and move it to `cache`
    atomically; False when another grader stored the same run first."""
    partial = cache.with_name(cache.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    fill(partial)
    (partial / COMPLETE_MARKER).write_text("ok")
    try:
        partial.rename(cache)
        return True
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
        return False


def _take_shared(share: TrustedRunShare, key: str, cache: Path) -> bool:
    """Fetch, unpack and check the shared run into `cache`; False (nothing stored) if any of it fails."""
    try:
        archive = share.fetch(key)
    except Exception as exc:  # noqa: BLE001 - a broken share costs a reference run, not the grading
        log.warning("trusted-run share failed for %s: %s", key[:12], exc)
        return False
    if archive is None:
        return False
    staging = cache.with_name(cache.name + f".shared-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        unpack(archive, staging)
        records = read_run(staging, max_bytes=1 << 40)
        if not (staging / COMPLETE_MARKER).is_file() or not records.tests:
            raise ValueError(f"not a complete trusted run ({records.problems[:3]})")
        _store(cache, lambda partial: shutil.copytree(staging, partial))
    except (OSError, ValueError, tarfile.TarError, EOFError) as exc:
        log.warning("shared trusted run %s not used, running the reference: %s", key[:12], exc)
        return False
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return (cache / COMPLETE_MARKER).is_file()


def pack(folder: Path) -> bytes:
    """A trusted run's folder as a deterministic .tar.gz (sorted names, zeroed times and owners)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(folder).as_posix())
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def unpack(archive: bytes, dest: Path) -> None:
    """Unpack what `pack` made: regular files only, inside `dest`, within MAX_UNPACKED_BYTES."""
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        members = tar.getmembers()
        if sum(member.size for member in members) > MAX_UNPACKED_BYTES:
            raise ValueError("the archive unpacks to more than MAX_UNPACKED_BYTES")
        for member in members:
            if not member.isfile():
                raise ValueError(f"unexpected member {member.name!r} (regular files only)")
        tar.extractall(dest, filter="data")
