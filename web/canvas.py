"""Canvas: read the gradebook export a TA downloads from Canvas (to learn each member's Canvas id,
SIS user id and SIS login id, and which Canvas assignment each dlgrade assignment is), and write
a gradebook import that fills those existing Canvas columns.

Canvas's gradebook CSV: a header row "Student,ID,SIS User ID,SIS Login ID,[Integration ID,]Section,
<Assignment name (canvas id)>...,<read-only totals>", then a "Points Possible" row (exports may
also carry a "Manual Posting" row), then one row per student. On import Canvas matches a student
by ID, SIS User ID or SIS Login ID, an assignment column by the id in parentheses; a column
without an id becomes a new assignment.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .exports import MISSING_SCORE, split_name
from .models import Assignment, Course, Membership, User

IDENTITY_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_ROW = "Points Possible"
NON_STUDENT_ROWS = {POINTS_ROW.lower(), "manual posting"}
ASSIGNMENT_HEADER = re.compile(r"^(?P<title>.*\S)\s*\((?P<id>\d+)\)$")


class CanvasError(ValueError):
    pass


@dataclasses.dataclass
class CanvasImport:
    matched: list[str]  # "email ← Canvas row"
    unmatched: list[str]  # Canvas rows no member matches
    linked: list[str]  # "dlgrade title → Canvas id"
    canvas_columns: dict[str, str]  # canvas id -> title, every assignment column of the file


def assignment_columns(header: list[str]) -> dict[str, str]:
    """Canvas id -> title of every 'Title (id)' column."""
    out = {}
    for name in header:
        match = ASSIGNMENT_HEADER.match(name.strip())
        if match and name.strip() not in IDENTITY_COLUMNS:
            out[match["id"]] = match["title"]
    return out


def read_export(csv_text: str) -> tuple[list[str], list[dict[str, str]]]:
    """Header and student rows of a Canvas gradebook export, or a CanvasError saying what is off."""
    rows = list(csv.reader(io.StringIO(csv_text)))
    if not rows:
        raise CanvasError("The file is empty; download the gradebook from Canvas (Grades → Export).")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in IDENTITY_COLUMNS if c not in header]
    if missing:
        raise CanvasError(f"This is not a Canvas gradebook export: no {', '.join(missing)} column "
                          f"(expected a header starting {','.join(IDENTITY_COLUMNS)}).")
    students = []
    for line_no, raw in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in raw):
            continue
        record = {header[i]: (raw[i].strip() if i < len(raw) else "") for i in range(len(header))}
        if record["Student"].lower() in NON_STUDENT_ROWS or (not record["ID"] and not record["Student"]):
            continue
        if not record["ID"].isdigit():
            raise CanvasError(f"Line {line_no}: Canvas user ID {record['ID']!r} is not a number.")
        students.append(record)
    ids = [s["ID"] for s in students]
    if len(ids) != len(set(ids)):
        raise CanvasError("The same Canvas user ID appears on two rows.")
    return header, students


def _match(record: dict, members: list[tuple[User, Membership]]) -> tuple[User, Membership] | None:
    login = record["SIS Login ID"].lower()
    for test in (lambda u, m: m.canvas_user_id == record["ID"],
                 lambda u, m: bool(record["SIS User ID"]) and u.sis_id == record["SIS User ID"],
                 lambda u, m: bool(login) and login in (u.email.lower(), m.sis_login_id.lower())):
        found = [(u, m) for u, m in members if test(u, m)]
        if len(found) == 1:
            return found[0]
    return None


def import_export(session: Session, course: Course, csv_text: str) -> CanvasImport:
    """Fill members' Canvas ids from Canvas's own gradebook export, and link assignments whose
    title matches a Canvas column. Nothing is created: unmatched rows are reported."""
    header, students = read_export(csv_text)
    members = session.execute(sa.select(User, Membership).join(Membership)
                              .where(Membership.course_id == course.id)).all()
    matched, unmatched = [], []
    for record in students:
        found = _match(record, members)
        if found is None:
            unmatched.append(f"{record['Student']} (Canvas ID {record['ID']}, SIS login {record['SIS Login ID'] or '—'})")
            continue
        user, member = found
        member.canvas_user_id = record["ID"]
        member.sis_login_id = record["SIS Login ID"]
        if record["SIS User ID"]:
            user.sis_id = record["SIS User ID"]
        matched.append(f"{user.email} ← {record['Student']} (Canvas ID {record['ID']})")
    columns = assignment_columns(header)
    linked = []
    by_title = {title.strip().lower(): cid for cid, title in columns.items()}
    for assignment in course.assignments:
        cid = by_title.get(assignment.title.strip().lower())
        if cid and not assignment.canvas_assignment_id:
            assignment.canvas_assignment_id = cid
            linked.append(f"{assignment.title} → Canvas assignment {cid}")
    session.commit()
    return CanvasImport(matched, unmatched, linked, columns)


def column_header(assignment: Assignment) -> str:
    if assignment.canvas_assignment_id:
        return f"{assignment.title} ({assignment.canvas_assignment_id})"
    return assignment.title


def _points(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def export_csv(assignments: list[Assignment], rows) -> str:
    """Canvas gradebook import: each linked assignment fills its existing Canvas column; an
    unlinked one is a column without an id, which Canvas creates as a new assignment."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(IDENTITY_COLUMNS + [column_header(a) for a in assignments])
    writer.writerow([POINTS_ROW, "", "", "", ""] + [f"{a.max_score:g}" for a in assignments])
    for row in rows:
        first, last = split_name(row.user.name)
        scores = [_points(MISSING_SCORE if line.score is None else line.score) for line in row.lines]
        writer.writerow([f"{last}, {first}" if first else last or row.user.email, row.member.canvas_user_id,
                         row.user.sis_id, row.member.sis_login_id, row.section] + scores)
    return out.getvalue()
