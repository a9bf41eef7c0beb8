"""The gradebook's exports against what the other systems document and do:
nbgrader's own `nbgrader export` for the same grades, and Canvas's gradebook import rules."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from web_helpers import make_result

from web.db import utcnow

FIXTURES = Path(__file__).parent / "fixtures"
NBGRADER = str(Path(sys.executable).parent / "nbgrader")


def _naive(when: dt.datetime) -> dt.datetime:
    return when.astimezone(dt.timezone.utc).replace(tzinfo=None)


@pytest.fixture
def graded_course(session, course, make_student, make_assignment, make_submission, client_for, make_user):
    """Alice: alpha two days late (-50%), beta twice under `best` with a score carrying six
    decimals. Bob and Carol share a SIS id. Bob's alpha is overridden; Carol submitted nothing."""
    now = utcnow().replace(microsecond=0)
    alice = make_student(email="alice@example.edu", name="Alice Liddell")
    bob = make_student(email="bob@example.edu", name="Bob Builder")
    carol = make_student(email="carol@example.edu", name="Carol Jones")
    alice.sis_id, bob.sis_id, carol.sis_id = "s1", "dup", "dup"
    course.late_days = 0
    alpha = make_assignment("alpha", deadline=now - dt.timedelta(hours=30), penalty_per_day=0.25, grace_days=0)
    beta = make_assignment("beta", deadline=now + dt.timedelta(days=3), counting_policy="best")
    session.commit()
    subs = {
        "alice_alpha": make_submission(alice, alpha, result=make_result(score=12.0), submitted_at=now),
        "alice_beta_best": make_submission(alice, beta, result=make_result(score=14.854839),
                                           submitted_at=now - dt.timedelta(hours=5)),
        "alice_beta_later": make_submission(alice, beta, result=make_result(score=10.0),
                                            submitted_at=now - dt.timedelta(hours=1)),
        "bob_alpha": make_submission(bob, alpha, result=make_result(score=4.0),
                                     submitted_at=now - dt.timedelta(days=2)),
    }
    ta = client_for(make_user("ta", course))
    assert ta.api("POST", f"/api/submissions/{subs['bob_alpha'].id}/override",
                  json={"score": 13, "comment": "regrade request"}).status_code == 200
    return {"alpha": alpha, "beta": beta, "subs": subs, "users": (alice, bob, carol),
            "instructor": client_for(make_user("instructor", course))}


def _nbgrader_gradebook_export(tmp_path: Path, course_data) -> str:
    """The same grades entered the way an nbgrader course holds them (several grade cells,
    the late penalty on the notebook, the override as a manual score), exported by the
    `nbgrader export` command."""
    from nbgrader.api import Gradebook

    alpha, beta, subs = course_data["alpha"], course_data["beta"], course_data["subs"]
    db_path = tmp_path / "nbgrader" / "gradebook.db"
    db_path.parent.mkdir()
    with Gradebook(f"sqlite:///{db_path}") as gb:
        gb.add_assignment("alpha", duedate=_naive(alpha.deadline))
        gb.add_notebook("kernels", "alpha")
        gb.add_grade_cell("softmax", "kernels", "alpha", max_score=10, cell_type="code")
        gb.add_grade_cell("secret", "kernels", "alpha", max_score=5, cell_type="code")
        gb.add_assignment("beta", duedate=_naive(beta.deadline))
        gb.add_notebook("kernels", "beta")
        gb.add_grade_cell("all", "kernels", "beta", max_score=15, cell_type="code")
        gb.add_student("s1", first_name="Alice", last_name="Liddell", email="alice@example.edu")
        gb.add_student("bob@example.edu", first_name="Bob", last_name="Builder", email="bob@example.edu")
        gb.add_student("carol@example.edu", first_name="Carol", last_name="Jones", email="carol@example.edu")

        gb.add_submission("alpha", "s1", timestamp=_naive(subs["alice_alpha"].submitted_at))
        gb.find_grade("softmax", "kernels", "alpha", "s1").auto_score = 7.5
        gb.find_grade("secret", "kernels", "alpha", "s1").auto_score = 4.5
        gb.find_submission_notebook("kernels", "alpha", "s1").late_submission_penalty = 6.0  # 2 days x 25%

        gb.add_submission("alpha", "bob@example.edu", timestamp=_naive(subs["bob_alpha"].submitted_at))
        gb.find_grade("softmax", "kernels", "alpha", "bob@example.edu").auto_score = 4.0
        gb.find_grade("softmax", "kernels", "alpha", "bob@example.edu").manual_score = 10.0
        gb.find_grade("secret", "kernels", "alpha", "bob@example.edu").manual_score = 3.0

        gb.add_submission("beta", "s1", timestamp=_naive(subs["alice_beta_best"].submitted_at))
        gb.find_grade("all", "kernels", "beta", "s1").auto_score = 14.854839
        gb.db.commit()
    out = tmp_path / "nbgrader" / "grades.csv"
    subprocess.run([NBGRADER, "export", f"--CourseDirectory.db_url=sqlite:///{db_path}", f"--to={out}"],
                   cwd=db_path.parent, check=True, capture_output=True)
    return out.read_text(encoding="utf-8")


def test_nbgrader_export_is_the_file_nbgrader_writes(tmp_path, graded_course, course, monkeypatch):
    from web.exports import _nbgrader_schema_version

    ours = graded_course["instructor"].get(f"/courses/{course.id}/gradebook.csv").data.decode()
    # nbgrader stamps a new gradebook by running `alembic`, which an nbgrader user has on PATH
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    theirs = _nbgrader_gradebook_export(tmp_path, graded_course)
    assert ours == theirs
    stamped = sqlite3.connect(tmp_path / "nbgrader" / "gradebook.db").execute(
        "SELECT version_num FROM alembic_version").fetchone()[0]
    assert stamped == _nbgrader_schema_version()  # dlgrade's gradebook is at nbgrader's own schema version
    rows = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(io.StringIO(ours))}
    assert rows[("beta", "s1")]["late_submission_penalty"] == "0.0"  # on time: no residue
    assert rows[("beta", "s1")]["score"] == "14.854839"  # `best` picked the earlier, higher try
    assert rows[("alpha", "bob@example.edu")]["score"] == "13.0"  # the override, not the raw 4
    assert rows[("alpha", "carol@example.edu")]["score"] == "0.0" and rows[("alpha", "carol@example.edu")]["timestamp"] == ""


CANVAS_IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_ID = re.compile(r"\((\d+)\)\s*$")


def _canvas_columns(header: list[str]) -> dict[str, int]:
    """Canvas's import rule: an assignment column is matched by the id in parentheses."""
    return {m.group(1): i for i, name in enumerate(header) if (m := CANVAS_ID.search(name))}


def test_canvas_export_fills_the_existing_canvas_columns(session, graded_course, course):
    instructor, alpha, beta = graded_course["instructor"], graded_course["alpha"], graded_course["beta"]
    alice, bob, carol = graded_course["users"]
    fixture = (FIXTURES / "canvas_gradebook_export.csv").read_text()
    report = instructor.post(f"/courses/{course.id}/canvas-roster",
                             {"canvas_export": (io.BytesIO(fixture.encode()), "export.csv")},
                             content_type="multipart/form-data").data.decode()
    assert "Demo alpha → Canvas assignment 40101" in report
    assert "Student, Test (Canvas ID 5999" in report  # Canvas's test student matches nobody here
    # beta's Canvas column has another title: staff link it by id; gamma stays unlinked
    assert instructor.post(f"/assignments/{beta.id}/counting",
                           {"counting_policy": "best", "canvas_assignment_id": "40102"}).status_code == 303
    gradebook_page = instructor.get(f"/courses/{course.id}/gradebook").data.decode()
    assert "1 students have no Canvas ID yet" in gradebook_page  # Carol is not in Canvas's file

    exported = list(csv.reader(io.StringIO(instructor.get(f"/courses/{course.id}/canvas.csv").data.decode())))
    canvas = list(csv.reader(io.StringIO(fixture)))
    header, points = exported[0], exported[1]
    assert header[:5] == CANVAS_IDENTITY and points[0].strip() == "Points Possible"
    theirs, ours = _canvas_columns(canvas[0]), _canvas_columns(header)
    assert set(ours) == {"40101", "40102"} and set(ours) <= set(theirs)  # every column is an existing one
    canvas_points = {cid: float(canvas[1][i]) for cid, i in theirs.items()}
    assert {cid: float(points[i]) for cid, i in ours.items()} == {k: canvas_points[k] for k in ours}
    canvas_students = {row[1]: row for row in canvas[2:]}
    by_canvas_id = {row[1]: row for row in exported[2:] if row[1]}
    assert set(by_canvas_id) == {"5001", "5002"} <= set(canvas_students)
    assert by_canvas_id["5001"][2:4] == ["s1", "aliddell"] and by_canvas_id["5002"][3] == "bob@example.edu"
    assert by_canvas_id["5001"][ours["40101"]] == "6" and by_canvas_id["5001"][ours["40102"]] == "14.8548"
    assert by_canvas_id["5002"][ours["40101"]] == "13"
    carol_row = next(row for row in exported[2:] if row[0] == "Jones, Carol")
    assert carol_row[1] == "" and carol_row[ours["40101"]] == "0"  # missing work: 0, as in the nbgrader file


def test_canvas_import_refuses_a_file_that_is_not_a_canvas_export(graded_course, course, session):
    instructor = graded_course["instructor"]
    bad = "email,name\nalice@example.edu,Alice\n"
    response = instructor.post(f"/courses/{course.id}/canvas-roster", {"canvas_export": (io.BytesIO(bad.encode()), "x.csv")},
                               content_type="multipart/form-data")
    assert response.status_code == 303
    page = instructor.get(f"/courses/{course.id}/gradebook").data.decode()
    assert "This is not a Canvas gradebook export" in page
    assert all(not a.canvas_assignment_id for a in course.assignments)
