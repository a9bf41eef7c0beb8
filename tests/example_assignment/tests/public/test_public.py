import pytest
import torch


@pytest.mark.part("add")
def test_add_small(impl, rng, check):
    a, b = torch.randn(3, generator=rng), torch.randn(3, generator=rng)
    out = impl.add(a, b)
    torch.testing.assert_close(out, a + b)
    check("sum", out)


@pytest.mark.part("softmax")
def test_softmax_rows_sum_to_one(impl, rng, check):
    x = torch.randn(4, 5, generator=rng)
    out = impl.softmax(x)
    torch.testing.assert_close(out.sum(-1), torch.ones(4))
    check("probabilities", out)
