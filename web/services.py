"""The portal's verbs. Views parse and check permissions, then call these with plain values.

Every function that enqueues commits first, then sends (CONTRACT.md): a lost message is
found again by the sweeper (autograder/worker/sweeper.py, through `GET /api/worker/stuck`),
a message about an uncommitted row cannot happen.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from . import operations, packages
from .db import utcnow
from .models import Assignment, GradeRun, Submission
from .notebooks import UploadRejected, validate_upload
from .storage import FileStore
from .tasks import GATE_TASK, GRADE_TASK, TaskClient


class Refused(ValueError):
    """A request that is understood but not allowed now; `status` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


# --- assignments ----------------------------------------------------------------------------


def upload_package(session: Session, store: FileStore, tasks: TaskClient, *, course_id: int, data: bytes) -> Assignment:
    """Store a package, create or update its assignment, and enqueue the release gate. What the
    assignment is (title, parts, release) comes from the gate's report (`record_gate`)."""
    try:
        slug = packages.package_slug(data)
    except packages.PackageError as exc:
        raise Refused(str(exc)) from None
    package_sha = store.put(data)
    assignment = session.scalar(sa.select(Assignment).where(Assignment.course_id == course_id,
                                                            Assignment.slug == slug))
    if assignment is None:
        assignment = Assignment(course_id=course_id, slug=slug, title=slug, state="gating", gate_attempt=0)
        from flask import current_app

        assignment.submissions_per_hour = current_app.config["DEFAULT_SUBMISSIONS_PER_HOUR"]
        session.add(assignment)
    assignment.package_sha256 = package_sha
    if not assignment.released:
        assignment.state = "gating"
    assignment.gate_attempt += 1
    assignment.gate_passed = None
    assignment.gate_report = None
    assignment.early_gate_queue, assignment.early_gate_passed = "", None  # it was about the old package
    assignment.early_gate_report = assignment.early_gate_at = None
    session.commit()
    # before its first report the portal cannot know the GPUs a package needs: the last gate's queue
    tasks.send(GATE_TASK, [assignment.id, assignment.gate_attempt], assignment.queue)
    return assignment


def _accept_passed_gate(store: FileStore, report: Any, bundle_digest: str, slug: str):
    """The assignment a report that says "passed" gated, or why it cannot be taken."""
    if not store.exists(bundle_digest):
        return None, f"bundle {bundle_digest} was never uploaded (PUT /api/worker/bundles/<digest>)"
    try:
        gated = packages.gated_assignment(report, slug)
    except ValueError as exc:
        return None, str(exc)
    if not store.exists(gated.release_digest):
        return None, f"release {gated.release_digest} was never uploaded (PUT /api/worker/releases/<digest>)"
    return gated, None


def record_gate(session: Session, store: FileStore, tasks: TaskClient, *, assignment_id: int, attempt: int,
                passed: bool, report: Any, bundle_digest: str, worker: str) -> bool:
    """Store a gate report and, when it passed, the assignment it parsed and the release it built.
    False (409) when the attempt is not the current one.

    A gate counts only when it ran on the package's own queue. The first gate of a package goes
    to the queue of its last gate (`cpu` for a new one: the portal does not read packages), so a
    GPU package's first gate runs on a CPU worker, where its perf parts cannot be measured. That
    passing report is kept apart as the early gate, for staff to see the correctness checks
    pass, and the gate is sent again to the package's queue."""
    assignment = session.get(Assignment, assignment_id, with_for_update=True)
    if assignment is None or attempt != assignment.gate_attempt:
        return False
    gated, problem = _accept_passed_gate(store, report, bundle_digest, assignment.slug) if passed else (None, None)
    if gated is not None and gated.queue != assignment.queue:
        _regate_on(session, tasks, assignment, gated.queue, report, worker)
        return True
    assignment.gate_passed = bool(passed) and problem is None
    assignment.gate_report = report if problem is None else {"report": report, "portal": problem}
    assignment.gate_worker = worker
    assignment.gate_at = utcnow()
    if assignment.gate_passed:
        assignment.bundle_digest = bundle_digest
        assignment.release_sha256 = gated.release_digest
        assignment.title, assignment.summary = gated.title, gated.summary
        assignment.parts, assignment.solution_ids = gated.parts, gated.solution_ids
        assignment.max_score, assignment.max_upload_mb = gated.max_score, gated.max_upload_mb
        assignment.queue = gated.queue
        if not assignment.released:
            assignment.state = "ready"
            if assignment.release_on_pass:
                assignment.state = "released"
                assignment.released_at = utcnow()
    elif not assignment.released:
        assignment.state = "gate_failed"
    session.commit()
    return True


def _regate_on(session: Session, tasks: TaskClient, assignment: Assignment, queue: str, report: Any,
               worker: str) -> None:
    assignment.early_gate_queue, assignment.early_gate_passed = assignment.queue, True
    assignment.early_gate_report, assignment.early_gate_at = {"report": report, "worker": worker}, utcnow()
    assignment.queue = queue
    assignment.gate_attempt += 1
    session.commit()
    tasks.send(GATE_TASK, [assignment.id, assignment.gate_attempt], queue)


def release(session: Session, store: FileStore, assignment: Assignment, *, offline_after_s: int) -> None:
    if assignment.gate_passed is None:
        waiting = operations.waiting_message(session, assignment.queue, utcnow(), offline_after_s)
        raise Refused(f"The release gate has not run yet for this package ({waiting or 'it is running now'}); "
                      "release once it passes.", 409)
    if not assignment.gate_passed:
        raise Refused("The release gate failed for this package; fix the package and upload it again.", 409)
    if not store.exists(assignment.bundle_digest) or not store.exists(assignment.release_sha256):
        raise Refused("The gate passed but its grader bundle or student release is missing from the file "
                      "store; upload the package again to rebuild them.", 409)
    if assignment.deadline is None:
        raise Refused("Set a deadline before releasing.", 409)
    assignment.state = "released"
    assignment.released_at = utcnow()
    session.commit()


def update_settings(session: Session, assignment: Assignment, *, deadline: dt.datetime | None,
                    penalty_per_day: float, grace_days: int, hard_cutoff: dt.datetime | None,
                    submissions_per_hour: int) -> None:
    if not 0 <= penalty_per_day <= 1:
        raise Refused("The penalty per day is a fraction between 0 and 1 (0.1 means 10% per day).")
    if grace_days < 0 or submissions_per_hour < 1:
        raise Refused("Grace days must be 0 or more and the rate limit at least 1 per hour.")
    if hard_cutoff and deadline and hard_cutoff < deadline:
        raise Refused("The hard cut-off must be at or after the deadline.")
    assignment.deadline = deadline
    assignment.penalty_per_day = penalty_per_day
    assignment.grace_days = grace_days
    assignment.hard_cutoff = hard_cutoff
    assignment.submissions_per_hour = submissions_per_hour
    session.commit()


# --- submissions ----------------------------------------------------------------------------


def submit(session: Session, store: FileStore, tasks: TaskClient, *, assignment: Assignment, user_id: int,
           filename: str, data: bytes, default_max_mb: float, now: dt.datetime | None = None) -> Submission:
    now = now or utcnow()
    if not assignment.released:
        raise Refused("This assignment is not released.", 404)
    if assignment.hard_cutoff is not None and now > assignment.hard_cutoff:
        raise Refused("The hard cut-off for this assignment has passed; submissions are closed.", 403)
    recent = session.scalar(sa.select(sa.func.count()).select_from(Submission).where(
        Submission.assignment_id == assignment.id, Submission.user_id == user_id,
        Submission.submitted_at > now - dt.timedelta(hours=1)))
    if recent >= assignment.submissions_per_hour:
        raise Refused(f"You can submit {assignment.submissions_per_hour} times per hour on this assignment; "
                      "check locally with `dlgrade check` and try again later.", 429)
    max_mb = assignment.max_upload_mb or default_max_mb
    try:
        validate_upload(filename=filename, data=data, slug=assignment.slug, solution_ids=assignment.solution_ids or [],
                        max_bytes=int(max_mb * 1024 * 1024))
    except UploadRejected as exc:
        raise Refused(str(exc), 413 if len(data) > max_mb * 1024 * 1024 else 400) from None
    digest = store.put(data)
    sub = Submission(assignment_id=assignment.id, user_id=user_id, filename=_safe_name(filename), sha256=digest,
                     size=len(data), state="queued", attempt=1, queue=assignment.queue, submitted_at=now,
                     queued_at=now, updated_at=now)
    session.add(sub)
    session.flush()
    session.add(GradeRun(submission_id=sub.id, attempt=1, bundle_digest=assignment.bundle_digest,
                         reason="submitted", requested_by_id=user_id))
    session.commit()
    tasks.send(GRADE_TASK, [sub.id, 1], sub.queue)
    return sub


def _safe_name(filename: str) -> str:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(c for c in name if c.isalnum() or c in "._- ")[:200] or "submission.ipynb"


def regrade(session: Session, tasks: TaskClient, subs: list[Submission], *, by_user_id: int | None,
            reason: str = "regrade") -> list[Submission]:
    now = utcnow()
    for sub in subs:
        sub.attempt += 1
        sub.state = "queued"
        sub.queued_at = now
        sub.updated_at = now
        sub.started_at = sub.finished_at = None
        sub.progress_done = sub.progress_total = 0
        sub.progress_part = ""
        sub.message = ""
        session.add(GradeRun(submission_id=sub.id, attempt=sub.attempt, bundle_digest=sub.assignment.bundle_digest,
                             reason=reason, requested_by_id=by_user_id))
    session.commit()
    for sub in subs:
        tasks.send(GRADE_TASK, [sub.id, sub.attempt], sub.queue)
    return subs


def override(session: Session, sub: Submission, *, score: float | None, comment: str, by_user_id: int) -> None:
    if score is not None and not (0 <= score <= max(sub.assignment.max_score, sub.max_score or 0) * 2):
        raise Refused("The override score is out of range.")
    if score is not None and not comment.strip():
        raise Refused("Say why in the comment; students and other staff will read it.")
    sub.override_score = score
    sub.override_comment = comment.strip()
    sub.override_by_id = by_user_id
    sub.override_at = utcnow()
    session.commit()


# --- what workers report --------------------------------------------------------------------


class UnknownAttempt(LookupError):
    pass


def _run(session: Session, submission_id: int, attempt: int) -> tuple[Submission, GradeRun]:
    sub = session.get(Submission, submission_id, with_for_update=True)
    if sub is None:
        raise LookupError(submission_id)
    run = session.scalar(sa.select(GradeRun).where(GradeRun.submission_id == submission_id,
                                                   GradeRun.attempt == attempt).with_for_update())
    if run is None:
        raise UnknownAttempt(attempt)
    return sub, run


def record_progress(session: Session, *, submission_id: int, attempt: int, worker: str, part: str | None,
                    done: int, total: int) -> None:
    """Progress is shown to the student, so only a count and one of the assignment's part names
    are kept: anything else in `part` (a test's name from a worker that sends one) is dropped."""
    sub, run = _run(session, submission_id, attempt)
    if attempt == sub.attempt and sub.state in ("received", "queued", "running"):
        now = utcnow()
        if sub.state != "running":
            sub.started_at = now
        sub.state = "running"
        sub.worker = run.worker = worker[:200]
        part_names = {p.get("name") for p in sub.assignment.parts or []}
        sub.progress_part = part if part in part_names else ""
        sub.progress_done, sub.progress_total = max(0, int(done)), max(0, int(total))
        sub.updated_at = now
    session.commit()


def record_result(session: Session, *, submission_id: int, attempt: int, worker: str, result: dict) -> bool:
    """True if stored, False if this (submission, attempt) already had a result."""
    sub, run = _run(session, submission_id, attempt)
    if run.result is not None:
        session.rollback()
        return False
    now = utcnow()
    status = str(result.get("status", "graded"))
    run.result = result
    run.worker = worker[:200]
    run.received_at = now
    run.status = status
    run.score = _number(result.get("score"))
    run.max_score = _number(result.get("max_score"))
    if attempt == sub.attempt:  # an older attempt is history, never the current score
        sub.state = {"rejected": "rejected", "error": "error"}.get(status, "graded")
        sub.score, sub.max_score = run.score, run.max_score
        sub.message = str(result.get("message") or "")[:4000]
        sub.finished_at = sub.updated_at = now
        sub.worker = run.worker
        if sub.progress_total:
            sub.progress_done = sub.progress_total
    session.commit()
    return True


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def record_failure(session: Session, *, submission_id: int, attempt: int, worker: str, message: str,
                   detail: str, final: bool) -> None:
    sub, run = _run(session, submission_id, attempt)
    run.failures += 1
    run.failure_message = str(message)[:4000]
    run.failure_detail = str(detail)[:100_000]
    run.worker = worker[:200]
    if attempt == sub.attempt and run.result is None:
        sub.updated_at = utcnow()
        if final:
            run.status = "error"
            sub.state = "error"
            sub.message = "Grading failed on our side, not because of your code; staff have been told."
            sub.finished_at = sub.updated_at
    session.commit()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
