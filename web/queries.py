"""Read-side queries of the portal's views: what a page or an API answer shows, in one place.

Each takes the session and plain ids or rows (never `request`) and only reads; writes go
through `services`. Views import this module rather than each other's helpers.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from . import grading
from .models import Assignment, Course, Membership, Submission, User

# What the staff queue shows: work waiting, running, or failed for staff to look at.
QUEUE_STATES = ("received", "queued", "running", "error")
QUEUE_LIMIT = 500


def courses_of(session: Session, user_id: int) -> list[tuple[Course, str]]:
    """(course, role) for every course the user belongs to."""
    return [tuple(row) for row in session.execute(
        sa.select(Course, Membership.role).join(Membership).where(Membership.user_id == user_id)).all()]


def student_overview(session: Session, course: Course, user_id: int):
    """A student's grade lines in `course`, late days left, and their submissions by assignment."""
    assignments = [a for a in course.assignments if a.released]
    subs = session.scalars(sa.select(Submission).where(
        Submission.user_id == user_id, Submission.assignment_id.in_([a.id for a in assignments]))).all()
    by_assignment: dict[int, list[Submission]] = {}
    for sub in subs:
        by_assignment.setdefault(sub.assignment_id, []).append(sub)
    lines = grading.grade_lines(course, assignments, by_assignment)
    return lines, grading.late_days_left(course, lines), by_assignment


def submission_counts(session: Session, course_id: int) -> dict[int, int]:
    """Submissions per assignment of the course."""
    return dict(session.execute(
        sa.select(Submission.assignment_id, sa.func.count()).join(Assignment)
        .where(Assignment.course_id == course_id).group_by(Submission.assignment_id)).all())


def course_queue(session: Session, course_id: int) -> list[tuple[Submission, str, str]]:
    """(submission, student email, assignment slug) for the course's queue, oldest first."""
    return [tuple(row) for row in session.execute(
        sa.select(Submission, User.email, Assignment.slug).join(Assignment).join(User, User.id == Submission.user_id)
        .where(Assignment.course_id == course_id, Submission.state.in_(QUEUE_STATES))
        .order_by(Submission.queued_at, Submission.id).limit(QUEUE_LIMIT)).all()]


def course_members(session: Session, course_id: int) -> list[tuple[User, Membership]]:
    return [tuple(row) for row in session.execute(
        sa.select(User, Membership).join(Membership)
        .where(Membership.course_id == course_id).order_by(Membership.role, User.email)).all()]


def regradable_submissions(session: Session, assignment_id: int) -> list[Submission]:
    """Every submission a "regrade all" re-runs (a rejected upload has nothing to grade)."""
    return list(session.scalars(sa.select(Submission).where(
        Submission.assignment_id == assignment_id, Submission.state != "rejected").order_by(Submission.id)).all())


def assignment_submissions(session: Session, assignment_id: int, *, user_id: int | None = None,
                           limit: int = 1000) -> list[Submission]:
    """The assignment's submissions, newest first; only `user_id`'s when given."""
    query = sa.select(Submission).where(Submission.assignment_id == assignment_id).order_by(Submission.id.desc())
    if user_id is not None:
        query = query.where(Submission.user_id == user_id)
    return list(session.scalars(query.limit(limit)).all())


def assignment_submissions_with_email(session: Session, assignment_id: int,
                                      limit: int = 500) -> list[tuple[Submission, str]]:
    return [tuple(row) for row in session.execute(
        sa.select(Submission, User.email).join(User, User.id == Submission.user_id)
        .where(Submission.assignment_id == assignment_id).order_by(Submission.id.desc()).limit(limit)).all()]


def result_for_viewer(sub: Submission, staff: bool, now: dt.datetime) -> dict | None:
    """The current attempt's result as this viewer may see it (staff: all of it)."""
    current = next((r for r in sub.grades if r.attempt == sub.attempt), None)
    if current is None or current.result is None:
        return None
    if staff:
        return current.result
    assignment = sub.assignment
    passed = assignment.deadline is None or now >= assignment.deadline
    return grading.student_view(current.result, deadline_passed=passed, parts_policy=grading.parts_policy(assignment))
