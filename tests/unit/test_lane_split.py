"""Lanes without a sandbox: how tests are split (balanced, parts kept whole where that
balances), the progress count over concurrent lanes, and the lane count a worker grants."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder import lanes
from autograder.records_io import RunRecords
from autograder.trusted_run import TrustedRun
from autograder.worker import lanes as worker_lanes


def _trusted(tests: dict[str, tuple[str, float]]) -> TrustedRun:
    """nodeid -> (part, seconds the reference took)."""
    records = {nodeid: {"nodeid": nodeid, "part": part, "duration_s": seconds, "timeout_s": 60, "checks": []}
               for nodeid, (part, seconds) in tests.items()}
    return TrustedRun(RunRecords(records, list(records), [], None, Path(".")), "run", 60.0)


def _load(lane: list[str], trusted: TrustedRun) -> float:
    return sum(trusted.duration_of(nodeid) for nodeid in lane)


def test_whole_parts_go_to_the_least_loaded_lane_in_test_order():
    tests = {f"t{i}": (part, seconds) for i, (part, seconds) in enumerate(
        [("a", 4), ("a", 4), ("b", 3), ("b", 3), ("c", 5), ("d", 1), ("d", 1)])}
    trusted = _trusted(tests)
    split = lanes.split(list(tests), 2, trusted)
    assert sorted(map(sorted, split)) == [["t0", "t1", "t5", "t6"], ["t2", "t3", "t4"]]
    assert all(lane == sorted(lane, key=list(tests).index) for lane in split), "each lane keeps the test order"
    assert sorted(nodeid for lane in split for nodeid in lane) == sorted(tests), "every test once"


def test_a_part_longer_than_a_lanes_share_is_cut_into_consecutive_runs():
    tests = {f"m{i}": ("matmul", 2.0) for i in range(8)} | {"s0": ("softmax", 1.0), "s1": ("softmax", 1.0)}
    trusted = _trusted(tests)
    split = lanes.split(list(tests), 4, trusted)
    assert len(split) == 4
    loads = sorted(_load(lane, trusted) for lane in split)
    assert loads[-1] <= 6.0, f"the 18 s spread over four lanes, none far over its 4.5 s share: {loads}"
    assert any({"s0", "s1"} <= set(lane) for lane in split), "the short part stays whole"


def test_one_lane_or_one_test_is_the_tests_as_given():
    trusted = _trusted({"x": ("a", 1), "y": ("b", 1)})
    assert lanes.split(["y", "x"], 1, trusted) == [["y", "x"]]
    assert lanes.split(["x"], 8, trusted) == [["x"]]
    assert lanes.split([], 8, trusted) == []
    assert len(lanes.split(["x", "y"], 8, trusted)) == 2, "no empty lanes"


def test_progress_sums_the_lanes_and_never_goes_back():
    seen = []
    progress = lanes.LaneProgress(seen.append, total=10)
    first, second, perf = progress.for_lane(0), progress.for_lane(1), progress.for_lane("perf")
    first({"test": "a", "part": "add", "done": 3, "total": 4})
    second({"test": "b", "part": "softmax", "done": 2, "total": 5})
    first({"test": None, "part": None, "done": 1, "total": 4})  # a restarted lane counting less (junk lines dropped)
    perf({"test": "p", "part": "perf", "done": 1, "total": 1})
    assert [report["done"] for report in seen] == [3, 5, 5, 6]
    assert {report["total"] for report in seen} == {10}
    assert seen[1]["part"] == "softmax"
    assert lanes.LaneProgress(None, 3).for_lane(0) is None


def test_perf_tests_are_those_of_perf_parts_or_recording_a_perf_check():
    from autograder.package import load_assignment

    example = load_assignment(Path(__file__).resolve().parents[1] / "example_assignment")
    trusted = _trusted({"add": ("add", 1), "speed": ("rowsum_perf", 1), "sneaky": ("softmax", 1)})
    trusted.records.tests["sneaky"]["checks"] = [{"name": "rowsum_4096", "kind": "perf"}]
    assert lanes.perf_tests(["add", "speed", "sneaky"], trusted, example) == {"speed", "sneaky"}


@pytest.fixture
def host(monkeypatch):
    def make(cores: int, memory_gb: int, configured: str = "") -> None:
        monkeypatch.setattr(worker_lanes, "host_cores", lambda: cores)
        monkeypatch.setattr(worker_lanes, "host_memory_mb", lambda: memory_gb * 1024)
        monkeypatch.setenv("DLGRADE_RUN_LANES", configured)
    return make


def test_a_gpu_worker_grants_its_cores_per_gpu_capped_by_eight_and_by_memory(host):
    one_gpu = {"gpus": (0,), "concurrency": 1}
    eight_gpus = {"gpus": tuple(range(8)), "concurrency": 8}
    host(16, 128)
    assert worker_lanes.lanes_for_job(one_gpu, 1, 4096) == 8, "16 cores for one GPU: the cap of 8"
    assert worker_lanes.lanes_for_job(one_gpu, 1, 16384) == 8, "8 x 16 GiB fits 128 GiB"
    assert worker_lanes.lanes_for_job(one_gpu, 1, 20480) == 6, "memory: 6 x 20 GiB within 128 GiB"
    host(128, 560)
    assert worker_lanes.lanes_for_job(eight_gpus, 1, 4096) == 8, "16 cores per GPU"
    assert worker_lanes.lanes_for_job(eight_gpus, 1, 16384) == 4, "70 GiB per GPU: 4 runs of 16 GiB"
    assert worker_lanes.lanes_for_job(eight_gpus, 2, 16384) == 8, "two GPUs leased: twice the share"
    host(16, 8)
    assert worker_lanes.lanes_for_job(one_gpu, 1, 16384) == 1, "never fewer than one run"
    host(16, 31)  # a VM whose MemTotal grows as memory is used: the worker's runs_memory_mb says what it may use
    assert worker_lanes.lanes_for_job(one_gpu, 1, 16384) == 1
    assert worker_lanes.lanes_for_job({**one_gpu, "runs_memory_mb": 128 * 1024}, 1, 16384) == 8


def test_a_cpu_worker_runs_one_lane_unless_configured_and_the_setting_still_meets_memory(host):
    cpu = {"gpus": (), "concurrency": 2}
    host(2, 16)
    assert worker_lanes.lanes_for_job(cpu, 0, 4096) == 1
    host(2, 16, configured="4")
    assert worker_lanes.lanes_for_job(cpu, 0, 2048) == 4
    assert worker_lanes.lanes_for_job(cpu, 0, 4096) == 2, "8 GiB per slot: two runs of 4 GiB"
    host(16, 128, configured="3")
    assert worker_lanes.lanes_for_job({"gpus": (0,), "concurrency": 1}, 1, 4096) == 3, "the setting overrides cores"
