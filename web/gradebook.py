"""The gradebook: one row per student, one column per assignment, and its exports."""

from __future__ import annotations

import csv
import dataclasses
import io

import sqlalchemy as sa
from sqlalchemy.orm import Session

from . import grading
from .models import Assignment, Course, Membership, Submission, User

NBGRADER_COLUMNS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
                    "raw_score", "late_submission_penalty", "score", "max_score"]


@dataclasses.dataclass
class StudentRow:
    user: User
    section: str
    lines: list[grading.GradeLine]
    late_days_left: int

    @property
    def total(self) -> float:
        return round(sum(line.score or 0 for line in self.lines), 4)


def build(session: Session, course: Course) -> tuple[list[Assignment], list[StudentRow]]:
    assignments = [a for a in course.assignments if a.released]
    students = session.execute(sa.select(User, Membership.section).join(Membership)
                               .where(Membership.course_id == course.id, Membership.role == "student")
                               .order_by(User.name, User.email)).all()
    subs = session.scalars(sa.select(Submission).where(Submission.assignment_id.in_([a.id for a in assignments]))).all()
    by_user: dict[int, dict[int, list[Submission]]] = {}
    for sub in subs:
        by_user.setdefault(sub.user_id, {}).setdefault(sub.assignment_id, []).append(sub)
    rows = []
    for user, section in students:
        lines = grading.grade_lines(course, assignments, by_user.get(user.id, {}))
        lines.sort(key=lambda line: [a.id for a in assignments].index(line.assignment.id))
        rows.append(StudentRow(user, section, lines, grading.late_days_left(course, lines)))
    return assignments, rows


def _split_name(name: str) -> tuple[str, str]:
    first, _, last = name.strip().rpartition(" ")
    return (first, last) if first else ("", last)


def nbgrader_csv(assignments: list[Assignment], rows: list[StudentRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(NBGRADER_COLUMNS)
    for assignment in assignments:
        for row in rows:
            line = next(l for l in row.lines if l.assignment.id == assignment.id)
            first, last = _split_name(row.user.name)
            raw = line.raw_score if line.submission is not None and line.submission.override_score is None \
                else (line.score if line.submission is not None else 0.0)
            score = line.score if line.score is not None else 0.0
            writer.writerow([
                assignment.slug,
                assignment.deadline.isoformat() if assignment.deadline else "",
                line.submission.submitted_at.isoformat() if line.submission else "",
                row.user.sis_id or row.user.email.split("@")[0],
                last, first, row.user.email,
                f"{raw or 0:g}", f"{max(0.0, (raw or 0) - score):g}", f"{score:g}", f"{assignment.max_score:g}",
            ])
    return out.getvalue()


def canvas_csv(assignments: list[Assignment], rows: list[StudentRow]) -> str:
    """Canvas gradebook import: Student, ID, SIS User ID, SIS Login ID, Section, then one
    column per assignment named 'Title (id)', and a 'Points Possible' row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
                    + [f"{a.title} ({a.id})" for a in assignments])
    writer.writerow(["Points Possible", "", "", "", ""] + [f"{a.max_score:g}" for a in assignments])
    for row in rows:
        first, last = _split_name(row.user.name)
        writer.writerow([f"{last}, {first}" if first else last or row.user.email, "", row.user.sis_id, row.user.email,
                         row.section] + ["" if l.score is None else f"{l.score:g}" for l in row.lines])
    return out.getvalue()
