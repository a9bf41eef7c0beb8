"""The worker tells the portal it is alive: `POST /api/worker/workers/heartbeat` (CONTRACT.md).

The worker's main process posts its queues, GPUs, slots and engine version when it is ready,
then every `heartbeat_s`, and once more with `"state": "stopping"` on a clean shutdown. The
portal shows the fleet from these posts (the Operations page), tells a student whose job
sits on a queue no live worker consumes what it waits for, and re-runs the jobs of a worker
whose heartbeats stopped. A failed post is only logged: the next beat tries again.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
from typing import Any, Mapping

from autograder.worker.portal import PortalClient, PortalRefused, PortalUnavailable

log = logging.getLogger(__name__)

HEARTBEAT_PATH = "/api/worker/workers/heartbeat"


@functools.lru_cache(maxsize=1)
def engine_version() -> str:
    """The engine's result-schema version and the digest of the harness code it mounts."""
    from autograder.grading import ENGINE_VERSION
    from autograder.trusted_run import harness_digest

    return f"{ENGINE_VERSION}+{harness_digest()[:12]}"


def unprefixed(settings: Mapping[str, Any], queues: list[str]) -> list[str]:
    """Queue names as the portal knows them (the deployment prefix is the workers' business)."""
    prefix = settings["queue_prefix"]
    return sorted(q[len(prefix):] if prefix and q.startswith(prefix) else q for q in queues)


def announcement(settings: Mapping[str, Any], *, queues: list[str], concurrency: int, started_at: dt.datetime,
                 state: str = "online") -> dict:
    return {
        "worker": settings["worker_name"],
        "state": state,
        "queues": unprefixed(settings, queues),
        "gpus": list(settings["gpus"]),
        "concurrency": int(concurrency),
        "engine_version": engine_version(),
        "started_at": started_at.isoformat(),
    }


class Announcer:
    """`queues` (as consumed, prefixed) and `concurrency` are what the running worker really
    does: `-Q` and `-c` on the command line override the settings."""

    def __init__(self, settings: Mapping[str, Any], *, queues: list[str], concurrency: int,
                 portal: PortalClient | None = None):
        self.settings = settings
        self.queues, self.concurrency = list(queues), concurrency
        self.portal = portal or PortalClient(settings["portal_url"], settings["worker_token"],
                                             settings["worker_name"], settings["http_timeout_s"])
        self.started_at = dt.datetime.now(dt.timezone.utc)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dlgrade-announce", daemon=True)

    def start(self) -> "Announcer":
        self._thread.start()
        return self

    def post(self, state: str = "online") -> bool:
        body = announcement(self.settings, queues=self.queues, concurrency=self.concurrency,
                            started_at=self.started_at, state=state)
        try:
            self.portal.post_json(HEARTBEAT_PATH, body, timeout_s=min(10.0, self.portal.timeout_s))
            return True
        except (PortalUnavailable, PortalRefused) as exc:
            log.warning("worker heartbeat failed (next one in %.0f s): %s", self.settings["heartbeat_s"], exc)
            return False

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.post()
            self._stop.wait(self.settings["heartbeat_s"])

    def stop(self) -> None:
        """Stop beating and say goodbye, so the portal shows this worker offline at once."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.post("stopping")
