"""Hidden perf test: the ring against gloo's own dist.all_reduce, 4 ranks, 10^6 float32.
(The public test measures 2 ranks; bench/bench_allreduce.py covers 2, 4, 8 ranks and 10^7.)"""

import pytest

import helpers

pytestmark = pytest.mark.part("ring_perf")


def test_ring_speed_world4(impl, seed, check):
    helpers.ring_speed_test(impl, seed, check, 4, "ring_w4_n1e6")
