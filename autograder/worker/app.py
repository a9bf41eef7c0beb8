"""The Celery app: `celery -A autograder.worker.app worker` (queues, concurrency and limits
come from the settings, see settings.py; `-Q`/`-c` on the command line still override).

The portal sends tasks by name with a bare Celery client and never imports this module.
"""

from __future__ import annotations

import logging

from celery import Celery
from celery.signals import worker_ready

from autograder.worker.settings import celery_config, load_settings

settings = load_settings()

app = Celery("dlgrade", include=["autograder.worker.tasks"])
app.conf.update(celery_config(settings))

log = logging.getLogger(__name__)


@worker_ready.connect
def _serve_metrics(sender=None, **_kwargs) -> None:
    if settings["metrics_port"]:
        from autograder.worker.metrics import serve

        serve(settings, settings["metrics_port"])
        log.info("Prometheus metrics on :%s/metrics", settings["metrics_port"])


@worker_ready.connect
def _remove_stale_sandboxes(sender=None, **_kwargs) -> None:
    """Containers left by a worker that died mid-run hold memory and GPUs: remove them."""
    if settings["sandbox"] == "docker":
        from autograder.sandbox.docker import remove_stale_containers

        removed = remove_stale_containers()
        if removed:
            log.warning("removed %d sandbox containers left by an earlier worker", removed)
