"""What every job a worker runs shares (a grading, a gate run, a similarity review).

A job runs under its claim in Redis (`dlgrade:claim:<kind>:<id>:<attempt>`, see state.py), so
it runs in one place at a time; each start is counted, so a job that keeps killing its worker
is given up after `max_deliveries`; while it runs, a progress reporter posts to the portal and
renews the claim every `heartbeat_s`, and it works in a scratch folder of its own under
`run_dir/jobs`. A gate run and a similarity review then post one report, whatever happened
(`report_once`); a grading posts a result or a failure (jobs.py).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from autograder.worker.context import WorkerContext
from autograder.worker.portal import PortalRefused, PortalUnavailable, with_backoff
from autograder.worker.progress import ProgressReporter

log = logging.getLogger(__name__)

JOB_FOLDER_PREFIX = "p"  # run_dir/jobs/p<pid>-...: a leftover of a killed run names its dead maker


class RetryLater(Exception):
    """Not now, but the job is still owed: the task re-enqueues itself after `countdown_s`."""

    def __init__(self, countdown_s: float, reason: str):
        super().__init__(reason)
        self.countdown_s = countdown_s


@dataclasses.dataclass(frozen=True)
class Claim:
    ctx: WorkerContext
    kind: str  # grade, gate, similarity
    ident: int
    attempt: int
    owner: str
    delivery: int  # this start's number, 1 for the first

    @property
    def key(self) -> str:
        return self.ctx.state.claim_key(self.kind, self.ident, self.attempt)

    def started_too_often(self) -> bool:
        return self.delivery > self.ctx.settings["max_deliveries"]


@contextmanager
def claimed(ctx: WorkerContext, kind: str, ident: int, attempt: int, *, task_id: str) -> Iterator[Claim]:
    """Hold the job's claim and count this start; RetryLater while another process holds it."""
    key = ctx.state.claim_key(kind, ident, attempt)
    owner = ctx.state.owner(task_id)
    holder = ctx.state.claim(key, owner, ctx.claim_ttl_s)
    if holder is not None:
        ctx.state.count_job("busy_elsewhere")
        raise RetryLater(ctx.claim_ttl_s, f"{kind} {ident} attempt {attempt} is running at {holder}")
    try:
        yield Claim(ctx, kind, ident, attempt, owner, ctx.state.count_delivery(kind, ident, attempt))
    finally:
        try:
            ctx.state.release(key, owner)
        except Exception as exc:  # Redis down: the claim lapses after its TTL
            log.warning("could not release claim %s: %s", key, exc)


@contextmanager
def running(claim: Claim, progress_path: str | None) -> Iterator[tuple[ProgressReporter, Path]]:
    """The job's progress reporter, which also renews the claim (`progress_path` None: heartbeat
    only), and its scratch folder, removed afterwards unless `keep_workdirs`."""
    ctx = claim.ctx
    reporter = ProgressReporter(ctx.portal, progress_path, claim.attempt, ctx.settings["heartbeat_s"],
                                on_beat=lambda: ctx.state.renew(claim.key, claim.owner, ctx.claim_ttl_s)).start()
    jobs = ctx.run_dir / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(dir=jobs, prefix=f"{JOB_FOLDER_PREFIX}{os.getpid()}-{claim.kind}{claim.ident}"
                                                     f"-a{claim.attempt}-"))
    try:
        yield reporter, workdir
    finally:
        reporter.stop()
        if not ctx.settings["keep_workdirs"]:
            shutil.rmtree(workdir, ignore_errors=True)


def post_with_backoff(ctx: WorkerContext, path: str, payload: dict, deadline_s: float) -> dict:
    return with_backoff(lambda: ctx.portal.post_json(path, payload), deadline_s=deadline_s,
                        what=f"POST {path}")


def report_once(claim: Claim, *, what: str, report_path: str, work: Callable[[], dict],
                error: Callable[[str, str], dict]) -> dict | None:
    """Post `work()`'s report to `report_path`; what `work` raised, or a job started more than
    `max_deliveries` times, is reported as `error(message, detail)`. Returns what was posted,
    None if the portal refused it (409: a newer attempt replaced this one, or it is done)."""
    if claim.started_too_often():
        payload = error(f"the {what} was started {claim.delivery - 1} times and never finished", "")
    else:
        try:
            payload = work()
        except RetryLater:  # not now (its GPUs are busy): not the job's failure
            raise
        except Exception as exc:  # our fault or a broken package: staff see why
            payload = error(f"{type(exc).__name__}: {exc}", traceback.format_exc())
    try:
        post_with_backoff(claim.ctx, report_path, payload, claim.ctx.settings["post_inline_s"])
    except PortalRefused as exc:
        log.warning("portal refused the %s report %s: %s", what, report_path, exc)
        return None
    except PortalUnavailable as exc:
        raise RetryLater(60, f"{what} report not delivered: {exc}") from exc
    return payload
