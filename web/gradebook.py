"""The gradebook: one row per student, one column per assignment (exports: web/exports.py, web/canvas.py)."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa
from sqlalchemy.orm import Session

from . import grading
from .models import Assignment, Course, Membership, Submission, User


@dataclasses.dataclass
class StudentRow:
    user: User
    member: Membership
    lines: list[grading.GradeLine]
    late_days_left: int

    @property
    def section(self) -> str:
        return self.member.section

    @property
    def total(self) -> float:
        return round(sum(line.score or 0 for line in self.lines), 4)


def build(session: Session, course: Course) -> tuple[list[Assignment], list[StudentRow]]:
    assignments = [a for a in course.assignments if a.released]
    students = session.execute(sa.select(User, Membership).join(Membership)
                               .where(Membership.course_id == course.id, Membership.role == "student")
                               .order_by(User.name, User.email)).all()
    subs = session.scalars(sa.select(Submission).where(Submission.assignment_id.in_([a.id for a in assignments]))).all()
    by_user: dict[int, dict[int, list[Submission]]] = {}
    for sub in subs:
        by_user.setdefault(sub.user_id, {}).setdefault(sub.assignment_id, []).append(sub)
    rows = []
    for user, member in students:
        lines = grading.grade_lines(course, assignments, by_user.get(user.id, {}))
        lines.sort(key=lambda line: [a.id for a in assignments].index(line.assignment.id))
        rows.append(StudentRow(user, member, lines, grading.late_days_left(course, lines)))
    return assignments, rows
