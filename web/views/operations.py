"""Staff's Operations page: the fleet, each queue's health, and the course's jobs (gates and
submissions), refreshed live by polling `operations.json` (static/operations.js)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import Blueprint, current_app, g, jsonify, render_template, url_for

from .. import operations
from ..db import db, utcnow
from ..models import ACTIVE_STATES, STAFF_ROLES, Assignment, Submission, User
from ..security import login_required
from .common import course_for

bp = Blueprint("operations", __name__)

JOBS_LISTED = 500


def _when(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def snapshot(course_id: int) -> dict:
    """Everything the page shows, as plain JSON values (the page and the poll share it)."""
    session, now = db.session, utcnow()
    offline_after_s = current_app.config["WORKER_OFFLINE_AFTER_S"]
    health = operations.queue_health(session, now, offline_after_s)
    watches = {h.watch.queue: h.watch for h in health}

    def waiting_for(queue: str) -> str | None:
        watch = watches.get(queue)
        return watch.waiting_message() if watch else operations.waiting_message(session, queue, now, offline_after_s)

    gates = [{"kind": "gate", "id": a.id, "url": url_for("assignments.show", assignment_id=a.id), "what": f"release gate of {a.slug}", "who": "",
              "state": "gating", "queue": a.queue, "attempt": a.gate_attempt, "since": None,
              "progress": "", "worker": "", "waiting_for": waiting_for(a.queue)}
             for a in operations.gate_jobs(session, course_id)]
    rows = session.execute(
        sa.select(Submission, User.email, Assignment.slug).join(Assignment).join(User, User.id == Submission.user_id)
        .where(Assignment.course_id == course_id, Submission.state.in_(ACTIVE_STATES + ("error",)))
        .order_by(Submission.queued_at, Submission.id).limit(JOBS_LISTED)).all()
    subs = [{"kind": "submission", "id": s.id, "url": url_for("submissions.show", submission_id=s.id), "what": f"{slug} submission {s.id}", "who": email,
             "state": s.state, "queue": s.queue, "attempt": s.attempt, "since": _when(s.queued_at),
             "progress": f"{s.progress_done}/{s.progress_total}" if s.progress_total else "",
             "worker": s.worker, "waiting_for": waiting_for(s.queue) if s.state in ACTIVE_STATES else None}
            for s, email, slug in rows]
    return {
        "now": _when(now),
        "offline_after_s": offline_after_s,
        "workers": [{**w, "last_seen_at": _when(w["last_seen_at"]), "started_at": _when(w["started_at"])}
                    for w in operations.fleet(session, now, offline_after_s)],
        "queues": [{"queue": h.watch.queue, "online": h.watch.online, "waiting": h.waiting, "running": h.running,
                    "oldest_wait_s": round(h.oldest_wait_s) if h.oldest_wait_s is not None else None,
                    "graded_last_hour": h.graded_last_hour, "waiting_for": h.watch.waiting_message(),
                    "start_worker": None if h.watch.served else operations.start_hint(h.watch.queue)}
                   for h in health],
        "jobs": gates + subs,
    }


def _course_snapshot(course_id: int) -> tuple:
    course, role = course_for(course_id, *STAFF_ROLES)
    data = snapshot(course.id)
    db.session.commit()
    return course, role, data


@bp.get("/courses/<int:course_id>/operations")
@login_required
def show(course_id: int):
    course, role, data = _course_snapshot(course_id)
    return render_template("operations.html", course=course, data=data, user=g.user, role=role)


@bp.get("/courses/<int:course_id>/operations.json")
@login_required
def poll(course_id: int):
    return jsonify(_course_snapshot(course_id)[2])
