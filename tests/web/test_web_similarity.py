"""Similarity review in the portal: staff start a run (a task is sent after the commit), the
worker lists what to compare through its API, posts progress and the report (validated), staff
rank pairs overall and per cell, read one side by side and mark it; students never see any of
it (the authorization matrix covers every route; here, the content)."""

from __future__ import annotations

import pytest

from web.models import SimilarityPair, SimilarityRun


@pytest.fixture
def course_work(session, course, make_user, make_assignment, make_submission):
    """Three students of one assignment: Ann has an earlier and a later graded submission, Ben
    one graded and one still queued, Cy one graded."""
    from web_helpers import make_result

    assignment = make_assignment("kernels")
    ann, ben, cy = (make_user("student", course, email=f"{n}@example.edu") for n in ("ann", "ben", "cy"))
    subs = {
        "ann_early": make_submission(ann, assignment, result=make_result()),
        "ann": make_submission(ann, assignment, result=make_result()),
        "ben": make_submission(ben, assignment, result=make_result()),
        "ben_queued": make_submission(ben, assignment),
        "cy": make_submission(cy, assignment, result=make_result()),
    }
    return assignment, {name: sub.id for name, sub in subs.items()}


def _report(ids: dict, **overrides) -> dict:
    ann, ben, cy = str(ids["ann"]), str(ids["ben"]), str(ids["cy"])
    report = {
        "cells": ["q1", "q2"], "compared": 3, "total_pairs": 3,
        "pairs": [{"a": ann, "b": ben, "score": 0.91, "cells": {"q1": 0.97, "q2": 0.20}},
                  {"a": ben, "b": cy, "score": 0.40, "cells": {"q1": 0.10, "q2": 0.99}},
                  {"a": ann, "b": cy, "score": 0.05, "cells": {"q1": 0.05, "q2": 0.05}}],
        "details": [{"a": ann, "b": ben, "matches": [{"a_cell": "q1", "a_lines": [2, 3], "b_cell": "q1",
                                                      "b_lines": [1, 2]}]}],
        "submissions": {ann: {"cells": {"q1": "def f(x):\n    y = x + 1\n"
                                              "    return y  # </pre><script>alert(1)</script>",
                                        "q2": "pass"}, "code_lines": {"q1": [1, 2, 3]}, "error": ""},
                        ben: {"cells": {"q1": "z = x + 1\nreturn z", "q2": "pass"}, "error": ""}},
    }
    report.update(overrides)
    return report


def _start(client_for, make_user, course, assignment, **form):
    staff = client_for(make_user("ta", course))
    response = staff.post(f"/assignments/{assignment.id}/similarity", form)
    assert response.status_code == 303
    return staff


def test_staff_start_a_run_and_the_worker_sees_the_counted_submissions(client_for, make_user, course, course_work,
                                                                        worker, sent, session):
    assignment, ids = course_work
    _start(client_for, make_user, course, assignment)
    assert sent[-1] == ("dlgrade.run_similarity", [assignment.id, 1], "cpu")
    listed = worker.get(f"/api/worker/assignments/{assignment.id}/similarity/1").json
    assert listed["state"] == "queued" and listed["assignment"]["bundle_digest"] == assignment.bundle_digest
    assert [s["id"] for s in listed["submissions"]] == [ids["ann"], ids["ben"], ids["cy"]]  # latest graded each
    assert worker.get(f"/api/worker/assignments/{assignment.id}/similarity/2").status_code == 404

    _start(client_for, make_user, course, assignment, include_earlier="1")  # replaces run 1
    assert sent[-1] == ("dlgrade.run_similarity", [assignment.id, 2], "cpu")
    listed = worker.get(f"/api/worker/assignments/{assignment.id}/similarity/2").json
    assert [s["id"] for s in listed["submissions"]] == [ids["ann_early"], ids["ann"], ids["ben"], ids["cy"]]
    late = worker.post(f"/api/worker/assignments/{assignment.id}/similarity/1/report",
                       {"attempt": 1, "worker": "w1", "report": _report(ids)})
    assert late.status_code == 409  # run 1 was replaced
    session.expire_all()
    assert session.get(SimilarityRun, 1).message == "replaced by run 2"


def test_progress_report_ranking_side_by_side_and_review(client_for, make_user, course, course_work, worker,
                                                         session, make_student):
    assignment, ids = course_work
    staff = _start(client_for, make_user, course, assignment)
    base = f"/api/worker/assignments/{assignment.id}/similarity/1"
    assert worker.post(f"{base}/progress", {"attempt": 1, "state": "running", "worker": "w1", "test": "compare",
                                            "done": 2, "total": 3}).status_code == 200
    page = staff.get(f"/assignments/{assignment.id}/similarity").get_data(as_text=True)
    assert "compare 2/3" in page and 'http-equiv="refresh"' in page

    answer = worker.post(f"{base}/report", {"attempt": 1, "worker": "w1", "report": _report(ids)})
    assert answer.json == {"stored": True}
    assert worker.post(f"{base}/report", {"attempt": 1, "worker": "w1", "report": _report(ids)}).status_code == 409
    page = staff.get(f"/assignments/{assignment.id}/similarity").get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page and "3 submissions, 3 pairs scored" in page
    ann_ben = page.index("ann@example.edu (#%d) ↔ ben@example.edu" % ids["ann"])
    assert ann_ben < page.index("ben@example.edu (#%d) ↔ cy@" % ids["ben"])
    by_q2 = staff.get(f"/assignments/{assignment.id}/similarity?cell=q2").get_data(as_text=True)
    assert by_q2.index("↔ cy@example.edu") < by_q2.index("↔ ben@example.edu")  # ben/cy share q2
    assert staff.get(f"/assignments/{assignment.id}/similarity?cell=nope").status_code == 404

    pair = session.query(SimilarityPair).filter_by(a_submission_id=ids["ann"], b_submission_id=ids["ben"]).one()
    view = staff.get(f"/similarity/pairs/{pair.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in view and "&lt;/pre&gt;&lt;script&gt;" in view
    assert view.count('class="line m"') == 4  # lines 2-3 of ann's q1, lines 1-2 of ben's q1
    response = staff.post(f"/similarity/pairs/{pair.id}/review", {"status": "reviewed", "comment": "same bug in q1"})
    assert response.status_code == 303
    session.expire_all()
    assert (pair.status, pair.comment) == ("reviewed", "same bug in q1") and pair.reviewed_by_id is not None
    staff.post(f"/similarity/pairs/{pair.id}/review", {"status": "guilty", "comment": ""})
    session.expire_all()
    assert pair.status == "reviewed"  # refused, unchanged

    # the decision carries over to the same two submissions in the next run
    _start(client_for, make_user, course, assignment)
    worker.post(f"/api/worker/assignments/{assignment.id}/similarity/2/report",
                {"attempt": 2, "worker": "w1", "report": _report(ids)})
    again = session.query(SimilarityPair).join(SimilarityRun).filter(
        SimilarityRun.attempt == 2, SimilarityPair.a_submission_id == ids["ann"],
        SimilarityPair.b_submission_id == ids["ben"]).one()
    assert (again.status, again.comment) == ("reviewed", "same bug in q1")

    # students: nothing, not even their own pair
    student = client_for(session.get(type(pair.a_submission.user), pair.a_submission.user_id))
    assert student.get(f"/assignments/{assignment.id}/similarity").status_code == 403
    assert student.get(f"/similarity/pairs/{pair.id}").status_code == 403
    assert "Similarity" not in student.get(f"/assignments/{assignment.id}").get_data(as_text=True)


@pytest.mark.parametrize("bad", [
    {"pairs": [{"a": "999999", "b": "1", "score": 0.5}]},  # a submission the run did not list
    {"pairs": [{"a": "ANN", "b": "BEN", "score": 1.5}]},  # score outside 0..1
    {"pairs": "not a list"},
    {"submissions": {"ANN": {"cells": {"q1": "x"}, "code_lines": ["not", "a", "map"]}}},
])
def test_a_report_outside_the_contract_is_refused_and_stores_nothing(client_for, make_user, course, course_work,
                                                                      worker, session, bad):
    assignment, ids = course_work
    _start(client_for, make_user, course, assignment)
    if "submissions" in bad:
        bad = {"submissions": {str(ids["ann"]): bad["submissions"]["ANN"]}}
    elif isinstance(bad["pairs"], list):
        bad = {"pairs": [{**pair, "a": pair["a"].replace("ANN", str(ids["ann"])),
                          "b": pair["b"].replace("BEN", str(ids["ben"])).replace("1", str(ids["ben"]))}
                         for pair in bad["pairs"]]}
    response = worker.post(f"/api/worker/assignments/{assignment.id}/similarity/1/report",
                           {"attempt": 1, "worker": "w1", "report": _report(ids, **bad)})
    assert response.status_code == 400 and "CONTRACT" in response.json["message"]
    session.expire_all()
    run = session.query(SimilarityRun).one()
    assert run.state == "queued" and run.pairs == []


def test_a_failed_run_shows_why_and_unsigned_posts_are_refused(client_for, make_user, course, course_work, worker,
                                                               session):
    assignment, ids = course_work
    staff = _start(client_for, make_user, course, assignment)
    base = f"/api/worker/assignments/{assignment.id}/similarity/1"
    assert worker.post(f"{base}/report", {"attempt": 1, "worker": "w1", "error": "x"},
                       signature="sha256=00").status_code == 401
    assert worker.post(f"{base}/report", {"attempt": 1, "worker": "w1",
                                          "error": "RuntimeError: bundle missing"}).status_code == 200
    page = staff.get(f"/assignments/{assignment.id}/similarity").get_data(as_text=True)
    assert "RuntimeError: bundle missing" in page and 'class="state failed"' in page


def test_no_run_before_the_gate_passes(client_for, make_user, course, make_assignment, sent):
    draft = make_assignment("draft", released=False, gate_passed=False)
    staff = client_for(make_user("ta", course))
    staff.post(f"/assignments/{draft.id}/similarity", {})
    page = staff.get(f"/assignments/{draft.id}/similarity").get_data(as_text=True)
    assert "release gate has not passed" in page and not [t for t in sent if t[0] == "dlgrade.run_similarity"]
