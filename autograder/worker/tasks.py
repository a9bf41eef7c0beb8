"""The task names the portal enqueues (CONTRACT.md), as thin wrappers over jobs.py."""

from __future__ import annotations

import logging
import os
import time

from autograder.worker import jobs, similarity_jobs
from autograder.worker.app import app, settings
from autograder.worker.context import WorkerContext
from autograder.worker.portal import PortalUnavailable

log = logging.getLogger(__name__)

_context: WorkerContext | None = None
_context_pid = 0


def context() -> WorkerContext:
    """One context per process (pool children get their own sockets and Redis clients)."""
    global _context, _context_pid
    if _context is None or _context_pid != os.getpid():
        _context, _context_pid = WorkerContext(settings), os.getpid()
    return _context


def _queue_of(task) -> str | None:
    info = task.request.delivery_info or {}
    return info.get("routing_key") or None


def _retry(task, later: jobs.RetryLater, args: tuple | None = None):
    log.info("%s%s again in %.0f s: %s", task.name, task.request.args, later.countdown_s, later)
    return task.retry(countdown=later.countdown_s, max_retries=None, exc=later,
                      queue=_queue_of(task), args=args)


@app.task(name="dlgrade.grade_submission", bind=True)
def grade_submission(self, submission_id: int, attempt: int) -> str:
    queue = _queue_of(self)

    def hand_off(sid: int, att: int, payload: dict) -> None:
        post_result.apply_async((sid, att, payload, time.time()), queue=queue)

    def reroute(sid: int, att: int, to_queue: str) -> None:
        app.send_task("dlgrade.grade_submission", (sid, att), queue=to_queue)

    try:
        outcome = jobs.grade_job(context(), int(submission_id), int(attempt),
                                 task_id=self.request.id or "local", hand_off=hand_off,
                                 reroute=reroute)
    except jobs.RetryLater as later:
        raise _retry(self, later)
    log.info("submission %s attempt %s: %s", submission_id, attempt, outcome)
    return outcome


@app.task(name="dlgrade.post_result", bind=True)
def post_result(self, submission_id: int, attempt: int, payload: dict,
                first_try: float | None = None) -> str:
    """A result the portal could not take when grading finished: posted with back-off
    (1 s doubling to 60 s) until it is taken or `post_give_up_s` has passed."""
    first_try = first_try or time.time()
    try:
        return jobs.deliver_result(context(), int(submission_id), int(attempt), payload,
                                   deadline_s=0)
    except PortalUnavailable as exc:
        if time.time() - first_try > settings["post_give_up_s"]:
            log.error("gave up posting the result of submission %s attempt %s: %s",
                      submission_id, attempt, exc)
            context().state.count_job("result_abandoned")
            return "abandoned"
        later = jobs.RetryLater(min(60, 2 ** self.request.retries), str(exc))
        raise _retry(self, later, args=(submission_id, attempt, payload, first_try))


@app.task(name="dlgrade.run_gate", bind=True)
def run_gate(self, assignment_id: int, attempt: int) -> str:
    try:
        outcome = jobs.gate_job(context(), int(assignment_id), int(attempt),
                                task_id=self.request.id or "local")
    except jobs.RetryLater as later:
        raise _retry(self, later)
    log.info("gate of assignment %s attempt %s: %s", assignment_id, attempt, outcome)
    return outcome


@app.task(name="dlgrade.run_similarity", bind=True)
def run_similarity(self, assignment_id: int, attempt: int) -> str:
    try:
        outcome = similarity_jobs.similarity_job(context(), int(assignment_id), int(attempt),
                                                 task_id=self.request.id or "local")
    except jobs.RetryLater as later:
        raise _retry(self, later)
    log.info("similarity review of assignment %s run %s: %s", assignment_id, attempt, outcome)
    return outcome
