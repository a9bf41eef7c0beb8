"""Progress posts and the job's heartbeat, off the grading thread.

The engine calls `update()` from its `on_progress` hook; a background thread posts the latest
state to `POST /api/worker/submissions/<id>/progress`, at most once a second, and again every
`heartbeat_s` while nothing changes (which tells the portal, and so the sweeper, that the job
is alive) and renews the job's claim in Redis. A post that fails is only logged: progress is
advisory, the result post is what counts.

What goes out is the count and the *part* of the test running, never the test's name: the
portal shows progress to the student, and a hidden test's name tells them what it checks.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from autograder.worker.portal import PortalClient, PortalRefused, PortalUnavailable

log = logging.getLogger(__name__)


class ProgressReporter:
    def __init__(self, portal: PortalClient, path: str | None, attempt: int,
                 heartbeat_s: float, on_beat: Callable[[], None] | None = None,
                 min_interval_s: float = 1.0):
        self.portal = portal
        self.path = path  # None: heartbeat only (gate runs have no progress endpoint)
        self.attempt = attempt
        self.heartbeat_s = heartbeat_s
        self.on_beat = on_beat
        self.min_interval_s = min_interval_s
        self._latest = {"part": None, "done": 0, "total": 0}
        self._dirty = True
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dlgrade-progress", daemon=True)

    def start(self) -> "ProgressReporter":
        self._post()  # "running" goes out before grading starts
        self._thread.start()
        return self

    def update(self, progress: dict) -> None:
        part = progress.get("part")
        self._latest = {
            "part": part if isinstance(part, str) else None,
            "done": int(progress.get("done", 0)),
            "total": int(progress.get("total", 0)),
        }
        self._dirty = True
        self._changed.set()

    def stop(self) -> None:
        self._stop.set()
        self._changed.set()
        self._thread.join(timeout=10)

    def _post(self) -> None:
        self._dirty = False
        if self.path is None:
            return
        body = {"attempt": self.attempt, "state": "running", "worker": self.portal.worker_name,
                **self._latest}
        try:
            self.portal.post_json(self.path, body, timeout_s=min(10.0, self.portal.timeout_s))
        except (PortalUnavailable, PortalRefused) as exc:
            log.info("progress post failed (ignored): %s", exc)

    def _loop(self) -> None:
        last_beat = time.monotonic()
        while not self._stop.is_set():
            self._changed.wait(timeout=self.heartbeat_s)
            self._changed.clear()
            if self._stop.is_set():
                break
            now = time.monotonic()
            beat_due = now - last_beat >= self.heartbeat_s
            if self._dirty or beat_due:
                self._post()
            if beat_due:
                last_beat = now
                if self.on_beat is not None:
                    try:
                        self.on_beat()
                    except Exception as exc:  # Redis blip: the claim lapses at worst
                        log.warning("heartbeat failed: %s", exc)
            self._stop.wait(self.min_interval_s)  # coalesce bursts of test progress
