import pytest
import torch

import helpers

pytestmark = pytest.mark.part("softmax")

# (rows, cols): a single element, N below and above a power of two, more rows than columns.
SHAPES = [(1, 1), (1, 7), (5, 128), (64, 33), (3, 1000), (200, 17), (7, 4097)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_softmax_shapes(impl, rng, check, device, shape):
    x = helpers.randn(rng, *shape, device=device, scale=3.0)
    out = impl.softmax(x)
    check.exact("shape", list(out.shape))
    check("probabilities", out, hint="rows whose length is not a power of two need masked loads (other=-inf)")


@pytest.mark.parametrize("dtype", helpers.HALF_DTYPES, ids=helpers.dtype_id)
def test_softmax_half_precision(impl, rng, check, device, dtype):
    x = helpers.randn(rng, 16, 300, dtype=dtype, device=device, scale=4.0)
    out = impl.softmax(x)
    check.exact("dtype", str(out.dtype), hint="return the input's dtype; compute in float32 inside the kernel")
    check("probabilities", out, hint="load in low precision, compute max, exp and sum in float32, store in the input dtype")


@pytest.mark.weight(2)
def test_softmax_large_logits(impl, rng, check, device):
    x = helpers.randn(rng, 8, 200, device=device, scale=1e4)
    check("probabilities", impl.softmax(x), hint="exp overflows for large logits: subtract the row maximum first")


@pytest.mark.weight(2)
def test_softmax_negative_infinity_entries(impl, rng, check, device):
    x = helpers.randn(rng, 12, 90, device=device)
    mask = torch.rand(12, 90, generator=rng) < 0.5
    mask[:, 0] = False  # every row keeps at least one finite logit
    x = x.masked_fill(mask.to(device), float("-inf"))  # masked logits, as in attention
    check("probabilities", impl.softmax(x), hint="-inf logits must get probability exactly 0 without producing NaN")


@pytest.mark.weight(2)
def test_softmax_strided_rows(impl, rng, check, device):
    wide = helpers.randn(rng, 40, 160, device=device)
    x = wide[:, 10:110]  # a view: rows of 100 elements, 160 apart in memory
    check("probabilities", impl.softmax(x), hint="use x.stride(0) for the distance between rows, not the row length")


@pytest.mark.weight(2)
def test_softmax_transposed_input(impl, rng, check, device):
    x = helpers.randn(rng, 70, 24, device=device).t()  # (24, 70) with column stride 24
    check("probabilities", impl.softmax(x), hint="a transposed view has x.stride(1) != 1: use both strides (or .contiguous())")


@pytest.mark.weight(2)
def test_softmax_long_rows(impl, rng, check, device):
    x = helpers.randn(rng, 3, 40_000, device=device, scale=5.0)
    out = impl.softmax(x)
    check("probabilities", out, hint="rows longer than one block: loop over the row (online softmax) or use a larger block")


@pytest.mark.weight(2)
def test_softmax_long_rows_with_negative_infinity(impl, rng, check, device):
    # Rows longer than one block go through the online softmax: a running maximum that is still
    # -inf must not turn the running sum into NaN (exp(-inf - -inf)).
    x = helpers.randn(rng, 2, 40_000, device=device)
    mask = torch.rand(2, 40_000, generator=rng) < 0.5
    mask[:, -1] = False  # every row keeps finite logits
    x = x.masked_fill(mask.to(device), float("-inf"))
    check("probabilities", impl.softmax(x), hint="-inf logits get probability 0 in long rows too: while the "
                                                 "running maximum is -inf, do not rescale by exp(-inf - -inf)")


def test_softmax_does_not_modify_input(impl, rng, check, device):
    x = helpers.randn(rng, 9, 50, device=device)
    before = x.clone()
    out = impl.softmax(x)
    check("probabilities", out)
    check.exact("change_to_x", x - before, hint="write the result to a new tensor, not into x")


def test_softmax_launches_a_triton_kernel(impl, rng, check, device):
    x = helpers.randn(rng, 4, 64, device=device)
    with helpers.count_triton_launches() as counter:
        impl.softmax(x)
    check.bound("triton_kernel_launches", counter["launches"], lower=1,
                hint="softmax must launch a Triton kernel (kernel[grid](...)); torch operations do not count")
