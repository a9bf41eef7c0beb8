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
    # the user (here already in the fixture's session), the submission with its assignment and the
    # caller's role, the queue position, the fleet; before issue 20's tuning a poll took 5 and a transaction
    assert int(found[3]) <= 4
