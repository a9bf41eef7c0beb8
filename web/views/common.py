"""Loading rows for the current user (every object lookup goes through here, so every route
checks ownership the same way: outsiders get 404, never a hint that the object exists), and
the request parsing two blueprints share (a date field, a notebook upload)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import abort, current_app, g, request
from sqlalchemy.orm import contains_eager

from .. import grading, services, store
from ..db import db
from ..models import STAFF_ROLES, Assignment, Course, Submission
from ..security import role_column
from ..tasks import client as task_client


def _with_role(query: sa.Select, course_id) -> tuple[object | None, str | None]:
    """The row `query` selects and the caller's role in its course, in one round trip."""
    row = db.session.execute(query.add_columns(role_column(g.get("user"), course_id))).first()
    return (row[0], row[1]) if row is not None else (None, None)


def course_for(course_id: int, *roles: str) -> tuple[Course, str]:
    course, role = _with_role(sa.select(Course).where(Course.id == course_id), Course.id)
    if course is None or role is None:
        abort(404)
    if roles and role not in roles:
        abort(403)
    return course, role


def assignment_for(assignment_id: int, *roles: str) -> tuple[Assignment, str]:
    """Students see only released assignments; staff see all of their course's."""
    assignment, role = _with_role(sa.select(Assignment).where(Assignment.id == assignment_id), Assignment.course_id)
    if assignment is None or role is None or (role == "student" and not assignment.released):
        abort(404)
    if roles and role not in roles:
        abort(403)
    return assignment, role


def submission_for(submission_id: int, *, staff_only: bool = False) -> tuple[Submission, bool]:
    """The owner or the course's staff; anyone else gets 404. Returns (submission, is_staff)."""
    sub, staff, _ = _owned_submission(submission_id, staff_only)
    return sub, staff


def submission_status_for(submission_id: int) -> tuple[Submission, bool, int | None]:
    """As `submission_for`, with the submission's queue position from the same query (a poll's
    whole read of the submission is one round trip)."""
    return _owned_submission(submission_id, False, grading.queue_position_column())


def _owned_submission(submission_id: int, staff_only: bool, *columns) -> tuple[Submission, bool, object]:
    query = (sa.select(Submission).join(Submission.assignment).options(contains_eager(Submission.assignment))
             .where(Submission.id == submission_id).add_columns(*columns))
    row = db.session.execute(query.add_columns(role_column(g.get("user"), Assignment.course_id))).first()
    if row is None:
        abort(404)
    sub, role = row[0], row[-1]
    staff = role in STAFF_ROLES
    if not staff and (role is None or sub.user_id != g.user.id):
        abort(404)
    if staff_only and not staff:
        abort(403)
    return sub, staff, row[1] if columns else None


def parse_when(value: str | None) -> dt.datetime | None:
    """'2026-05-01T23:59' (datetime-local, UTC) or ISO 8601 with a zone."""
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        abort(400, description=f"{value!r} is not a date and time; use YYYY-MM-DDTHH:MM (UTC).")
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when


def max_upload_bytes(assignment: Assignment) -> int:
    return int((assignment.max_upload_mb or current_app.config["MAX_UPLOAD_MB"]) * 1024 * 1024)


def submit_from_request(assignment: Assignment) -> Submission:
    """The upload in this request's multipart field `notebook`, submitted (services.submit)."""
    limit = max_upload_bytes(assignment)
    if request.content_length is not None and request.content_length > limit + 65536:
        abort(413, description=f"The upload is larger than this assignment's limit of {limit / 1e6:.1f} MB.")
    upload = request.files.get("notebook")
    if upload is None or not upload.filename:
        raise services.Refused("Choose your notebook (.ipynb) to upload.")
    data = upload.stream.read(limit + 1)
    return services.submit(db.session, store(), task_client(), assignment=assignment, user_id=g.user.id,
                           filename=upload.filename, data=data, default_max_mb=current_app.config["MAX_UPLOAD_MB"])
