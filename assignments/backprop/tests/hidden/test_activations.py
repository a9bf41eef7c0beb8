import pytest
import torch
import torch.nn.functional as F

import helpers

pytestmark = pytest.mark.part("activations")

HINT_GELU = {
    "none": "gelu'(x) = Φ(x) + x·φ(x) with Φ(x) = ½(1 + erf(x/√2)) and φ(x) = exp(−x²/2)/√(2π)",
    "tanh": "with u = √(2/π)(x + 0.044715x³): gelu'(x) = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²)",
}


def away_from_zero(rng, shape, dtype=torch.float64):
    """Values with |x| ≥ 0.1, so finite differences never straddle ReLU's kink."""
    x = torch.randn(shape, generator=rng, dtype=dtype)
    return x + 0.1 * torch.sign(x)


def run(function, x, rng, *args, grad_output=None):
    x = helpers.leaf(x)
    out = function.apply(x, *args)
    helpers.backward(out, rng, grad_output)
    return out, x.grad


# --- ReLU ---------------------------------------------------------------------------------

def test_relu_vjp_float64(impl, rng, check):
    x = away_from_zero(rng, (4, 7)).requires_grad_()
    helpers.record_vjps(check, impl.ReLUFunction.apply, [x], rng)


@pytest.mark.weight(2)
def test_relu_3d_float32_matches_autograd(impl, rng, check):
    x = torch.randn(8, 64, 512, generator=rng) * 3
    grad_output = torch.randn(x.shape, generator=rng)
    out, grad = run(impl.ReLUFunction, x, rng, grad_output=grad_output)
    reference = x.clone().requires_grad_()
    F.relu(reference).backward(grad_output)
    torch.testing.assert_close(out, F.relu(x))
    torch.testing.assert_close(grad, reference.grad)
    check("output", out)
    check("grad_x", grad)


@pytest.mark.weight(2)
def test_relu_exact_zeros_get_zero_gradient(impl, rng, check):
    """Inputs that are exactly 0 (after an earlier ReLU, say) take gradient 0, as in torch."""
    x = torch.randn(64, 33, generator=rng).clamp_min(0) - torch.randn(64, 33, generator=rng).clamp_min(0)
    x[::3] = 0.0
    out, grad = run(impl.ReLUFunction, x, rng)
    check.exact("output", out)
    check.exact("grad_x", grad, hint="relu'(0) is 0: pass the gradient only where x > 0")


def test_relu_noncontiguous(impl, rng, check):
    x = helpers.transposed_randn(rng, (6, 40, 24))
    grad_output = helpers.strided_randn(rng, (6, 40, 24))
    out, grad = run(impl.ReLUFunction, x, rng, grad_output=grad_output)
    check.exact("output", out)
    check.exact("grad_x", grad)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16], ids=["float64", "bfloat16"])
def test_relu_dtypes(impl, rng, check, dtype):
    x = torch.randn(16, 24, generator=rng).to(dtype)
    out, grad = run(impl.ReLUFunction, x, rng)
    check.exact("output", out, hint="keep the input's dtype")
    check.exact("grad_x", grad)


# --- GELU ---------------------------------------------------------------------------------

@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_vjp_float64(impl, rng, check, approximate):
    x = (torch.randn(5, 6, generator=rng, dtype=torch.float64) * 2).requires_grad_()
    helpers.record_vjps(check, lambda t: impl.GELUFunction.apply(t, approximate), [x], rng,
                        hint=HINT_GELU[approximate])


def test_gelu_default_is_exact(impl, rng, check):
    x = torch.randn(10, 10, generator=rng, dtype=torch.float64) * 2
    out, grad = run(impl.GELUFunction, x, rng)
    check("output", out, hint="approximate defaults to 'none': the exact, erf-based GELU")
    check("grad_x", grad)


@pytest.mark.weight(2)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_3d_float32_matches_autograd(impl, rng, check, approximate):
    x = torch.randn(8, 64, 512, generator=rng) * 3
    grad_output = torch.randn(x.shape, generator=rng)
    out, grad = run(impl.GELUFunction, x, rng, approximate, grad_output=grad_output)
    reference = x.clone().requires_grad_()
    expected = F.gelu(reference, approximate=approximate)
    expected.backward(grad_output)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(grad, reference.grad)
    check("output", out)
    check("grad_x", grad, hint=HINT_GELU[approximate])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_large_inputs_stay_finite(impl, rng, check, approximate):
    """|x| up to 50: exp(−x²/2) underflows to 0 and tanh saturates; nothing may become NaN."""
    x = torch.linspace(-50, 50, 1001, dtype=torch.float32)
    out, grad = run(impl.GELUFunction, x, rng, approximate)
    check("output", out)
    check("grad_x", grad, hint=HINT_GELU[approximate])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_noncontiguous(impl, rng, check, approximate):
    x = helpers.transposed_randn(rng, (4, 30, 20)) * 2
    grad_output = helpers.strided_randn(rng, (4, 30, 20))
    out, grad = run(impl.GELUFunction, x, rng, approximate, grad_output=grad_output)
    check("output", out)
    check("grad_x", grad)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_float64(impl, rng, check, approximate):
    x = torch.randn(32, 48, generator=rng, dtype=torch.float64) * 4
    out, grad = run(impl.GELUFunction, x, rng, approximate)
    check("output", out)
    check("grad_x", grad, hint=HINT_GELU[approximate])


def test_gelu_in_a_chain(impl, rng, check):
    """gelu(gelu(x)): the upstream gradient of the inner call is not all ones."""
    x = helpers.leaf(torch.randn(12, 16, generator=rng, dtype=torch.float64))
    out = impl.GELUFunction.apply(impl.GELUFunction.apply(x, "tanh"), "none")
    out.sum().backward()
    check("grad_x", x.grad, hint="multiply the local derivative by grad_output")
