"""Decode speed on the grading GPU: generate with the cache against full recompute, at a
4096-token prompt, timed alternately in the same run (see helpers.decode_speed). Without a
CUDA GPU this skips: "not measured here"."""

import pytest

import helpers


@pytest.mark.part("decode_perf")
@pytest.mark.timeout(300)
def test_decode_speed_4k(impl, check, seed):
    helpers.decode_speed(impl, check, seed)
