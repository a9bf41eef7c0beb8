"""Several GPUs on one host, simulated: a fake `nvidia-smi` lists N GPUs, a real worker with
`DLGRADE_GPUS=auto` and no `-c` owns them all (one pool process per GPU), and stand-in jobs
record the CUDA_VISIBLE_DEVICES they ran with. Plus the lease rules in-process: discovery,
and a multi-GPU job gathering its GPUs ahead of single-GPU jobs."""

from __future__ import annotations

import collections
import os
import stat
import threading
import time

import pytest

from autograder.worker.gpus import GpuLease, NoGpusFound, discover_gpus
from autograder.worker.settings import SettingsError, load_settings
from worker_helpers import add_standin_submission, wait_for

FAKE_NVIDIA_SMI = """#!/bin/sh
# nvidia-smi -L as a host with $FAKE_GPUS GPUs answers it
if [ "$1" = "-L" ]; then
  i=0
  while [ "$i" -lt "${FAKE_GPUS:-0}" ]; do
    echo "GPU $i: NVIDIA H200 (UUID: GPU-0000000$i-fake)"
    i=$((i + 1))
  done
  exit 0
fi
echo "NVIDIA H200"
"""


@pytest.fixture
def fake_gpus(tmp_path, monkeypatch):
    """`fake_gpus(n)` puts an nvidia-smi listing n GPUs first on PATH; returns the env to pass."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    exe = bin_dir / "nvidia-smi"
    exe.write_text(FAKE_NVIDIA_SMI)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"

    def make(count: int) -> dict:
        monkeypatch.setenv("PATH", path)
        monkeypatch.setenv("FAKE_GPUS", str(count))
        return {"PATH": path, "FAKE_GPUS": str(count), "DLGRADE_GPUS": "auto"}

    return make


def test_auto_discovers_every_gpu_and_derives_slots_and_queues(fake_gpus, monkeypatch):
    fake_gpus(8)
    assert discover_gpus() == tuple(range(8))
    s = load_settings({"DLGRADE_GPUS": "auto", "DLGRADE_MAX_RUN_TIMEOUT_S": "600"})
    assert s["gpus"] == tuple(range(8)) and s["concurrency"] == 8
    assert s["queues"] == ("gpu",) + tuple(f"gpu-{n}" for n in range(2, 9))
    assert s["gather_wait_s"] == 600 and s["soft_time_limit_s"] == 2 * 600 + 300 + 600
    fake_gpus(0)
    with pytest.raises(SettingsError, match="lists no GPU"):
        load_settings({"DLGRADE_GPUS": "auto"})
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(NoGpusFound, match="needs nvidia-smi"):
        discover_gpus()


def test_a_gathering_multi_gpu_job_gets_freed_gpus_before_single_gpu_jobs(tmp_path):
    owned = (0, 1, 2, 3)
    busy = [GpuLease(tmp_path, owned) for _ in range(3)]
    assert [lease.try_acquire(1) for lease in busy] == [(0,), (1,), (2,)]
    gatherer, got = GpuLease(tmp_path, owned), []
    thread = threading.Thread(target=lambda: got.append(gatherer.acquire(2, wait_s=20, poll_s=0.3)))
    thread.start()
    wait_for(lambda: 3 in gatherer.held, 10, "the gatherer to hold the free GPU 3")
    single = GpuLease(tmp_path, owned)
    busy[0].release()  # GPU 0 frees: it is the gatherer's, not the single-GPU job's
    assert single.acquire(1, wait_s=0.5, poll_s=0.1) is None
    thread.join(10)
    assert got == [(0, 3)]
    assert single.try_acquire(1) is None, "GPUs 1 and 2 are still busy, 0 and 3 gathered"
    gatherer.release()
    assert single.acquire(1, wait_s=2, poll_s=0.1) == (0,), "no gather pending: single jobs run again"
    single.release()
    for lease in busy:
        lease.release()


def test_a_gather_that_times_out_gives_back_what_it_held(tmp_path):
    holder = GpuLease(tmp_path, (0, 1))
    assert holder.try_acquire(1) == (0,)
    gatherer = GpuLease(tmp_path, (0, 1))
    started = time.monotonic()
    assert gatherer.acquire(2, wait_s=0.6, poll_s=0.1) is None
    assert time.monotonic() - started >= 0.6 and gatherer.held == {}
    assert GpuLease(tmp_path, (0, 1)).acquire(1, wait_s=0.5, poll_s=0.1) == (1,), "GPU 1 was given back"
    holder.release()


def _spans(workers) -> dict[int, dict]:
    spans: dict[int, dict] = collections.defaultdict(lambda: {"starts": 0})
    for what, sid, _pid, when, gpus in workers.grading_log():
        span = spans[sid]
        span[what] = when
        span["starts"] += what == "start"
        span["gpus"] = tuple(int(g) for g in gpus.split(","))
    return spans


def _most_at_once(spans: dict[int, dict]) -> tuple[int, int]:
    """(most jobs running at once, most GPUs in use at once)."""
    events = sorted([(s["start"], 1, len(s["gpus"])) for s in spans.values()]
                    + [(s["done"], -1, -len(s["gpus"])) for s in spans.values()])
    jobs = gpus = most_jobs = most_gpus = 0
    for _when, job, gpu in events:
        jobs, gpus = jobs + job, gpus + gpu
        most_jobs, most_gpus = max(most_jobs, jobs), max(most_gpus, gpus)
    return most_jobs, most_gpus


@pytest.mark.redis
def test_four_gpus_four_jobs_at_once_a_fifth_waits_two_gpu_jobs_get_two_a_killed_jobs_gpu_frees(
        workers, portal, producer, fake_gpus):
    from worker_standins import make_bundle

    digest = portal.add_bundle(make_bundle())
    one, two = portal.add_assignment("one-gpu", digest, gpus=1), portal.add_assignment("two-gpu", digest, gpus=2)
    workers.start("g4", concurrency=None, DLGRADE_GPU_WAIT_S=60, **fake_gpus(4))
    wait_for(lambda: portal.heartbeats, 20, "the worker's heartbeat")
    beat = portal.heartbeats[0]
    assert (beat["gpus"], beat["concurrency"]) == ([0, 1, 2, 3], 4)
    assert beat["queues"] == ["gpu", "gpu-2", "gpu-3", "gpu-4"]

    singles = [add_standin_submission(portal, one, sleep=2.0) for _ in range(5)]
    for sid in singles:
        producer.grade(sid, queue="gpu")
    wait_for(portal.all_done, 60, f"five single-GPU jobs\n{workers.dump_logs()}")
    spans = _spans(workers)
    assert sorted(len(spans[sid]["gpus"]) for sid in singles) == [1] * 5
    first_four = sorted(singles, key=lambda sid: spans[sid]["start"])[:4]
    assert {spans[sid]["gpus"] for sid in first_four} == {(0,), (1,), (2,), (3,)}
    assert max(spans[sid]["start"] for sid in first_four) < min(spans[sid]["done"] for sid in first_four), \
        "the first four ran at the same time"
    fifth = max(singles, key=lambda sid: spans[sid]["start"])
    assert spans[fifth]["start"] >= min(spans[sid]["done"] for sid in first_four), "the fifth waited"

    pair = add_standin_submission(portal, two, sleep=1.0)
    more = [add_standin_submission(portal, one, sleep=1.0) for _ in range(3)]
    producer.grade(pair, queue="gpu-2")
    for sid in more:
        producer.grade(sid, queue="gpu")
    wait_for(portal.all_done, 60, f"the two-GPU job and three more\n{workers.dump_logs()}")
    spans = _spans(workers)
    assert len(set(spans[pair]["gpus"])) == 2, spans[pair]
    assert _most_at_once(spans)[1] <= 4, "never more GPUs in use than the host has"
    for a in spans.values():  # no two overlapping jobs share a GPU
        for b in spans.values():
            if a is not b and set(a["gpus"]) & set(b["gpus"]):
                assert a["done"] <= b["start"] or b["done"] <= a["start"], (a, b)

    # a job whose process is SIGKILLed mid-grade: retried, and its GPU is free again after
    killed = add_standin_submission(portal, one, kill="once")
    producer.grade(killed, queue="gpu")
    wait_for(portal.all_done, 60, f"the killed job's retry\n{workers.dump_logs()}")
    assert workers.events(killed) == ["start", "start", "done"]
    last = [add_standin_submission(portal, one, sleep=1.5) for _ in range(4)]
    for sid in last:
        producer.grade(sid, queue="gpu")
    wait_for(portal.all_done, 60, f"four after the kill\n{workers.dump_logs()}")
    spans = _spans(workers)
    assert {spans[sid]["gpus"] for sid in last} == {(0,), (1,), (2,), (3,)}, "all four GPUs, the killed one's too"
    assert max(spans[sid]["start"] for sid in last) < min(spans[sid]["done"] for sid in last)


@pytest.mark.redis
def test_a_gate_on_a_gpu_queue_holds_its_gpus_and_grades_perf_only_after_an_early_gate(
        workers, portal, redis_server, fake_gpus):
    from celery import Celery
    from test_worker_scale import _package

    whole = portal.add_assignment("whole", None, gpus=1, package=_package("whole"))
    perf = portal.add_assignment("perf", None, gpus=2, package=_package("perf"))
    portal.assignments[perf].early_gate_passed = True  # its correctness gate passed on a CPU worker
    workers.start("g2", concurrency=None, **fake_gpus(2))
    client = Celery("portal", broker=redis_server.url)
    client.send_task("dlgrade.run_gate", args=[whole, 1], queue="gpu")
    client.send_task("dlgrade.run_gate", args=[perf, 1], queue="gpu-2")
    wait_for(lambda: all(1 in portal.assignments[a].gate_reports for a in (whole, perf)), 60,
             f"gate reports\n{workers.dump_logs()}")
    ran = portal.assignments[whole].gate_reports[1]["report"]["ran_with"]
    assert ran["cuda_visible_devices"] in ("0", "1") and ran["jobs"] == 1 and ran["perf_only"] is False
    # The gradings of the gate run on the leased GPUs (the sandbox sets CUDA_VISIBLE_DEVICES from them).
    assert [str(gpu) for gpu in ran["gpus"]] == [ran["cuda_visible_devices"]]
    ran = portal.assignments[perf].gate_reports[1]["report"]["ran_with"]
    assert sorted(ran["cuda_visible_devices"].split(",")) == ["0", "1"] and ran["perf_only"] is True
    assert sorted(ran["gpus"]) == [0, 1]
    client.close()
