"""A real worker process announces itself to the portal: queues, GPUs, slots, engine version,
a heartbeat every DLGRADE_HEARTBEAT_S, and a goodbye on a clean shutdown."""

from __future__ import annotations

import datetime as dt

import pytest

from autograder.worker.announce import engine_version
from worker_helpers import wait_for

pytestmark = pytest.mark.redis


def test_worker_beats_while_up_and_says_goodbye(workers, portal):
    w = workers.start("w1", concurrency=2, DLGRADE_WORKER_NAME="cpu-host-7", DLGRADE_QUEUES="cpu,gpu-test")
    wait_for(lambda: len(portal.heartbeats) >= 3, 20, f"three heartbeats\n{workers.dump_logs()}")
    first = portal.heartbeats[0]
    assert first["worker"] == "cpu-host-7" and first["state"] == "online"
    assert (first["queues"], first["gpus"], first["concurrency"]) == (["cpu", "gpu-test"], [], 2)
    assert first["engine_version"] == engine_version() and first["engine_version"].startswith("1+")
    assert dt.datetime.fromisoformat(first["started_at"]).tzinfo is not None
    assert {b["started_at"] for b in portal.heartbeats} == {first["started_at"]}, "one start time per process"
    w.stop()
    assert portal.heartbeats[-1]["state"] == "stopping"


def test_queue_names_reach_the_portal_without_the_deployment_prefix():
    from autograder.worker.announce import unprefixed

    assert unprefixed({"queue_prefix": "bench-"}, ["bench-gpu", "bench-cpu"]) == ["cpu", "gpu"]
    assert unprefixed({"queue_prefix": ""}, ["gpu-2"]) == ["gpu-2"]
