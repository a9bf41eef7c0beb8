"""Speed on the grading GPU, each case timed against its baseline in the same run.

Every case first checks a sample of the output (a fast wrong kernel scores nothing), then
times the student's function and the baseline alternately (see
`autograder.harness.perf.time_interleaved`).
On a machine without a CUDA GPU these tests skip: "not measured here".
"""

import pytest

import helpers


@pytest.mark.part("softmax_perf")
@pytest.mark.timeout(180)
@pytest.mark.parametrize("n_cols", [8192, 32768])
def test_softmax_speed(impl, check, seed, n_cols):
    helpers.softmax_speed(impl, check, seed, n_cols=n_cols)


@pytest.mark.part("layer_norm_perf")
@pytest.mark.timeout(180)
@pytest.mark.parametrize("n_cols", [1024, 8192])
def test_layer_norm_speed(impl, check, seed, n_cols):
    helpers.layer_norm_speed(impl, check, seed, n_cols=n_cols)


@pytest.mark.part("matmul_perf")
@pytest.mark.timeout(300)
def test_matmul_speed_8192(impl, check, seed):
    helpers.matmul_speed(impl, check, seed, size=8192)


@pytest.mark.part("flash_attention_perf")
@pytest.mark.timeout(300)
def test_flash_attention_speed_causal(impl, check, seed):
    helpers.flash_attention_speed(impl, check, seed, causal=True)
