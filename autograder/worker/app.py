"""The Celery app: `celery -A autograder.worker.app worker` (queues, concurrency and limits
come from the settings, see settings.py; `-Q`/`-c` on the command line still override).

The portal sends tasks by name with a bare Celery client and never imports this module.
"""

from __future__ import annotations

import logging

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

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
def _remove_leftovers(sender=None, **_kwargs) -> None:
    """Cgroups, scratch folders and containers of runs killed with an earlier worker hold
    memory, disk and GPUs: remove them (cleanup.py)."""
    from autograder.worker.cleanup import remove_leftovers

    remove_leftovers(settings)


_announcer = None


@worker_ready.connect
def _announce(sender=None, **_kwargs) -> None:
    """Heartbeats to the portal from the main process (announce.py)."""
    global _announcer
    from autograder.worker.announce import Announcer

    controller = getattr(sender, "controller", None)
    consumed = list(app.amqp.queues.consume_from or {}) or [f"{settings['queue_prefix']}{q}" for q in settings["queues"]]
    _announcer = Announcer(settings, queues=consumed,
                           concurrency=getattr(controller, "concurrency", None) or settings["concurrency"]).start()


_sweeper = None


@worker_ready.connect
def _start_sweeper(sender=None, **_kwargs) -> None:
    """The one sweeper runs in every worker (sweeper.py): no deployment can forget it."""
    global _sweeper
    if settings["sweep_in_worker"]:
        from autograder.worker.sweeper import SweeperThread

        _sweeper = SweeperThread(settings).start()


@worker_shutdown.connect
def _say_goodbye(sender=None, **_kwargs) -> None:
    if _sweeper is not None:
        _sweeper.stop()
    if _announcer is not None:
        _announcer.stop()
