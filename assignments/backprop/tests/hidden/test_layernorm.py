import pytest
import torch
import torch.nn.functional as F

import helpers

pytestmark = pytest.mark.part("layernorm")

HINT_DX = "dL/dx = (g − mean(g) − x̂·mean(g·x̂)) / √(σ² + eps) with g = dL/dy · weight, means over the last dimension"
HINT_EPS = "eps goes inside the square root: 1/√(σ² + eps), with σ² the biased variance (divide by D)"
HINT_STABLE = "compute the variance from x − mean (two passes); E[x²] − E[x]² loses every digit when |mean| ≫ std"
HINT_SUMS = "grad_weight and grad_bias sum over every leading dimension"
HINT_BYTES = ("save one tensor the size of x (x or x̂) plus small per-row statistics and the weight; "
              "recompute the rest in backward")


def params(rng, dim, dtype=torch.float32):
    weight = 1 + 0.5 * torch.randn(dim, generator=rng, dtype=dtype)
    bias = torch.randn(dim, generator=rng, dtype=dtype)
    return weight, bias


def run(impl, rng, x, weight, bias, eps=1e-5, grad_output=None):
    leaves = [helpers.leaf(t) for t in (x, weight, bias)]
    out = impl.LayerNormFunction.apply(*leaves, eps)
    grad_output = helpers.backward(out, rng, grad_output)
    return out, leaves, grad_output


def autograd_layernorm(x, weight, bias, eps, grad_output):
    leaves = [t.detach().clone().requires_grad_() for t in (x, weight, bias)]
    out = F.layer_norm(leaves[0], (x.shape[-1],), leaves[1], leaves[2], eps)
    out.backward(grad_output)
    return out, [t.grad for t in leaves]


def check_all(check, out, leaves, hint_out=None, hint_dx=HINT_DX, out_tol=None, grad_x_tol=None):
    x, weight, bias = leaves
    check("output", out, hint=hint_out, **(out_tol or {}))
    check("grad_x", x.grad, hint=hint_dx, **(grad_x_tol or {}))
    check("grad_weight", weight.grad, hint=HINT_SUMS, **helpers.sum_tol(weight.grad))
    check("grad_bias", bias.grad, hint=HINT_SUMS, **helpers.sum_tol(bias.grad))


@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_vjp_float64(impl, rng, check, eps):
    x = torch.randn(3, 5, 8, generator=rng, dtype=torch.float64).requires_grad_()
    weight, bias = (t.requires_grad_() for t in params(rng, 8, torch.float64))
    helpers.record_vjps(check, lambda *t: impl.LayerNormFunction.apply(*t, eps), [x, weight, bias], rng,
                        hint=HINT_DX)


@pytest.mark.weight(3)
def test_3d_float32_matches_autograd(impl, rng, check):
    x = torch.randn(8, 64, 768, generator=rng)
    weight, bias = params(rng, 768)
    out, leaves, grad_output = run(impl, rng, x, weight, bias)
    expected, expected_grads = autograd_layernorm(x, weight, bias, 1e-5, grad_output)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(leaves[0].grad, expected_grads[0])
    for leaf, expected_grad in zip(leaves[1:], expected_grads[1:]):
        torch.testing.assert_close(leaf.grad, expected_grad, **helpers.sum_tol(expected_grad))
    check_all(check, out, leaves)


@pytest.mark.weight(2)
def test_noncontiguous_input_and_grad_output(impl, rng, check):
    x = helpers.transposed_randn(rng, (4, 40, 96))
    weight, bias = params(rng, 96)
    grad_output = helpers.strided_randn(rng, (4, 40, 96))
    out, leaves, _ = run(impl, rng, x, weight, bias, grad_output=grad_output)
    check_all(check, out, leaves)


@pytest.mark.weight(2)
def test_float64(impl, rng, check):
    x = torch.randn(6, 20, 64, generator=rng, dtype=torch.float64) * 3 + 1
    weight, bias = params(rng, 64, torch.float64)
    out, leaves, _ = run(impl, rng, x, weight, bias)
    check_all(check, out, leaves)


@pytest.mark.weight(2)
def test_explicit_eps(impl, rng, check):
    """eps = 0.1 on rows of variance ~0.05: eps matters, so it must be the argument, inside √."""
    x = torch.randn(16, 32, generator=rng) * 0.2
    weight, bias = params(rng, 32)
    out, leaves, _ = run(impl, rng, x, weight, bias, eps=0.1)
    check_all(check, out, leaves, hint_out="use the eps argument; " + HINT_EPS, hint_dx=HINT_EPS)


@pytest.mark.weight(2)
def test_tiny_variance_eps_dominates(impl, rng, check):
    """Rows with std 1e-3 (variance 1e-6 < eps = 1e-5): where eps sits changes the answer."""
    x = torch.randn(32, 64, generator=rng) * 1e-3
    weight, bias = params(rng, 64)
    out, leaves, _ = run(impl, rng, x, weight, bias)
    # grad_x is 1/√(σ² + eps) ≈ 300 times a difference of O(1) terms: compared relative to its
    # largest entry (helpers.sum_tol), as rounding of those terms is scaled by 300 too.
    check_all(check, out, leaves, hint_out=HINT_EPS, hint_dx=HINT_EPS, grad_x_tol=helpers.sum_tol(leaves[0].grad))


@pytest.mark.weight(3)
def test_large_mean_is_stable(impl, rng, check):
    """x + 100 (std 1): the mean is 100× the spread. The input itself is stored only to 7.6e-6,
    so every correct x̂ carries an error of ~1e-5 (see helpers.py): output, grad_x and
    grad_weight are compared by relative Frobenius error 1e-4; E[x²] − E[x]² is ~10× worse."""
    x = torch.randn(16, 512, generator=rng) + 100
    weight, bias = params(rng, 512)
    out, leaves, _ = run(impl, rng, x, weight, bias)
    check("output", out, rel_fro=1e-4, hint=HINT_STABLE)
    check("grad_x", leaves[0].grad, rel_fro=1e-4, hint=HINT_STABLE)
    check("grad_weight", leaves[1].grad, rel_fro=1e-4, hint=HINT_STABLE)
    check("grad_bias", leaves[2].grad, hint=HINT_SUMS, **helpers.sum_tol(leaves[2].grad))


@pytest.mark.weight(2)
def test_large_mean_small_spread_is_stable(impl, rng, check):
    """x·0.1 + 1000: E[x²] − E[x]² subtracts two numbers near 10⁶ to find 0.01."""
    x = torch.randn(16, 256, generator=rng) * 0.1 + 1000
    weight, bias = params(rng, 256)
    out, leaves, _ = run(impl, rng, x, weight, bias)
    check("output", out, rtol=2e-2, atol=2e-2, hint=HINT_STABLE)
    check("grad_x", leaves[0].grad, rel_fro=2e-2, hint=HINT_STABLE)


def test_constant_rows(impl, rng, check):
    """Rows with zero variance normalise to 0 (not NaN): y = bias, and the gradients are finite."""
    # Values with few significant bits (multiples of 1/2), so that the sum of a row is exact in
    # any order and the row's deviations from its mean are exactly 0.
    x = torch.randint(-8, 8, (8, 1), generator=rng).float().div(2).expand(8, 16).contiguous()
    weight, bias = params(rng, 16)
    out, leaves, _ = run(impl, rng, x, weight, bias)
    # grad_x = (g − mean(g)) / √eps: rounding scaled by 1/√eps ≈ 316, hence helpers.sum_tol.
    check_all(check, out, leaves, hint_out="with zero variance x̂ = 0 and y = bias; nothing may be NaN",
              grad_x_tol=helpers.sum_tol(leaves[0].grad))


def test_one_feature(impl, rng, check):
    x = torch.randn(5, 3, 1, generator=rng)
    weight, bias = params(rng, 1)
    out, leaves, _ = run(impl, rng, x, weight, bias)
    check_all(check, out, leaves)


def test_only_input_requires_grad(impl, rng, check):
    x = helpers.leaf(torch.randn(10, 48, generator=rng))
    weight, bias = params(rng, 48)
    out = impl.LayerNormFunction.apply(x, weight, bias, 1e-5)
    helpers.backward(out, rng)
    check("output", out)
    check("grad_x", x.grad, hint=HINT_DX)


@pytest.mark.weight(3)
@pytest.mark.parametrize("shape", [(16, 64, 256), (4096, 8)], ids=["16x64x256", "4096x8"])
def test_saved_bytes(impl, rng, check, shape):
    """Memory saved for backward, counted by torch.autograd.graph.saved_tensors_hooks: at most
    one tensor the size of x, and nothing hidden as a ctx attribute."""
    x = helpers.leaf(torch.randn(shape, generator=rng))
    weight, bias = (helpers.leaf(t) for t in params(rng, shape[-1]))
    out, saved = helpers.saved_bytes(lambda: impl.LayerNormFunction.apply(x, weight, bias, 1e-5))
    stashed = helpers.tensors_stashed_on_ctx(out)
    full_size = x.numel() * x.element_size()
    check.exact("tensors_stashed_on_ctx", stashed,
                hint="keep tensors with ctx.save_for_backward, not as ctx attributes (ctx.x = x)")
    check.near_reference("saved_bytes", saved, above=full_size - 1, hint=HINT_BYTES)
    helpers.backward(out, rng)
    check("grad_x", x.grad, hint=HINT_DX)
