"""The grading fleet as the portal sees it: workers from their heartbeats, queues from the rows.

Workers post `POST /api/worker/workers/heartbeat` (autograder/worker/CONTRACT.md) every
20 s; one whose last beat is older than `offline_after_s` (or that said it was stopping) is
offline. A queue with no online worker is *unserved*: its jobs are shown to staff and to
the student as waiting for that kind of worker, with the time the last one was seen.
Pure functions over a session and plain values; no request, no Flask.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .db import utcnow
from .models import ACTIVE_STATES, Assignment, GradeRun, Submission, Worker

THROUGHPUT_WINDOW = dt.timedelta(hours=1)


class BadHeartbeat(ValueError):
    pass


def _str_list(value: Any, what: str, max_items: int = 32, max_len: int = 40) -> list[str]:
    if not isinstance(value, list) or len(value) > max_items or not all(
            isinstance(v, str) and 0 < len(v) <= max_len for v in value):
        raise BadHeartbeat(f"'{what}' must be a list of at most {max_items} names of at most {max_len} characters.")
    return value


def record_heartbeat(session: Session, body: dict, *, now: dt.datetime | None = None) -> Worker:
    """Store one worker's announcement (the JSON body of the heartbeat post)."""
    now = now or utcnow()
    name = body.get("worker")
    if not isinstance(name, str) or not 0 < len(name) <= 200:
        raise BadHeartbeat("'worker' must be the worker's name (1 to 200 characters).")
    queues = _str_list(body.get("queues"), "queues")
    gpus = body.get("gpus")
    if not isinstance(gpus, list) or len(gpus) > 64 or not all(isinstance(g, int) and g >= 0 for g in gpus):
        raise BadHeartbeat("'gpus' must be a list of GPU indices.")
    concurrency = body.get("concurrency")
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or not 0 < concurrency <= 1024:
        raise BadHeartbeat("'concurrency' must be the number of jobs the worker runs at once.")
    state = body.get("state", "online")
    if state not in ("online", "stopping"):
        raise BadHeartbeat("'state' must be 'online' or 'stopping'.")
    try:
        started_at = dt.datetime.fromisoformat(str(body.get("started_at")))
    except ValueError:
        raise BadHeartbeat("'started_at' must be an ISO 8601 time with a zone.") from None
    worker = session.scalar(sa.select(Worker).where(Worker.name == name).with_for_update())
    if worker is None:
        worker = Worker(name=name, first_seen_at=now)
        session.add(worker)
    worker.queues, worker.gpus, worker.concurrency = queues, gpus, concurrency
    worker.engine_version = str(body.get("engine_version") or "")[:40]
    worker.started_at = started_at if started_at.tzinfo else started_at.replace(tzinfo=dt.timezone.utc)
    worker.last_seen_at = now
    worker.stopped_at = now if state == "stopping" else None
    session.commit()
    return worker


def is_online(worker: Worker, now: dt.datetime, offline_after_s: int) -> bool:
    return worker.stopped_at is None and now - worker.last_seen_at <= dt.timedelta(seconds=offline_after_s)


def worker_kind(queue: str) -> str:
    """'a GPU worker' for `gpu`: what a job on `queue` waits for, in words."""
    if queue == "cpu":
        return "a CPU worker"
    if queue == "gpu":
        return "a GPU worker"
    if queue.startswith("gpu-") and queue[4:].isdigit():
        return f"a worker with {queue[4:]} GPUs"
    return f"a worker on queue '{queue}'"


@dataclasses.dataclass
class QueueWatch:
    """Who serves one queue now, and when someone last did."""

    queue: str
    online: list[str]
    last_seen_at: dt.datetime | None  # the latest heartbeat of any worker of this queue

    @property
    def served(self) -> bool:
        return bool(self.online)

    def waiting_message(self) -> str | None:
        """None while a worker serves the queue; else what its jobs wait for."""
        if self.served:
            return None
        if self.last_seen_at is None:
            return f"waiting for {worker_kind(self.queue)}: none has connected yet"
        return f"waiting for {worker_kind(self.queue)}: none online since {self.last_seen_at:%Y-%m-%d %H:%M} UTC"


def start_hint(queue: str) -> str:
    """How to start a worker that serves `queue` (autograder/worker/README.md has the rest)."""
    gpus = 0 if queue == "cpu" else (1 if queue == "gpu" else int(queue[4:]) if queue[4:].isdigit() else 1)
    owned = f"DLGRADE_GPUS={','.join(str(i) for i in range(gpus))} " if gpus else ""
    return (f"on a host with {gpus} GPU{'s' if gpus != 1 else ''}: " if gpus else "on any host: ") + (
        f"{owned}DLGRADE_PORTAL_URL=<portal> DLGRADE_WORKER_TOKEN=<worker token> "
        f"DLGRADE_BROKER_URL=<redis> celery -A autograder.worker.app worker")


def watch_queues(session: Session, queues: set[str], now: dt.datetime, offline_after_s: int) -> dict[str, QueueWatch]:
    watches = {q: QueueWatch(q, [], None) for q in queues}
    for worker in session.scalars(sa.select(Worker).order_by(Worker.name)):
        for queue in worker.queues or []:
            watch = watches.setdefault(queue, QueueWatch(queue, [], None))
            if is_online(worker, now, offline_after_s):
                watch.online.append(worker.name)
            if watch.last_seen_at is None or worker.last_seen_at > watch.last_seen_at:
                watch.last_seen_at = worker.last_seen_at
    return watches


def waiting_message(session: Session, queue: str, now: dt.datetime, offline_after_s: int) -> str | None:
    return watch_queues(session, {queue}, now, offline_after_s)[queue].waiting_message()


def offline_workers(session: Session, now: dt.datetime, offline_after_s: int) -> list[str]:
    return [w.name for w in session.scalars(sa.select(Worker)) if not is_online(w, now, offline_after_s)]


STUCK_LISTED = 5000


def stuck_submissions(session: Session, now: dt.datetime, *, older_than_s: int,
                      offline_after_s: int) -> list[tuple[Submission, str]]:
    """Current attempts the sweeper should look at, each with why: no news (state change,
    progress post, failure) for `older_than_s`, or running on a worker now offline."""
    cutoff = now - dt.timedelta(seconds=older_than_s)
    offline = offline_workers(session, now, offline_after_s)
    rows = session.scalars(sa.select(Submission).where(
        Submission.state.in_(ACTIVE_STATES),
        sa.or_(Submission.updated_at < cutoff,
               sa.and_(Submission.state == "running", Submission.worker.in_(offline))))
        .order_by(Submission.id).limit(STUCK_LISTED)).all()
    return [(sub, f"no news for {(now - sub.updated_at).total_seconds():.0f} s" if sub.updated_at < cutoff
             else f"its worker {sub.worker} is offline (no heartbeat for {offline_after_s} s)") for sub in rows]


# --- the Operations page ----------------------------------------------------------------------


@dataclasses.dataclass
class QueueHealth:
    watch: QueueWatch
    waiting: int  # received or queued, all courses
    running: int
    oldest_wait_s: float | None
    graded_last_hour: int


def fleet(session: Session, now: dt.datetime, offline_after_s: int) -> list[dict]:
    return [{"name": w.name, "queues": w.queues, "gpus": w.gpus, "concurrency": w.concurrency,
             "engine_version": w.engine_version, "online": is_online(w, now, offline_after_s),
             "last_seen_at": w.last_seen_at, "started_at": w.started_at}
            for w in session.scalars(sa.select(Worker).order_by(Worker.name))]


def queue_health(session: Session, now: dt.datetime, offline_after_s: int) -> list[QueueHealth]:
    active = session.execute(
        sa.select(Submission.queue, Submission.state, sa.func.count(), sa.func.min(Submission.queued_at))
        .where(Submission.state.in_(ACTIVE_STATES)).group_by(Submission.queue, Submission.state)).all()
    graded = dict(session.execute(
        sa.select(Submission.queue, sa.func.count()).join(GradeRun, GradeRun.submission_id == Submission.id)
        .where(GradeRun.received_at >= now - THROUGHPUT_WINDOW).group_by(Submission.queue)).all())
    gate_queues = set(session.scalars(sa.select(Assignment.queue).distinct()))
    queues = {row[0] for row in active} | set(graded) | gate_queues
    watches = watch_queues(session, queues, now, offline_after_s)
    out = []
    for queue in sorted(watches):
        rows = [row for row in active if row[0] == queue]
        waiting = [row for row in rows if row[1] != "running"]
        oldest = min((row[3] for row in waiting if row[3] is not None), default=None)
        out.append(QueueHealth(
            watch=watches[queue], waiting=sum(row[2] for row in waiting),
            running=sum(row[2] for row in rows if row[1] == "running"),
            oldest_wait_s=(now - oldest).total_seconds() if oldest else None,
            graded_last_hour=int(graded.get(queue, 0))))
    return out


def gate_jobs(session: Session, course_id: int) -> list[Assignment]:
    """The course's assignments whose current gate has no report yet."""
    return list(session.scalars(sa.select(Assignment).where(
        Assignment.course_id == course_id, Assignment.gate_attempt > 0, Assignment.gate_passed.is_(None))
        .order_by(Assignment.id)))
