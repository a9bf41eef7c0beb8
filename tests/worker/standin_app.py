"""The worker's Celery app around the stand-in engine: `celery -A standin_app worker` with
tests/worker on the path (worker_helpers.WorkerFactory starts it)."""

from autograder.worker.tasks import create_app
from worker_standins import ENGINE

app = create_app(ENGINE)
