"""Enqueue worker tasks by name. The portal never imports the worker: a bare Celery client
sends `dlgrade.grade_submission` / `dlgrade.run_gate` to the broker (see CONTRACT.md)."""

from __future__ import annotations

import logging
import threading

from flask import Flask, current_app

log = logging.getLogger(__name__)

GRADE_TASK = "dlgrade.grade_submission"
GATE_TASK = "dlgrade.run_gate"



class TaskClient:
    def __init__(self, broker_url: str, prefix: str = "", enabled: bool = True):
        self.broker_url = broker_url
        self.prefix = prefix
        self.enabled = enabled
        self.sent: list[tuple[str, list, str]] = []  # with enabled=False (tests): what would have been sent
        self._celery = None
        self._lock = threading.Lock()

    def _client(self):
        with self._lock:
            if self._celery is None:
                import celery

                self._celery = celery.Celery("dlgrade-portal", broker=self.broker_url)
                self._celery.conf.update(
                    task_serializer="json",
                    broker_connection_timeout=3,
                    broker_connection_retry_on_startup=False,
                )
            return self._celery

    def warm(self) -> None:
        """Build the Celery client and open a broker connection ahead of the first upload
        (the first send in a process otherwise costs most of a second)."""
        try:
            app = self._client()
            with app.producer_or_acquire() as producer:
                producer.connection.ensure_connection(max_retries=1)
        except Exception as exc:  # broker down at start: sends will retry, the sweeper backs them
            log.warning("broker not reachable at start: %s", exc)

    def send(self, name: str, args: list, queue: str) -> bool:
        """Send one task. Returns False if the broker could not take it: the row stays in its
        committed state and the sweeper sends it again later, so nothing is lost."""
        queue = f"{self.prefix}{queue}"
        if not self.enabled:
            self.sent.append((name, list(args), queue))
            return True
        try:
            self._client().send_task(
                name,
                args=list(args),
                queue=queue,
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
            )
            return True
        except Exception as exc:  # broker down: the sweeper will retry from the database
            log.warning("could not enqueue %s%s on %s: %s", name, args, queue, exc)
            return False


def init_app(app: Flask) -> None:
    tasks = TaskClient(app.config["BROKER_URL"], app.config["QUEUE_PREFIX"], app.config["ENQUEUE"])
    app.extensions["dlgrade_tasks"] = tasks
    if tasks.enabled and not app.config["TESTING"]:
        threading.Thread(target=tasks.warm, name="dlgrade-broker-warmup", daemon=True).start()


def client() -> TaskClient:
    return current_app.extensions["dlgrade_tasks"]
