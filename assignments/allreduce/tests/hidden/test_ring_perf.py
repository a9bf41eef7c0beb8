"""Hidden perf test: the ring against gloo's own dist.all_reduce, 4 ranks, 10^6 float32.
(The public test measures 2 ranks; bench/bench_allreduce.py covers 2, 4, 8 ranks and 10^7.)"""

import pytest

import helpers

pytestmark = pytest.mark.part("ring_perf")


def test_ring_speed_world4(impl, seed, check):
    results = helpers.run_world(impl, 4, "ring_timing",
                                {"seed": seed, "n": 10**6, "warmup": 2, "rounds": 15}, timeout_s=90)
    check.bound("timed ring result: largest difference from dist.all_reduce, relative", results[0]["relative_error"],
                upper=1e-5)
    check.exact("collectives called inside your ring", results[0]["collectives"])
    ring_s, spread = helpers.summarize_times([max(t) for t in zip(*(r["student_times"] for r in results))])
    baseline_s, _ = helpers.summarize_times([max(t) for t in zip(*(r["baseline_times"] for r in results))])
    gigabytes = 10**6 * 4 / 1e9
    check.perf("ring_w4_n1e6", student_s=ring_s, baseline_s=baseline_s, spread=spread,
               details={"ring algbw GB/s": gigabytes / ring_s, "dist.all_reduce algbw GB/s": gigabytes / baseline_s,
                        "ring busbw GB/s": gigabytes / ring_s * 2 * 3 / 4})
