"""Many jobs at once, the gate task and metrics, with real worker processes (GPU ownership:
test_worker_gpus.py)."""

from __future__ import annotations

import collections
import io
import tarfile
import time
import urllib.request

import pytest

from worker_helpers import add_standin_submission, free_port, wait_for

pytestmark = pytest.mark.redis


def test_200_submissions_enqueued_at_once_all_graded_none_lost_or_duplicated(
        workers, portal, producer, standin_assignment, record_property):
    for name in ("w1", "w2"):
        workers.start(name, concurrency=2)
    sids = [add_standin_submission(portal, standin_assignment, sleep=0.02) for _ in range(200)]
    started = time.monotonic()
    for sid in sids:
        producer.grade(sid)
    wait_for(portal.all_done, 240, f"all 200 graded ({portal.states()})\n{workers.dump_logs()}")
    elapsed = time.monotonic() - started
    time.sleep(2)  # a late duplicate would show up here
    done = collections.Counter(e[1] for e in workers.grading_log() if e[0] == "done")
    assert set(done) == set(sids) and set(done.values()) == {1}, "each graded exactly once"
    assert all(portal.stored_count(sid) == 1 for sid in sids)
    posts = sum(len(portal.submissions[sid].result_posts) for sid in sids)
    assert posts == 200, "no duplicate result posts"
    assert portal.states() == {"graded": 200}
    per_worker = collections.Counter(portal.submissions[sid].results[1]["standin"]["pid"] for sid in sids)
    record_property("jobs_per_s", round(200 / elapsed, 1))
    print(f"\n200 jobs, 2 workers x 2 processes: {elapsed:.1f} s, {200 / elapsed:.1f} jobs/s, "
          f"{len(per_worker)} pool processes used, duplicates 0, lost 0")
    assert workers.redis_server.client().llen("cpu") == 0


def _package(slug: str, toml_extra: str = "") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in {f"assignments/{slug}/assignment.toml": f'schema = 1\nslug = "{slug}"\n{toml_extra}',
                           f"reference/{slug}/__init__.py": ""}.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return buf.getvalue()


def test_gate_runs_uploads_the_bundle_and_the_release_and_reports(workers, portal, redis_server):
    good = portal.add_assignment("good", None, package=_package("good"))
    bad = portal.add_assignment("bad", None, package=_package("bad", "# fail_gate\n"))
    workers.start("w1")
    from celery import Celery

    client = Celery("portal", broker=redis_server.url)
    for aid in (good, bad):
        client.send_task("dlgrade.run_gate", args=[aid, 1], queue="cpu")
    wait_for(lambda: all(1 in portal.assignments[a].gate_reports for a in (good, bad)), 30,
             f"gate reports\n{workers.dump_logs()}")
    report = portal.assignments[good].gate_reports[1]
    assert report["passed"] is True and report["bundle_digest"] in portal.bundles
    assert portal.assignments[good].bundle_digest == report["bundle_digest"]
    assert portal.releases[report["report"]["release_digest"]], "the worker uploaded the release it built"
    assert portal.assignments[bad].gate_reports[1]["passed"] is False


def test_metrics_endpoint_reports_queue_depth_jobs_and_grading_time(workers, portal, producer,
                                                                    standin_assignment):
    port = free_port()
    workers.start("w1", DLGRADE_METRICS_PORT=port)
    sids = [add_standin_submission(portal, standin_assignment, sleep=0.1) for _ in range(3)]
    for sid in sids:
        producer.grade(sid)
    wait_for(portal.all_done, 30, "graded")
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    assert 'dlgrade_queue_depth{queue="cpu"} 0.0' in text
    assert 'dlgrade_jobs_total{state="graded"} 3.0' in text
    assert 'dlgrade_grading_seconds_count{assignment="standin"} 3.0' in text
    assert "dlgrade_jobs_running 0.0" in text
