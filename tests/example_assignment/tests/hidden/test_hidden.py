import pytest
import torch

import helpers
from autograder.harness.perf import time_interleaved


@pytest.mark.part("add")
@pytest.mark.parametrize("shape", [(7,), (2, 3, 4)])
def test_add_shapes(impl, rng, check, shape):
    a, b = torch.randn(shape, generator=rng), torch.randn(shape, generator=rng)
    check("sum", impl.add(a, b))


@pytest.mark.part("softmax")
@pytest.mark.weight(2)
def test_softmax_large_logits(impl, rng, check):
    x = torch.randn(8, 33, generator=rng) * 1000
    check("probabilities", impl.softmax(x), hint="subtract the row maximum before exp")


@pytest.mark.part("softmax")
def test_softmax_dim0(impl, rng, check):
    x = torch.randn(6, 5, generator=rng, dtype=torch.float64)
    check("probabilities", impl.softmax(x, dim=0))


@pytest.mark.part("softmax")
def test_softmax_noncontiguous(impl, rng, check):
    x = torch.randn(10, 12, generator=rng).t()
    out = impl.softmax(x)
    check("probabilities", out)
    check.exact("shape", list(out.shape))


@pytest.mark.part("rowsum_perf")
def test_rowsum_speed(impl, rng, check):
    x = helpers.random_rows(rng, 512, 4096)
    check("rowsum", impl.rowsum(x), rtol=1e-4, atol=1e-3)
    medians, spread = time_interleaved({"student": lambda: impl.rowsum(x), "baseline": lambda: x.sum(-1)},
                                       rounds=21, max_spread=0.3)
    check.perf("rowsum_4096", student_s=medians["student"], baseline_s=medians["baseline"], spread=spread,
               details={"GB/s": x.numel() * 4 / medians["student"] / 1e9})
