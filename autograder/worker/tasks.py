"""The Celery app and the task names the portal enqueues (CONTRACT.md), as thin wrappers over
jobs.py. `create_app(engine)` builds it around the engine it is given: `app.py` passes the real
one, the worker's tests a stand-in."""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Mapping

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

from autograder.worker import jobs, similarity_jobs
from autograder.worker.context import WorkerContext
from autograder.worker.engine import Engine
from autograder.worker.portal import PortalUnavailable
from autograder.worker.settings import celery_config, load_settings

log = logging.getLogger(__name__)


def _queue_of(task) -> str | None:
    info = task.request.delivery_info or {}
    return info.get("routing_key") or None


def _retry(task, later: jobs.RetryLater, args: tuple | None = None):
    log.info("%s%s again in %.0f s: %s", task.name, task.request.args, later.countdown_s, later)
    return task.retry(countdown=later.countdown_s, max_retries=None, exc=later,
                      queue=_queue_of(task), args=args)


def create_app(engine: Engine, settings: Mapping[str, Any] | None = None) -> Celery:
    """The worker's Celery app, its tasks calling `engine`; `settings` default to the
    environment's (settings.load_settings)."""
    settings = load_settings() if settings is None else settings
    app = Celery("dlgrade")
    app.conf.update(celery_config(settings))
    contexts: dict[int, WorkerContext] = {}

    def context() -> WorkerContext:
        """One context per process (pool children get their own sockets and Redis clients)."""
        pid = os.getpid()
        if pid not in contexts:
            contexts.clear()
            contexts[pid] = WorkerContext(settings, engine)
        return contexts[pid]

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

    background: dict[str, Any] = {}  # the main process's announcer and sweeper threads

    def on_worker_ready(sender=None, **_kwargs) -> None:
        if settings["metrics_port"]:
            from autograder.worker.metrics import serve

            serve(settings, settings["metrics_port"])
            log.info("Prometheus metrics on :%s/metrics", settings["metrics_port"])
        # Cgroups, scratch folders and containers of runs killed with an earlier worker hold
        # memory, disk and GPUs (cleanup.py).
        from autograder.worker.cleanup import remove_leftovers

        remove_leftovers(settings)
        # Heartbeats to the portal (announce.py) and the one sweeper (sweeper.py), from the main
        # process of every worker, so no deployment can forget either.
        from autograder.worker.announce import Announcer

        controller = getattr(sender, "controller", None)
        consumed = (list(app.amqp.queues.consume_from or {})
                    or [f"{settings['queue_prefix']}{q}" for q in settings["queues"]])
        background["announcer"] = Announcer(settings, queues=consumed, concurrency=getattr(
            controller, "concurrency", None) or settings["concurrency"]).start()
        if settings["sweep_in_worker"]:
            from autograder.worker.sweeper import SweeperThread

            background["sweeper"] = SweeperThread(settings).start()

    def on_worker_shutdown(sender=None, **_kwargs) -> None:
        for thread in background.values():
            thread.stop()

    worker_ready.connect(on_worker_ready, weak=False)
    worker_shutdown.connect(on_worker_shutdown, weak=False)
    return app
