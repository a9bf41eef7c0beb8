"""Re-enqueue what the portal says is stuck and the broker no longer holds: the one sweeper.

The portal's database is the source of truth. Every `interval` the sweeper asks
`GET /api/worker/stuck?older_than_s=N` for submissions whose current attempt has been queued
or running without news (state change or progress post) for N seconds, or is running on a
worker whose heartbeats stopped, drops those the broker still holds (waiting in a queue,
claimed by a running job, or reserved by a worker less than N seconds ago; see
`held_by_broker`) and sends `dlgrade.grade_submission(id, attempt)` for the rest, to the
queue the portal names (the worker that starts it again records the lost run for staff, see
jobs.py). A re-enqueue that turns out to be a duplicate is harmless: the job re-reads
the portal's state first and results are idempotent per (submission, attempt). It gives up
on nothing: a job that kills its worker is failed by the delivery counter (`max_deliveries`).

Every worker runs the loop in its main process (`sweep_in_worker`, on by default; a Redis
lock makes it one sweep per interval however many workers there are), so every deployment
that runs a worker runs the sweeper. Standalone, for cron or a Kubernetes CronJob:

    python -m autograder.worker.sweeper            # loop every DLGRADE_SWEEP_INTERVAL_S
    python -m autograder.worker.sweeper --once     # one pass
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from autograder.worker.portal import PortalClient
from autograder.worker.settings import load_settings
from autograder.worker.state import SharedState

log = logging.getLogger("dlgrade.sweeper")

GRADE_TASK = "dlgrade.grade_submission"
HELD_TASKS = (GRADE_TASK, "dlgrade.post_result")
PRIORITY_SEP = "\x06\x16"  # kombu's Redis transport: <queue><sep><priority>
LOCK_KEY = "dlgrade:sweeper:lock"


@dataclass
class SweepReport:
    stuck: int = 0
    in_broker: int = 0
    requeued: list[tuple[int, int, str]] = field(default_factory=list)


def _task_args(raw: bytes | str) -> tuple[str, tuple] | None:
    """(task name, args) of one Celery protocol-2 message as kombu stores it in Redis."""
    try:
        msg = json.loads(raw)
        if isinstance(msg, list):  # the unacked hash holds [message, exchange, routing_key]
            msg = msg[0]
        name = msg["headers"]["task"]
        body = msg["body"]
        if msg.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return name, tuple(args)
    except (ValueError, KeyError, TypeError, IndexError):
        return None


def held_by_broker(state: SharedState, queues: Iterable[str],
                   reserved_within_s: float) -> set[tuple[int, int]]:
    """(submission id, attempt) of every grading job Redis still holds or a worker runs.

    Held means: waiting in a queue; running (a live claim); or reserved by a worker (kombu's
    unacked hash: countdown retries, prefetched jobs) less than `reserved_within_s` ago. A
    job reserved longer ago and not running belonged to a worker that died: Redis would only
    hand it out again after the visibility timeout (hours), so the sweeper does it now.
    """
    r = state.redis
    raws: list[bytes] = []
    for queue in set(queues):
        for key in [queue] + [f"{queue}{PRIORITY_SEP}{p}" for p in range(1, 10)]:
            raws.extend(r.lrange(key, 0, -1))
    now = time.time()
    raws.extend(raw for raw, when in state.unacked() if now - when < reserved_within_s)
    held = set()
    for raw in raws:
        parsed = _task_args(raw)
        if parsed and parsed[0] in HELD_TASKS and len(parsed[1]) >= 2:
            held.add((int(parsed[1][0]), int(parsed[1][1])))
    for kind, ident, attempt in state.live_claims():
        if kind == "grade":
            held.add((ident, attempt))
    return held


def sweep(*, portal: PortalClient, state: SharedState, send: Callable[[str, tuple, str], Any],
          older_than_s: int, queue_prefix: str = "", dry_run: bool = False) -> SweepReport:
    answer = portal.get_json("/api/worker/stuck", params={"older_than_s": older_than_s})
    stuck = answer["submissions"] if isinstance(answer, dict) else answer
    report = SweepReport(stuck=len(stuck))
    if not stuck:
        return report
    queues = {f"{queue_prefix}{item.get('queue') or 'cpu'}" for item in stuck}
    held = held_by_broker(state, queues, reserved_within_s=older_than_s)
    for item in stuck:
        ident, attempt = int(item["id"]), int(item["attempt"])
        queue = f"{queue_prefix}{item.get('queue') or 'cpu'}"
        if (ident, attempt) in held:
            report.in_broker += 1
            continue
        if not dry_run:
            send(GRADE_TASK, (ident, attempt), queue)
        report.requeued.append((ident, attempt, queue))
    return report


def make_sender(broker_url: str) -> Callable[[str, tuple, str], Any]:
    """A bare producer, like the portal's: sends by task name, imports no task code."""
    from celery import Celery

    producer = Celery("dlgrade-sweeper", broker=broker_url)
    producer.conf.update(task_serializer="json", broker_connection_retry_on_startup=True)

    def send(name: str, args: tuple, queue: str) -> None:
        producer.send_task(name, args=list(args), queue=queue)

    return send


class SweeperThread:
    """The sweeper loop in a worker's main process. Each round, the worker that takes the
    Redis lock (held for just under one interval) sweeps; the others skip."""

    def __init__(self, settings: Mapping[str, Any]):
        self.settings = settings
        self.portal = PortalClient(settings["portal_url"], settings["worker_token"],
                                   f"{settings['worker_name']}-sweeper", settings["http_timeout_s"])
        self.state = SharedState(settings["broker_url"])
        self.send = make_sender(settings["broker_url"])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dlgrade-sweeper", daemon=True)

    def start(self) -> "SweeperThread":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def sweep_if_mine(self) -> SweepReport | None:
        interval = int(self.settings["sweep_interval_s"])
        if not self.state.redis.set(LOCK_KEY, self.portal.worker_name, nx=True, ex=max(1, interval - 1)):
            return None
        report = sweep(portal=self.portal, state=self.state, send=self.send,
                       older_than_s=int(self.settings["stuck_after_s"]),
                       queue_prefix=self.settings["queue_prefix"])
        for ident, attempt, queue in report.requeued:
            log.warning("re-enqueued submission %s attempt %s on %s", ident, attempt, queue)
        return report

    def _loop(self) -> None:
        while not self._stop.wait(self.settings["sweep_interval_s"]):
            try:
                self.sweep_if_mine()
            except Exception as exc:  # the portal or Redis is down: next round
                log.warning("sweep failed: %s", exc)


def run(settings: Mapping[str, Any], *, once: bool, older_than_s: int, interval_s: int,
        dry_run: bool = False) -> SweepReport:
    portal = PortalClient(settings["portal_url"], settings["worker_token"],
                          f"{settings['worker_name']}-sweeper", settings["http_timeout_s"])
    state = SharedState(settings["broker_url"])
    send = make_sender(settings["broker_url"])
    while True:
        try:
            report = sweep(portal=portal, state=state, send=send, older_than_s=older_than_s,
                           queue_prefix=settings["queue_prefix"], dry_run=dry_run)
            log.info("stuck %d, still in the broker %d, re-enqueued %d%s", report.stuck,
                     report.in_broker, len(report.requeued), " (dry run)" if dry_run else "")
            for ident, attempt, queue in report.requeued:
                log.info("re-enqueued submission %s attempt %s on %s", ident, attempt, queue)
        except Exception as exc:  # the portal or Redis is down: try again next round
            if once:
                raise
            log.warning("sweep failed: %s", exc)
            report = SweepReport()
        if once:
            return report
        time.sleep(interval_s)


def main(argv: list[str] | None = None) -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="python -m autograder.worker.sweeper",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.add_argument("--older-than", type=int, default=settings["stuck_after_s"],
                        help="seconds without news before a submission counts as stuck")
    parser.add_argument("--interval", type=int, default=settings["sweep_interval_s"])
    parser.add_argument("--dry-run", action="store_true", help="report, send nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    report = run(settings, once=args.once, older_than_s=args.older_than,
                 interval_s=args.interval, dry_run=args.dry_run)
    if args.once:
        print(json.dumps({"stuck": report.stuck, "in_broker": report.in_broker,
                          "requeued": report.requeued}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
