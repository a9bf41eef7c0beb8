"""Progress names the part of the test that runs; the worker posts the part and the count only."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from autograder.run_watch import RunWatcher
from autograder.harness.records import CURRENT_TEST_FILE, RECORDS_FILE
from autograder.worker.progress import ProgressReporter

SECRET = "hidden/test_hidden.py::test_naive_sizes[world=2]"


def test_watcher_reports_the_part_of_the_running_test(tmp_path):
    (tmp_path / RECORDS_FILE).write_text("{}\n{}\n")
    (tmp_path / CURRENT_TEST_FILE).write_text(SECRET)
    seen = []
    job = SimpleNamespace(output_dir=tmp_path, cancel=threading.Event())
    watcher = RunWatcher(job, seen.append, [SECRET, "public/test_a.py::test_a"], 1, None,
                          {SECRET: "naive"}.get)
    watcher._report()
    watcher.stop()
    assert seen == [{"test": SECRET, "part": "naive", "done": 2, "total": 2}]  # done capped at the total


class _Portal:
    worker_name = "w1"
    timeout_s = 5.0

    def __init__(self):
        self.posts = []

    def post_json(self, path, body, timeout_s=None):
        self.posts.append(body)


def test_reporter_posts_the_part_and_never_the_test_name():
    portal = _Portal()
    reporter = ProgressReporter(portal, "/api/worker/submissions/1/progress", 1, heartbeat_s=60)
    reporter.update({"test": SECRET, "part": "naive", "done": 9, "total": 46})
    reporter._post()
    assert portal.posts == [{"attempt": 1, "state": "running", "worker": "w1", "part": "naive", "done": 9, "total": 46}]
