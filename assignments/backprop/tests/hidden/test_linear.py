import pytest
import torch
import torch.nn.functional as F

import helpers

pytestmark = pytest.mark.part("linear")

HINT_GRAD_W = "grad_weight = Σ over every leading dimension of grad_outᵀ · x: fold (..., n) into (rows, n) first"
HINT_GRAD_B = "grad_bias sums grad_out over every dimension but the last"


def run_linear(impl, rng, x, weight, bias=None, grad_output=None):
    """Forward + backward of the student's Linear; the same through F.linear for comparison."""
    leaves = [helpers.leaf(t) for t in (x, weight, bias) if t is not None]
    out = impl.LinearFunction.apply(*leaves)
    grad_output = helpers.backward(out, rng, grad_output)
    return out, leaves, grad_output


def autograd_linear(x, weight, bias, grad_output):
    leaves = [t.detach().clone().requires_grad_() for t in (x, weight, bias) if t is not None]
    out = F.linear(*leaves)
    out.backward(grad_output)
    return out, [t.grad for t in leaves]


def check_linear(check, out, leaves, tol=None):
    names = ["grad_x", "grad_weight", "grad_bias"]
    hints = [None, HINT_GRAD_W, HINT_GRAD_B]
    check("output", out, **(tol(out) if tol else {}))
    for name, hint, leaf in zip(names, hints, leaves):
        assert leaf.grad is not None, f"{name} is None: your backward returned no gradient for it"
        check(name, leaf.grad, hint=hint, **(tol(leaf.grad) if tol else {}))


@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4), (2, 1, 3, 4), (4,)], ids=["2d", "3d", "4d", "1d"])
def test_vjp_float64(impl, rng, check, shape, with_bias):
    x = torch.randn(shape, generator=rng, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(5, shape[-1], generator=rng, dtype=torch.float64, requires_grad=True)
    inputs = [x, weight] + ([torch.randn(5, generator=rng, dtype=torch.float64, requires_grad=True)] if with_bias else [])
    helpers.record_vjps(check, impl.LinearFunction.apply, inputs, rng,
                        hint="grad_x = g W, grad_W = gᵀ x summed over leading dimensions, grad_b = g summed")


@pytest.mark.weight(3)
def test_3d_input_float32_matches_autograd(impl, rng, check):
    """A transformer-sized projection: (batch, tokens, features)."""
    x = torch.randn(8, 64, 256, generator=rng)
    weight = torch.randn(512, 256, generator=rng) / 16
    bias = torch.randn(512, generator=rng)
    out, leaves, grad_output = run_linear(impl, rng, x, weight, bias)
    expected, expected_grads = autograd_linear(x, weight, bias, grad_output)
    tolerance = helpers.sum_tol(expected)
    torch.testing.assert_close(out, expected, **tolerance)
    for leaf, expected_grad in zip(leaves, expected_grads):
        torch.testing.assert_close(leaf.grad, expected_grad, **helpers.sum_tol(expected_grad))
    check_linear(check, out, leaves, tol=helpers.sum_tol)


@pytest.mark.weight(2)
def test_4d_input(impl, rng, check):
    x = torch.randn(2, 3, 5, 24, generator=rng)
    weight = torch.randn(40, 24, generator=rng) / 5
    bias = torch.randn(40, generator=rng)
    out, leaves, _ = run_linear(impl, rng, x, weight, bias)
    check_linear(check, out, leaves, tol=helpers.sum_tol)


@pytest.mark.weight(2)
def test_square_weight(impl, rng, check):
    """in == out: a transposed grad_weight has the right shape but the wrong values."""
    x = torch.randn(3, 10, 32, generator=rng)
    weight = torch.randn(32, 32, generator=rng) / 6
    bias = torch.randn(32, generator=rng)
    out, leaves, _ = run_linear(impl, rng, x, weight, bias)
    check_linear(check, out, leaves, tol=helpers.sum_tol)


def test_1d_input(impl, rng, check):
    x = torch.randn(24, generator=rng)
    weight = torch.randn(10, 24, generator=rng)
    bias = torch.randn(10, generator=rng)
    out, leaves, _ = run_linear(impl, rng, x, weight, bias)
    check_linear(check, out, leaves, tol=helpers.sum_tol)


@pytest.mark.weight(2)
def test_noncontiguous_input(impl, rng, check):
    """x transposed in memory (rows strided): a .view() on it fails, .reshape() copies."""
    x = helpers.transposed_randn(rng, (4, 48, 96))
    weight = torch.randn(64, 96, generator=rng) / 10
    bias = torch.randn(64, generator=rng)
    out, leaves, _ = run_linear(impl, rng, x, weight, bias)
    check_linear(check, out, leaves, tol=helpers.sum_tol)


@pytest.mark.weight(2)
def test_noncontiguous_weight_and_grad_output(impl, rng, check):
    x = torch.randn(4, 16, 32, generator=rng)
    weight = torch.randn(32, 48, generator=rng).t()  # (48, 32), column-major
    bias = torch.randn(48, generator=rng)
    grad_output = helpers.strided_randn(rng, (4, 16, 48))
    out, leaves, _ = run_linear(impl, rng, x, weight, bias, grad_output)
    check_linear(check, out, leaves, tol=helpers.sum_tol)


@pytest.mark.weight(2)
def test_without_bias(impl, rng, check):
    x = torch.randn(4, 10, 32, generator=rng)
    weight = torch.randn(16, 32, generator=rng) / 6
    out, leaves, _ = run_linear(impl, rng, x, weight, None)
    check_linear(check, out, leaves, tol=helpers.sum_tol)


def test_only_input_requires_grad(impl, rng, check):
    """Frozen weight and bias: use ctx.needs_input_grad to skip what nobody needs."""
    x = helpers.leaf(torch.randn(6, 20, generator=rng))
    weight = torch.randn(12, 20, generator=rng)
    bias = torch.randn(12, generator=rng)
    out = impl.LinearFunction.apply(x, weight, bias)
    helpers.backward(out, rng)
    check("output", out, **helpers.sum_tol(out))
    check("grad_x", x.grad, **helpers.sum_tol(x.grad))


def test_only_weight_requires_grad(impl, rng, check):
    x = torch.randn(6, 20, generator=rng)
    weight = helpers.leaf(torch.randn(12, 20, generator=rng))
    out = impl.LinearFunction.apply(x, weight)
    helpers.backward(out, rng)
    check("grad_weight", weight.grad, hint=HINT_GRAD_W, **helpers.sum_tol(weight.grad))


def test_empty_batch(impl, rng, check):
    """Zero rows: the output is empty and the parameter gradients are zeros, not errors."""
    x = torch.randn(0, 8, generator=rng)
    weight = torch.randn(5, 8, generator=rng)
    bias = torch.randn(5, generator=rng)
    out, leaves, _ = run_linear(impl, rng, x, weight, bias)
    check_linear(check, out, leaves)
    one_row, _, _ = run_linear(impl, rng, torch.randn(1, 8, generator=rng), weight, bias)
    check("one_row_output", one_row, hint="the same layer on one row")


@pytest.mark.weight(2)
def test_float64_realistic(impl, rng, check):
    x = torch.randn(4, 32, 64, generator=rng, dtype=torch.float64)
    weight = torch.randn(96, 64, generator=rng, dtype=torch.float64) / 8
    bias = torch.randn(96, generator=rng, dtype=torch.float64)
    out, leaves, _ = run_linear(impl, rng, x, weight, bias)
    check_linear(check, out, leaves)


def test_bfloat16(impl, rng, check):
    """Low precision: the output keeps the input's dtype; compared by relative Frobenius error
    since bf16 keeps 8 bits of mantissa (one rounding of a long sum can move an entry a lot)."""
    x = torch.randn(4, 16, 64, generator=rng).to(torch.bfloat16)
    weight = (torch.randn(32, 64, generator=rng) / 8).to(torch.bfloat16)
    bias = torch.randn(32, generator=rng).to(torch.bfloat16)
    out, leaves, _ = run_linear(impl, rng, x, weight, bias)
    check("output", out, rel_fro=2e-2, hint="keep the input's dtype")
    for name, leaf in zip(["grad_x", "grad_weight", "grad_bias"], leaves):
        check(name, leaf.grad, rel_fro=2e-2)


def test_gradient_accumulates_over_two_uses(impl, rng, check):
    """The same weight used twice: autograd adds the two gradients your backward returns."""
    x1 = torch.randn(5, 12, generator=rng)
    x2 = torch.randn(3, 7, 12, generator=rng)
    weight = helpers.leaf(torch.randn(9, 12, generator=rng))
    out = impl.LinearFunction.apply(x1, weight).sum() + (impl.LinearFunction.apply(x2, weight) ** 2).sum()
    out.backward()
    check("grad_weight", weight.grad, hint=HINT_GRAD_W, **helpers.sum_tol(weight.grad))
