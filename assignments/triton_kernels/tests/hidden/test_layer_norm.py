import pytest
import torch

import helpers

pytestmark = pytest.mark.part("layer_norm")

# fp32 gradients are sums over rows (dweight, dbias) or combine row means (dx); a correct
# kernel may sum in another order than the reference, so they get 1e-5 rather than
# assert_close's rtol 1.3e-6.
GRAD_TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float16: dict(rtol=2e-3, atol=1e-4),
            torch.bfloat16: dict(rtol=1.6e-2, atol=1e-3)}


def run_layer_norm(impl, rng, device, shape, dtype=torch.float32, eps=1e-5, scale=1.0, offset=0.0, x=None):
    """Forward and backward through the implementation; returns y and the three gradients."""
    n_cols = shape[-1]
    if x is None:
        x = helpers.randn(rng, *shape, dtype=dtype, device=device, scale=scale, offset=offset)
    x = x.detach().requires_grad_()
    weight = helpers.randn(rng, n_cols, dtype=dtype, device=device, offset=1.0).requires_grad_()
    bias = helpers.randn(rng, n_cols, dtype=dtype, device=device).requires_grad_()
    dy = helpers.randn(rng, *x.shape, dtype=dtype, device=device)
    y = impl.layer_norm(x, weight, bias, eps=eps)
    y.backward(dy)
    return y.detach(), x.grad, weight.grad, bias.grad


def check_all(check, results, dtype=torch.float32, forward_tol=None, hint=None):
    y, grad_x, grad_weight, grad_bias = results
    check("y", y, **(forward_tol or {}), hint=hint)
    for name, grad in [("grad_x", grad_x), ("grad_weight", grad_weight), ("grad_bias", grad_bias)]:
        missing = "no gradient: return it from LayerNormFunction.backward"
        check(name, grad, **GRAD_TOL[dtype], hint=missing if grad is None else hint)


@pytest.mark.parametrize("shape", [(1, 16), (7, 100), (2, 5, 64), (33, 1000), (3, 1)], ids=lambda s: "x".join(map(str, s)))
def test_layer_norm_shapes(impl, rng, check, device, shape):
    results = run_layer_norm(impl, rng, device, shape)
    check_all(check, results, hint="N that is not a power of two: masked lanes must not enter the mean or the variance")


@pytest.mark.weight(2)
def test_layer_norm_many_rows_backward(impl, rng, check, device):
    # More rows than backward programs: dweight and dbias must sum over every row.
    results = run_layer_norm(impl, rng, device, (100, 48))
    check_all(check, results, hint="dweight and dbias sum dy * xhat and dy over all rows")


@pytest.mark.parametrize("dtype", helpers.HALF_DTYPES, ids=helpers.dtype_id)
def test_layer_norm_half_precision(impl, rng, check, device, dtype):
    results = run_layer_norm(impl, rng, device, (16, 200), dtype=dtype)
    check.exact("dtypes", [str(t.dtype) for t in results], hint="y and every gradient keep the input's dtype")
    check_all(check, results, dtype=dtype, hint="compute in float32 inside the kernels, store in the input dtype")


@pytest.mark.weight(2)
def test_layer_norm_large_mean(impl, rng, check, device):
    # |mean| >> std: E[x^2] - mean^2 cancels catastrophically in float32. Rounding of a mean
    # near 1000 leaves about 1e-4 in correct kernels too, hence the tolerance.
    results = run_layer_norm(impl, rng, device, (16, 256), offset=1000.0)
    y = results[0]
    check("y", y, rtol=1e-3, atol=1e-3, hint="compute the variance as mean((x - mean)^2), not mean(x^2) - mean^2")


@pytest.mark.weight(2)
def test_layer_norm_eps(impl, rng, check, device):
    # Variance 1e-4, eps 1e-2: eps dominates and must sit inside the square root.
    results = run_layer_norm(impl, rng, device, (8, 64), eps=1e-2, scale=1e-2)
    check_all(check, results, hint="rstd = 1 / sqrt(var + eps), with the eps argument passed in")


@pytest.mark.weight(2)
def test_layer_norm_transposed_input(impl, rng, check, device):
    x = helpers.randn(rng, 40, 12, device=device).t()  # (12, 40) with column stride 12
    results = run_layer_norm(impl, rng, device, tuple(x.shape), x=x)
    check_all(check, results, hint="a transposed view has x.stride(-1) != 1: use its strides or make it contiguous")


@pytest.mark.weight(2)
def test_layer_norm_broadcast_gradient(impl, rng, check, device):
    # y.sum().backward() hands backward an expanded tensor of ones with stride 0 (an operation
    # between layer_norm and sum, such as `* 1.0`, would hand it a contiguous one instead).
    x = helpers.randn(rng, 6, 30, device=device).requires_grad_()
    weight = helpers.randn(rng, 30, device=device).requires_grad_()
    bias = helpers.randn(rng, 30, device=device).requires_grad_()
    impl.layer_norm(x, weight, bias).sum().backward()
    for name, grad in [("grad_x", x.grad), ("grad_weight", weight.grad), ("grad_bias", bias.grad)]:
        check(name, grad, **GRAD_TOL[torch.float32],
              hint="dy may be a non-contiguous (even stride-0) view: use its strides or make it contiguous")


def test_layer_norm_launches_triton_kernels(impl, rng, check, device):
    x = helpers.randn(rng, 4, 32, device=device).requires_grad_()
    weight = helpers.randn(rng, 32, device=device).requires_grad_()
    bias = helpers.randn(rng, 32, device=device).requires_grad_()
    with helpers.count_triton_launches() as forward:
        y = impl.layer_norm(x, weight, bias)
    with helpers.count_triton_launches() as backward:
        y.backward(torch.ones_like(y))
    check.bound("forward_triton_kernel_launches", forward["launches"], lower=1,
                hint="the forward pass must launch a Triton kernel")
    check.bound("backward_triton_kernel_launches", backward["launches"], lower=1,
                hint="the backward pass must launch a Triton kernel (autograd.Function.backward)")
