"""The gradebook's exports. Every export reads the same `StudentRow`s (web/gradebook.py), so
every one uses the counting policy's submission, the override where there is one, and the same
rule for missing work: it exports as 0, which is what nbgrader's own exporter writes.

- nbgrader: the grades go into nbgrader's own gradebook (a temporary sqlite file) and nbgrader's
  CsvExportPlugin writes the file, so columns, order and formats are nbgrader's.
- Canvas: web/canvas.py.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import tempfile
from pathlib import Path

import sqlalchemy as sa

from .models import Assignment, User

MISSING_SCORE = 0.0
NBGRADER_NOTEBOOK = "submission"  # one notebook per assignment, one grade cell holding the total
NBGRADER_GRADE_CELL = "total"


def split_name(name: str) -> tuple[str, str]:
    """(first, last) of 'First Middle Last'."""
    first, _, last = name.strip().rpartition(" ")
    return (first, last) if first else ("", last)


def student_ids(users: list[User]) -> dict[int, str]:
    """A student id per user that no other student shares: the SIS id, or the full email
    where the SIS id is missing or shared (emails are unique)."""
    counts = collections.Counter(u.sis_id for u in users if u.sis_id)
    return {u.id: u.sis_id if u.sis_id and counts[u.sis_id] == 1 else u.email for u in users}


def _naive_utc(when: dt.datetime | None) -> dt.datetime | None:
    """nbgrader keeps UTC datetimes without a zone."""
    if when is None:
        return None
    return when.astimezone(dt.timezone.utc).replace(tzinfo=None) if when.tzinfo else when


def penalty_points(line) -> float:
    """Points taken off for lateness: none on an override or an on-time submission."""
    if line.submission is None or line.submission.override_score is not None or line.raw_score is None \
            or line.score is None or line.penalty == 0:
        return 0.0
    return round(line.raw_score - line.score, 4)


@functools.cache
def _nbgrader_schema_version() -> str:
    """The head of nbgrader's own migrations, read in-process."""
    import nbgrader
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(Path(nbgrader.__file__).parent / "alembic")).get_current_head()


def _new_nbgrader_database(url: str) -> None:
    """nbgrader's tables, stamped with its schema version. Left to itself, Gradebook() stamps a
    new database by running the `alembic` command in a subprocess (10-20 s on a busy host)."""
    from nbgrader.api import Base

    engine = sa.create_engine(url)
    try:
        Base.metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            conn.execute(sa.text("INSERT INTO alembic_version (version_num) VALUES (:v)"),
                         {"v": _nbgrader_schema_version()})
    finally:
        engine.dispose()


def nbgrader_csv(assignments: list[Assignment], rows) -> str:
    from nbgrader.api import Gradebook
    from nbgrader.plugins.export import CsvExportPlugin

    ids = student_ids([row.user for row in rows])
    with tempfile.TemporaryDirectory(prefix="dlgrade-nbgrader-") as tmp:
        out = Path(tmp) / "grades.csv"
        url = f"sqlite:///{Path(tmp) / 'gradebook.db'}"
        _new_nbgrader_database(url)
        gradebook = Gradebook(url)
        try:
            for assignment in assignments:
                gradebook.add_assignment(assignment.slug, duedate=_naive_utc(assignment.deadline))
                gradebook.add_notebook(NBGRADER_NOTEBOOK, assignment.slug)
                gradebook.add_grade_cell(NBGRADER_GRADE_CELL, NBGRADER_NOTEBOOK, assignment.slug,
                                         max_score=assignment.max_score, cell_type="code")
            for row in rows:
                first, last = split_name(row.user.name)
                gradebook.add_student(ids[row.user.id], first_name=first, last_name=last, email=row.user.email)
            for row in rows:
                for line in row.lines:
                    if line.submission is None or line.score is None:
                        continue  # missing: nbgrader's exporter writes it as 0
                    _add_graded(gradebook, line, ids[row.user.id])
            gradebook.db.commit()
            CsvExportPlugin(to=str(out)).export(gradebook)
        finally:
            gradebook.close()
        return out.read_text(encoding="utf-8")


def _add_graded(gradebook, line, student_id: str) -> None:
    slug = line.assignment.slug
    gradebook.add_submission(slug, student_id, timestamp=_naive_utc(line.submission.submitted_at))
    grade = gradebook.find_grade(NBGRADER_GRADE_CELL, NBGRADER_NOTEBOOK, slug, student_id)
    if line.submission.override_score is not None:
        grade.manual_score = line.submission.override_score  # nbgrader's own way to overrule the autograder
    else:
        grade.auto_score = line.raw_score
    notebook = gradebook.find_submission_notebook(NBGRADER_NOTEBOOK, slug, student_id)
    notebook.late_submission_penalty = penalty_points(line)
