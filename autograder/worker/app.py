"""The Celery app: `celery -A autograder.worker.app worker` (queues, concurrency and limits
come from the settings, see settings.py; `-Q`/`-c` on the command line still override).

The portal sends tasks by name with a bare Celery client and never imports this module.
"""

from __future__ import annotations

from autograder.worker.engine import ENGINE
from autograder.worker.tasks import create_app

app = create_app(ENGINE)
