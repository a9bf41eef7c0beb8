"""What one grading job and one gate run do, as named steps. Celery-free: tasks.py wraps them.

A job re-reads the submission from the portal first (tasks take ids, the database is the
truth), so a duplicate delivery of work that is already done or superseded costs one GET.
Then: claim it, count the delivery (a poison job is failed for staff after
`max_deliveries` starts), lock its GPUs, fetch the upload and the verified bundle, grade with
the engine, post the result (idempotent per submission and attempt).
"""

from __future__ import annotations

import logging
import os
import tarfile
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from autograder import config
from autograder.package import RESOURCE_FIELDS
from autograder.worker.bundles import normalize_digest, sha256_file
from autograder.worker.claimed import Claim, RetryLater, claimed, post_with_backoff, report_once, running
from autograder.worker.context import WorkerContext
from autograder.worker.gpus import GpuLease
from autograder.worker.lanes import lanes_for_job
from autograder.worker.portal import PortalRefused, PortalUnavailable, with_backoff
from autograder.worker.queues import gpus_for_queue
from autograder.worker.settings import prefixed

log = logging.getLogger(__name__)

# submission states whose current attempt needs no more work
DONE_STATES = frozenset({"graded", "rejected", "error"})
UPLOAD_SUFFIXES = (".ipynb", ".py")


class WorkerMisconfigured(Exception):
    """This worker cannot grade the assignment as configured; retrying will not help."""


# Hands a result to dlgrade.post_result when the portal stays down past post_inline_s.
HandOff = Callable[[int, int, dict], None]
# Sends dlgrade.grade_submission(id, attempt) to another queue.
Reroute = Callable[[int, int, str], None]


def _as_dict(obj: Any) -> dict:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


@contextmanager
def _leased_gpus(claim: Claim, need: int, wait_s: float, *, retry_s: float) -> Iterator[tuple[int, ...]]:
    """Hold `need` of the worker's GPUs for the job, keeping its claim alive while a multi-GPU job
    gathers them for minutes; RetryLater (a start that does not count) if they stay busy."""
    ctx = claim.ctx
    with GpuLease(ctx.run_dir, ctx.settings["gpus"]) as lease:
        renewed = [time.monotonic()]

        def keep_claim() -> None:
            if time.monotonic() - renewed[0] >= ctx.settings["heartbeat_s"]:
                ctx.state.renew(claim.key, claim.owner, ctx.claim_ttl_s)
                renewed[0] = time.monotonic()

        gpus = lease.acquire(need, wait_s, on_wait=keep_claim)
        if gpus is None:
            ctx.state.uncount_delivery(claim.kind, claim.ident, claim.attempt)
            raise RetryLater(retry_s, f"no {need} free GPUs")
        yield gpus


@contextmanager
def _visible_gpus(gpus: tuple[int, ...]) -> Iterator[None]:
    """The engine (and the process sandbox it starts) sees only the leased GPUs."""
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = before


def _portal_get(ctx: WorkerContext, path: str) -> Any:
    try:
        return with_backoff(lambda: ctx.portal.get_json(path),
                            deadline_s=ctx.settings["post_inline_s"], what=f"GET {path}")
    except PortalUnavailable as exc:
        raise RetryLater(60, f"portal unreachable: {exc}") from exc


def report_failure(ctx: WorkerContext, submission_id: int, attempt: int, message: str,
                   detail: str, final: bool) -> None:
    payload = {"attempt": attempt, "worker": ctx.portal.worker_name, "message": message,
               "detail": detail[-20000:], "final": final}
    try:
        post_with_backoff(ctx, f"/api/worker/submissions/{submission_id}/failure", payload,
                          ctx.settings["post_inline_s"])
    except (PortalUnavailable, PortalRefused) as exc:
        log.error("could not report failure of submission %s: %s", submission_id, exc)
        if final:  # the portal must learn about a final failure: try again later
            raise RetryLater(60, f"final failure not delivered: {exc}") from exc


def deliver_result(ctx: WorkerContext, submission_id: int, attempt: int, payload: dict,
                   deadline_s: float) -> str:
    """POST the result; returns "stored", "duplicate" or "refused". PortalUnavailable escapes."""
    path = f"/api/worker/submissions/{submission_id}/result"
    try:
        answer = post_with_backoff(ctx, path, payload, deadline_s)
    except PortalRefused as exc:
        log.error("portal refused the result of submission %s attempt %s: %s",
                  submission_id, attempt, exc)
        ctx.state.count_job("result_refused")
        return "refused"
    if answer.get("stored"):
        return "stored"
    ctx.state.count_job("result_duplicate")
    return "duplicate"


# -- grading ---------------------------------------------------------------------------

def grade_job(ctx: WorkerContext, submission_id: int, attempt: int, *, task_id: str,
              hand_off: HandOff, reroute: Reroute) -> str:
    s = ctx.settings
    sub = _fetch_submission(ctx, submission_id)
    if sub is None:
        return "gone"
    if int(sub["attempt"]) != attempt:
        ctx.state.count_job("superseded")
        return "superseded"
    if sub["state"] in DONE_STATES:
        ctx.state.count_job("already_done")
        return "already_done"
    assignment = sub["assignment"]
    queue = assignment.get("queue") or "cpu"
    need = gpus_for_queue(queue)
    ctx.state.note_queue(prefixed(s, queue))
    if prefixed(s, queue) not in {prefixed(s, q) for q in s["queues"]} or need > len(s["gpus"]):
        reroute(submission_id, attempt, prefixed(s, queue))
        ctx.state.count_job("rerouted")
        return "rerouted"

    with claimed(ctx, "grade", submission_id, attempt, task_id=task_id) as claim:
        delivery = claim.delivery
        if claim.started_too_often():
            report_failure(
                ctx, submission_id, attempt,
                f"grading was started {delivery - 1} times and never finished (the worker "
                "died or hit its time limit each time); not retried: a staff member should "
                "look at this submission",
                f"worker {ctx.portal.worker_name}, max_deliveries={s['max_deliveries']}",
                final=True)
            ctx.state.count_job("failed_final")
            return "failed_final"
        if delivery > 1 and ctx.state.start_was_lost("grade", submission_id, attempt, delivery - 1):
            # the start before this one was killed with its process or worker: staff see it
            report_failure(
                ctx, submission_id, attempt,
                f"start {delivery - 1} of this attempt ended without a result (its worker process "
                f"was killed or its worker was lost); start {delivery} is on {ctx.portal.worker_name}",
                f"delivery {delivery} of at most {s['max_deliveries']}", final=False)

        with _leased_gpus(claim, need, s["gpu_wait_s"] if need <= 1 else s["gather_wait_s"], retry_s=15) as gpus:
            ctx.state.count_job("started")
            started = time.monotonic()
            try:
                with running(claim, f"/api/worker/submissions/{submission_id}/progress") as (reporter, workdir):
                    result = _grade(ctx, sub, workdir, gpus, reporter.update)
            except RetryLater:
                raise
            except Exception as exc:  # our fault (SoftTimeLimitExceeded included): retry, then staff
                final = delivery >= s["max_deliveries"] or isinstance(exc, WorkerMisconfigured)
                report_failure(ctx, submission_id, attempt,
                               f"grading failed: {type(exc).__name__}: {exc}"[:500],
                               traceback.format_exc(), final=final)
                ctx.state.count_job("failed_final" if final else "failed")
                if final:
                    return "failed_final"
                ctx.state.note_start_ended("grade", submission_id, attempt, delivery)
                raise RetryLater(min(300.0, s["failure_retry_s"] * delivery),
                                 f"grading failed: {exc}") from exc
            elapsed = time.monotonic() - started
        ctx.state.observe_grading(assignment.get("slug") or str(assignment.get("id")), elapsed)

        payload = {"attempt": attempt, "worker": ctx.portal.worker_name, "result": result}
        try:
            answer = deliver_result(ctx, submission_id, attempt, payload, s["post_inline_s"])
        except PortalUnavailable:
            hand_off(submission_id, attempt, payload)
            ctx.state.count_job("result_handed_off")
            return "handed_off"
        status = str(result.get("status", "graded"))
        ctx.state.count_job(status)
        return answer if answer != "stored" else status


def _fetch_submission(ctx: WorkerContext, submission_id: int) -> dict | None:
    try:
        return _portal_get(ctx, f"/api/worker/submissions/{submission_id}")
    except PortalRefused as exc:
        if exc.status == 404:
            ctx.state.count_job("gone")
            return None
        raise


def _grade(ctx: WorkerContext, sub: dict, workdir: Path, gpus: tuple[int, ...],
           on_progress: Callable[[dict], None]) -> dict:
    """Fetch the upload and the bundle, run the engine; returns the result JSON."""
    name = Path(str(sub.get("filename") or "submission.ipynb")).name
    if not name.endswith(UPLOAD_SUFFIXES):
        name = "submission.ipynb"
    upload = workdir / name
    got = ctx.portal.download(f"/api/worker/submissions/{sub['id']}/file", upload)
    if sub.get("sha256") and got != sub["sha256"]:
        raise RuntimeError(f"upload of submission {sub['id']} hashes to {got[:12]}, portal "
                           f"says {sub['sha256'][:12]}: the portal's file store is corrupt")
    assignment_dir = ctx.bundles.assignment_dir(sub["assignment"]["bundle_digest"])
    toml = _assignment_toml(assignment_dir)
    _check_run_limit(toml, ctx.settings["max_run_timeout_s"])
    memory_mb = (toml.get("resources") or {}).get("memory_mb", RESOURCE_FIELDS["memory_mb"].default)
    # a malformed memory_mb gets one lane (the engine then rejects the bundle, saying why)
    lanes = lanes_for_job(ctx.settings, len(gpus), memory_mb) if isinstance(memory_mb, int) else 1
    with _visible_gpus(gpus):
        # The engine reads its own settings (DLGRADE_HARDWARE; the backend from DLGRADE_SANDBOX).
        result = ctx.engine.grade(assignment_dir, upload, sandbox=config.get("sandbox"), seed=None,
                                  on_progress=on_progress, gpus=gpus, trusted_share=ctx.trusted_runs,
                                  run_lanes=lanes)
    return _as_dict(result)


def _assignment_toml(assignment_dir: Path) -> dict:
    """The bundle's assignment.toml, unvalidated; {} when unreadable (the engine reports a
    broken bundle with a better message)."""
    import tomllib

    try:
        return tomllib.loads((assignment_dir / "assignment.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def _check_run_limit(toml: dict, max_run_timeout_s: int) -> None:
    """The Celery time limits are derived from max_run_timeout_s; an assignment allowed to run
    longer would be killed by Celery rather than by its own sandbox limit."""
    run_timeout_s = (toml.get("resources") or {}).get("run_timeout_s", 0)
    if isinstance(run_timeout_s, (int, float)) and run_timeout_s > max_run_timeout_s:
        raise WorkerMisconfigured(
            f"assignment {toml.get('slug')!r} allows resources.run_timeout_s = {run_timeout_s}, "
            f"more than this worker's DLGRADE_MAX_RUN_TIMEOUT_S = {max_run_timeout_s}; raise it on "
            "the workers (the Celery time limits follow) or lower the assignment's limit")


# -- gate ------------------------------------------------------------------------------

def gate_job(ctx: WorkerContext, assignment_id: int, attempt: int, *, task_id: str) -> str:
    info = _portal_get(ctx, f"/api/worker/assignments/{assignment_id}")
    if int(info.get("attempt", attempt)) != attempt:
        ctx.state.count_job("gate_superseded")
        return "superseded"
    if info.get("gate_state") in ("passed", "failed"):
        return "already_done"
    with claimed(ctx, "gate", assignment_id, attempt, task_id=task_id) as claim, \
            running(claim, None) as (_, workdir):
        payload = report_once(claim, what="gate", report_path=f"/api/worker/assignments/{assignment_id}/gate",
                              work=lambda: _gate(claim, info, workdir),
                              error=lambda message, detail: _gate_error(ctx, attempt, message, detail))
    if payload is None:
        ctx.state.count_job("gate_refused")
        return "refused"
    ctx.state.count_job("gate_passed" if payload["passed"] else "gate_failed")
    return "passed" if payload["passed"] else "failed"


def _gate_error(ctx: WorkerContext, attempt: int, message: str, detail: str) -> dict:
    return {"attempt": attempt, "worker": ctx.portal.worker_name, "passed": False,
            "report": {"error": message, "detail": detail[-20000:]}, "bundle_digest": None}


def _gate(claim: Claim, info: dict, workdir: Path) -> dict:
    ctx, attempt = claim.ctx, claim.attempt
    package = workdir / "package.tar.gz"
    got = ctx.portal.download(f"/api/worker/assignments/{info['id']}/package", package)
    if info.get("package_digest") and got != normalize_digest(info["package_digest"]):
        raise RuntimeError(f"package hashes to {got[:12]}, portal says {info['package_digest'][:12]}")
    tree = workdir / "package"
    with tarfile.open(package, "r:*") as tar:
        tar.extractall(tree, filter="data")
    package_dir = _find_package_dir(tree, info.get("slug"))
    report = _run_gate_on_its_gpus(claim, info, package_dir, workdir / "out")
    digest = None
    if report.passed and getattr(report, "bundle_path", None):
        digest = _upload(ctx, "bundles", Path(report.bundle_path), report.bundle_digest, "application/gzip")
        _upload(ctx, "releases", Path(report.release_path), report.release_digest, "application/zip")
    return {"attempt": attempt, "worker": ctx.portal.worker_name, "passed": bool(report.passed),
            "report": _as_dict(report), "bundle_digest": digest}


def _run_gate_on_its_gpus(claim: Claim, info: dict, package_dir: Path, out_dir: Path):
    """A gate on a GPU queue holds its GPUs like a grading (perf tests run alone on them) and
    grades one candidate at a time; after the package's early gate passed on a CPU worker it
    grades only the perf parts (`assign`'s perf_only)."""
    ctx = claim.ctx
    need = gpus_for_queue(info.get("queue") or "cpu")
    if need == 0:
        return ctx.engine.run_gate(package_dir, out_dir=out_dir, sandbox=config.get("sandbox"))
    if need > len(ctx.settings["gpus"]):
        raise WorkerMisconfigured(f"the gate needs {need} GPUs; this worker owns {len(ctx.settings['gpus'])}")
    with _leased_gpus(claim, need, ctx.settings["gather_wait_s"], retry_s=30) as gpus, _visible_gpus(gpus):
        return ctx.engine.run_gate(package_dir, out_dir=out_dir, sandbox=config.get("sandbox"), jobs=1,
                                   perf_only=bool(info.get("early_gate_passed")), gpus=gpus)


def _upload(ctx: WorkerContext, kind: str, path: Path, digest: str, content_type: str) -> str:
    """PUT a file the gate built to `/api/worker/<kind>/<digest>`, once it hashes to that digest."""
    digest = normalize_digest(digest)
    if sha256_file(path) != digest:
        raise RuntimeError(f"the gate's {path.name} does not hash to the digest it reported")
    data = path.read_bytes()
    with_backoff(lambda: ctx.portal.put_bytes(f"/api/worker/{kind}/{digest}", data, content_type),
                 deadline_s=ctx.settings["post_inline_s"], what=f"PUT {kind}")
    return digest


def _find_package_dir(tree: Path, slug: str | None) -> Path:
    """`assignments/<slug>` inside the uploaded package (or the folder holding assignment.toml)."""
    if slug and (tree / "assignments" / slug / "assignment.toml").exists():
        return tree / "assignments" / slug
    found = sorted(tree.rglob("assignment.toml"), key=lambda p: len(p.parts))
    if not found:
        raise RuntimeError("the uploaded package has no assignment.toml")
    return found[0].parent
