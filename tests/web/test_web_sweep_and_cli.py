"""The sweeper (DB is the source of truth), real enqueueing on Redis, and the CLI commands."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import uuid
from pathlib import Path

import pytest

from web import services
from web.db import utcnow
from web.models import Assignment, Submission, Worker
from web.tasks import TaskClient

REPO = Path(__file__).resolve().parents[2]


def test_stuck_lists_silent_work_and_the_jobs_of_offline_workers(session, worker, make_student, make_assignment,
                                                                 make_submission):
    """What the one sweeper (autograder/worker/sweeper.py) asks the portal for."""
    from test_web_operations import beat

    student, assignment = make_student(), make_assignment()
    long_ago = utcnow() - dt.timedelta(hours=3)
    silent = make_submission(student, assignment, submitted_at=long_ago)
    fresh = make_submission(student, assignment)
    lost = make_submission(student, assignment)
    alive = make_submission(student, assignment)
    done = make_submission(student, assignment, state="graded", submitted_at=long_ago)
    beat(worker, "host-lost")
    beat(worker, "host-alive")
    for sub, host in ((lost, "host-lost"), (alive, "host-alive")):
        worker.post(f"/api/worker/submissions/{sub.id}/progress",
                    {"attempt": 1, "state": "running", "worker": host, "done": 0, "total": 3})
    assert worker.get("/api/worker/stuck").status_code == 400  # the sweeper always says how old
    listed = {s["id"]: s for s in worker.get("/api/worker/stuck?older_than_s=60").json["submissions"]}
    assert set(listed) == {silent.id}
    assert listed[silent.id]["reason"].startswith("no news for")
    row = session.query(Worker).filter_by(name="host-lost").one()
    row.last_seen_at = utcnow() - dt.timedelta(seconds=61)
    session.commit()
    listed = {s["id"]: s for s in worker.get("/api/worker/stuck?older_than_s=60").json["submissions"]}
    assert set(listed) == {silent.id, lost.id} and fresh.id not in listed and done.id not in listed
    assert listed[lost.id]["reason"] == "its worker host-lost is offline (no heartbeat for 60 s)"
    assert listed[lost.id]["worker"] == "host-lost" and alive.id not in listed


@pytest.mark.redis
def test_tasks_reach_the_real_broker_by_name():
    import redis

    prefix = f"test-{uuid.uuid4().hex[:8]}-"
    client = TaskClient("redis://127.0.0.1:6379/15", prefix=prefix)
    assert client.send("dlgrade.grade_submission", [41, 2], "gpu")
    r = redis.Redis.from_url("redis://127.0.0.1:6379/15")
    try:
        raw = r.lpop(f"{prefix}gpu")
        assert raw is not None, "the message did not reach the queue"
        message = json.loads(raw)
        assert message["headers"]["task"] == "dlgrade.grade_submission"
        assert message["headers"]["argsrepr"] == "[41, 2]"
    finally:
        r.delete(f"{prefix}gpu")


def test_broker_down_keeps_the_row_for_the_sweeper(session, app, make_student, make_assignment):
    """The row is committed before the task is sent, and a failed send loses nothing: another
    connection (the sweeper's) sees it queued, both while sending and after."""
    from sqlalchemy.orm import Session

    from web_helpers import notebook_bytes

    def committed_state(submission_id: int) -> str | None:
        with Session(session.get_bind()) as other:  # its own connection: sees committed rows only
            row = other.get(Submission, submission_id)
            return row.state if row else None

    class DeadBroker(TaskClient):
        seen_while_sending: list = []

        def send(self, name, args, queue):
            self.seen_while_sending.append(committed_state(args[0]))
            return super().send(name, args, queue)

    dead = DeadBroker("redis://127.0.0.1:1/0")  # nothing listens there
    sub = services.submit(session, app.extensions["dlgrade_store"], dead, assignment=make_assignment(),
                          user_id=make_student().id, filename="demo.ipynb", data=notebook_bytes(), default_max_mb=5)
    assert dead.seen_while_sending == ["queued"], "the task was sent before the submission was committed"
    assert committed_state(sub.id) == "queued"  # the sweeper finds it


def test_create_demo_loads_complete_packages(session, app, tmp_path, sent):
    repo = tmp_path / "repo"
    example = REPO / "tests" / "example_assignment"
    shutil.copytree(example, repo / "assignments" / "example", ignore=shutil.ignore_patterns("reference"))
    shutil.copytree(example / "reference", repo / "reference" / "example")
    (repo / "assignments" / "half-written").mkdir()
    output = app.test_cli_runner().invoke(args=["create-demo", "--repo", str(repo)]).output
    assert "skip half-written" in output and "instructor@demo.dlgrade" in output and "worker token: dlg_w_" in output
    assignment = session.query(Assignment).one()
    assert assignment.state == "gating" and assignment.release_on_pass
    assert sent == [("dlgrade.run_gate", [assignment.id, 1], assignment.queue)]
    again = app.test_cli_runner().invoke(args=["create-demo", "--repo", str(repo), "--worker-token", "dlg_w_fixed"])
    assert again.exit_code == 0 and session.query(Assignment).count() == 1


def test_demo_with_the_repository_assignments(app):
    """The assignments being written in this repository load as far as they are complete."""
    result = app.test_cli_runner().invoke(args=["create-demo", "--repo", str(REPO)])
    assert result.exit_code == 0, result.output
