"""Trusted runs shared by the workers of a deployment: real workers with separate engine caches
grade tests/example_assignment through Redis and the (fake) portal; the second reuses the
first's trusted run, and a tampered or missing archive makes a worker run the reference."""

from __future__ import annotations

import hashlib

import pytest

from worker_helpers import REAL_APP, ROOT, wait_for

pytestmark = [pytest.mark.redis, pytest.mark.deployment]  # 2 minutes: make test-deployment

EXAMPLE = ROOT / "tests" / "example_assignment"


def _worker_env(workers, name: str) -> dict:
    """A worker of its own queue prefix (so the test picks who grades) and its own engine cache,
    sharing the deployment's seed secret with the others."""
    return {"app": REAL_APP, "DLGRADE_QUEUE_PREFIX": f"{name}-", "DLGRADE_CACHE_DIR": str(workers.tmp_path / f"cache-{name}"),
            "DLGRADE_SEED_SECRET": "deployment-secret", "DLGRADE_SEED_POOL": "1", "DLGRADE_FAILURE_RETRY_S": "1"}


def _grade_on(workers, portal, producer, assignment: int, name: str) -> dict:
    sid = portal.add_submission(assignment, (EXAMPLE / "notebook.py").read_bytes(), filename="notebook.py")
    producer.grade(sid, queue=f"{name}-cpu")
    wait_for(lambda: portal.submissions[sid].state in ("graded", "error"), 240,
             f"submission {sid} graded on {name}\n{workers.dump_logs()}")
    sub = portal.submissions[sid]
    assert sub.state == "graded", sub.failures[-1:]
    result = sub.results[1]
    assert result["score"] == pytest.approx(result["max_score"]) and result["max_score"] > 0
    return result


def test_second_worker_reuses_the_first_workers_trusted_run_and_refuses_a_tampered_one(
        workers, portal, producer):
    from autograder.bundle import bundle_bytes
    from autograder.package import load_assignment

    assignment = portal.add_assignment("example", portal.add_bundle(bundle_bytes(load_assignment(EXAMPLE))))
    for name in ("a", "b", "c"):
        workers.start(name, **_worker_env(workers, name))

    first = _grade_on(workers, portal, producer, assignment, "a")
    assert first["run"]["trusted_source"] == "run"
    assert len(portal.trusted_runs) == 1, "worker a published its trusted run"
    (key, digest), = portal.trusted_runs.items()
    assert hashlib.sha256(portal.blobs[digest]).hexdigest() == digest

    second = _grade_on(workers, portal, producer, assignment, "b")
    assert second["run"]["trusted_source"] == "shared", "worker b fetched it instead of running the reference"
    assert second["run"]["seed"] == first["run"]["seed"] and second["run"]["hardware"] == first["run"]["hardware"]
    assert second["run"]["durations"]["trusted_s"] < first["run"]["durations"]["trusted_s"] / 3
    assert ("GET", f"/api/worker/trusted-runs/{key}/archive", 200) in portal.requests

    portal.blobs[digest] = portal.blobs[digest][:-40] + b"\0" * 40  # the stored archive is tampered with
    third = _grade_on(workers, portal, producer, assignment, "c")
    assert third["run"]["trusted_source"] == "run", "a tampered archive is never used"
    repaired = portal.trusted_runs[key]
    assert hashlib.sha256(portal.blobs[repaired]).hexdigest() == repaired, "c published an intact one"
    print(f"\ntrusted run: a ran it in {first['run']['durations']['trusted_s']:.1f} s, b fetched it in "
          f"{second['run']['durations']['trusted_s']:.2f} s, c refused the tampered archive and ran it in "
          f"{third['run']['durations']['trusted_s']:.1f} s")
