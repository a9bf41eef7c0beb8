"""The worker's pieces without Redis or worker processes."""

from __future__ import annotations

import hashlib
import hmac
import json
import base64
import multiprocessing
from pathlib import Path

import pytest

from autograder.worker.bundles import BundleCache, BundleMismatch
from autograder.worker.gpus import GpuLease
from autograder.worker.portal import PortalClient, PortalRefused, PortalUnavailable, sign, with_backoff
from autograder.worker.queues import gpus_for_queue, queue_for_gpus, queues_for_gpus
from autograder.worker.settings import SettingsError, celery_config, load_settings
from autograder.worker.sweeper import _task_args

import worker_standins
from worker_helpers import TOKEN


def test_queue_rule_round_trips_and_reaches_the_portal_through_the_gate_report(tmp_path):
    from autograder.package import load_assignment
    from web.packages import gated_assignment

    for n in range(0, 9):
        assert gpus_for_queue(queue_for_gpus(n)) == n
    example = load_assignment(Path(__file__).resolve().parents[1] / "example_assignment")
    report = {"release_digest": "0" * 64, "assignment": {**example.portal_metadata(), "solution_ids": ["q1"]}}
    for gpus, queue in ((0, "cpu"), (1, "gpu"), (4, "gpu-4")):
        report["assignment"]["queue"] = queue_for_gpus(gpus)
        assert gated_assignment(report, example.slug).queue == queue
    report["assignment"]["queue"] = "gpu;rm"
    with pytest.raises(ValueError, match="queue"):
        gated_assignment(report, example.slug)
    assert queues_for_gpus(0) == ("cpu",)
    assert queues_for_gpus(2) == ("gpu", "gpu-2")


def test_settings_come_from_the_environment_and_derive_limits():
    s = load_settings({"DLGRADE_GPUS": "0,1", "DLGRADE_MAX_RUN_TIMEOUT_S": "600"})
    assert s["gpus"] == (0, 1) and s["queues"] == ("gpu", "gpu-2") and s["concurrency"] == 2
    assert s["max_run_timeout_s"] < s["soft_time_limit_s"] < s["time_limit_s"] < s["visibility_timeout_s"]
    conf = celery_config(s)
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1
    assert conf["broker_transport_options"]["visibility_timeout"] == s["visibility_timeout_s"]
    assert [q.name for q in conf["task_queues"]] == ["gpu", "gpu-2"]


def test_settings_refuse_a_visibility_timeout_below_the_hard_limit():
    with pytest.raises(SettingsError, match="visibility_timeout_s"):
        load_settings({"DLGRADE_TIME_LIMIT_S": "5000", "DLGRADE_VISIBILITY_TIMEOUT_S": "100"})
    with pytest.raises(SettingsError, match="DLGRADE_GPUS"):
        load_settings({"DLGRADE_GPUS": "zero"})


def test_requests_are_signed_and_rejected_when_the_token_is_wrong(portal):
    body = b'{"a":1}'
    assert sign(body, "k") == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    sid = portal.add_submission(portal.add_assignment("x", None), b"{}")
    good = PortalClient(portal.url, TOKEN, "t")
    good.post_json(f"/api/worker/submissions/{sid}/progress", {"attempt": 1, "state": "running"})
    with pytest.raises(PortalRefused) as refused:
        PortalClient(portal.url, "not-the-token", "t").get_json(f"/api/worker/submissions/{sid}")
    assert refused.value.status == 403


def test_backoff_retries_while_unavailable_then_gives_up():
    calls, sleeps = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 4:
            raise PortalUnavailable("down")
        return "ok"

    assert with_backoff(flaky, deadline_s=100, sleep=sleeps.append) == "ok"
    assert sleeps == [1.0, 2.0, 4.0]
    with pytest.raises(PortalUnavailable):
        with_backoff(lambda: (_ for _ in ()).throw(PortalUnavailable("x")), deadline_s=0)


def test_bundle_cache_verifies_the_digest_and_caches(tmp_path, portal):
    data = worker_standins.make_bundle()
    digest = portal.add_bundle(data)
    cache = BundleCache(tmp_path / "cache", PortalClient(portal.url, TOKEN, "t"), worker_standins.unpack)
    first = cache.assignment_dir(digest)
    assert (first / "assignment.toml").exists()
    gets = len([r for r in portal.requests if r[1].startswith("/api/worker/bundles/")])
    assert cache.assignment_dir(digest) == first
    assert len([r for r in portal.requests if r[1].startswith("/api/worker/bundles/")]) == gets

    forged = hashlib.sha256(b"something else").hexdigest()
    portal.bundles[forged] = data  # served under a digest it does not hash to
    with pytest.raises(BundleMismatch, match="hashes to"):
        cache.assignment_dir(forged)
    assert not (tmp_path / "cache" / f"{forged}.tar.gz").exists()


def _hold(run_dir, owned, count, queue):
    lease = GpuLease(run_dir, owned)
    queue.put(lease.try_acquire(count))
    queue.get()  # hold until told


def test_gpu_leases_are_exclusive_across_processes_and_freed_when_the_holder_dies(tmp_path):
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_hold, args=(tmp_path, (0, 1), 1, q))
    p.start()
    assert q.get(timeout=10) == (0,)
    lease = GpuLease(tmp_path, (0, 1))
    assert lease.try_acquire(1) == (1,)
    lease.release()
    assert lease.try_acquire(2) is None, "GPU 0 is held by the other process"
    p.kill()  # SIGKILL: the kernel drops its lock
    p.join()
    assert lease.try_acquire(2) == (0, 1)
    lease.release()


def test_sweeper_reads_task_args_from_kombu_messages():
    body = json.dumps([[7, 2], {}, {"callbacks": None}]).encode()
    msg = {"body": base64.b64encode(body).decode(), "headers": {"task": "dlgrade.grade_submission"},
           "properties": {"body_encoding": "base64"}}
    assert _task_args(json.dumps(msg)) == ("dlgrade.grade_submission", (7, 2))
    assert _task_args(json.dumps([msg, "cpu", "cpu"])) == ("dlgrade.grade_submission", (7, 2))
    assert _task_args(b"garbage") is None
