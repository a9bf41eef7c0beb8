"""Deadline night (issue 20): with SERVER_TIMING on, a response says where its time went (the load
bench reads it), and a student's status poll costs a handful of statements."""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def app_config(app_config):
    return {**app_config, "SERVER_TIMING": True}


def test_status_poll_says_where_its_time_went(client_for, make_student, make_assignment, make_submission):
    student = make_student()
    sub = make_submission(student, make_assignment())
    response = client_for(student).get(f"/submissions/{sub.id}/status.json")
    assert response.status_code == 200 and response.json["state"] == "queued"
    found = re.fullmatch(r'app;dur=([\d.]+), db;dur=([\d.]+);desc="(\d+) statements"', response.headers["Server-Timing"])
    assert found, response.headers["Server-Timing"]
    assert float(found[2]) <= float(found[1])
    # the session, the submission with its assignment, the caller's role and its queue position, the
    # fleet (is a worker of its queue online); before issue 20's tuning a poll took 5 and a transaction
    # (without the session), and 4 until the queue position joined the submission's query
    assert int(found[3]) <= 3


def test_unchanged_status_answers_304_and_a_change_a_new_body(client_for, make_student, make_assignment,
                                                             make_submission, worker):
    student = make_student()
    sub = make_submission(student, make_assignment())
    client = client_for(student)
    first = client.get(f"/submissions/{sub.id}/status.json")
    etag = first.headers["ETag"]
    assert first.status_code == 200 and etag and first.headers["Cache-Control"] == "private, no-cache"
    again = client.get(f"/submissions/{sub.id}/status.json", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert worker.post(f"/api/worker/submissions/{sub.id}/progress", {
        "attempt": 1, "state": "running", "worker": "w", "part": "softmax", "done": 1, "total": 2}).status_code == 200
    changed = client.get(f"/submissions/{sub.id}/status.json", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json["state"] == "running"
    assert changed.headers["ETag"] != etag


def test_queue_position_from_the_polls_one_query(client_for, make_student, make_assignment, make_submission,
                                                 session):
    """The position is counted in SQL beside the submission: ties on queued_at go by id, other
    queues and other states do not count, and a submission not queued has none."""
    import datetime as dt

    from web.db import utcnow

    cpu, gpu = make_assignment(), make_assignment("gpuwork", queue="gpu")
    at = utcnow() - dt.timedelta(minutes=5)
    students = [make_student(email=f"s{n}@example.edu") for n in range(5)]
    first, tied = (make_submission(s, cpu, submitted_at=at) for s in students[:2])
    make_submission(students[2], gpu, submitted_at=at - dt.timedelta(minutes=1))  # another queue
    make_submission(students[3], cpu, state="running", submitted_at=at - dt.timedelta(minutes=1))
    last = make_submission(students[4], cpu, submitted_at=at + dt.timedelta(seconds=1))
    running = session.query(type(last)).filter_by(state="running").one()
    expected = {first: 1, tied: 2, last: 3}
    for sub, student in ((first, students[0]), (tied, students[1]), (last, students[4])):
        client = client_for(student)
        assert client.get(f"/submissions/{sub.id}/status.json").json["queue_position"] == expected[sub]
        assert client.get(f"/api/submissions/{sub.id}").json["queue_position"] == expected[sub]
    assert client_for(students[3]).get(f"/submissions/{running.id}/status.json").json["queue_position"] is None


def test_the_page_gives_status_js_its_poll_schedule(client_for, make_student, make_assignment, make_submission):
    """status.js has no schedule of its own (a missing attribute would make it poll without pause):
    the page carries the one in web/views/submissions.py, which the load bench also follows."""
    from web.views.submissions import STATUS_POLL_FIRST_MS, STATUS_POLL_GROWTH, STATUS_POLL_MAX_MS

    student = make_student()
    page = client_for(student).get(f"/submissions/{make_submission(student, make_assignment()).id}").text
    schedule = dict(re.findall(r'data-poll-([a-z-]+)="([^"]*)"', page))
    assert schedule == {"first-ms": str(STATUS_POLL_FIRST_MS), "growth": str(STATUS_POLL_GROWTH),
                        "max-ms": str(STATUS_POLL_MAX_MS)}
    assert all(float(value) > 0 for value in schedule.values())
