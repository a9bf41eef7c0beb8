import pytest
import torch
import torch.nn.functional as F

import helpers

pytestmark = pytest.mark.part("mlp_block")

HINT_BLOCK = "y = x + proj(gelu(fc(layernorm(x)))): pre-norm, exact GELU, residual added last"
EXPECTED_FUNCTIONS = ["GELUFunction", "LayerNormFunction", "LinearFunction", "LinearFunction"]


def torch_block(x, params, eps=1e-5):
    """The same block from torch's own operators, for the local assertions."""
    h = F.layer_norm(x, (x.shape[-1],), params["ln_weight"], params["ln_bias"], eps)
    h = F.gelu(F.linear(h, params["fc_weight"], params["fc_bias"]))
    return x + F.linear(h, params["proj_weight"], params["proj_bias"])


def run_block(impl, rng, x, dim, hidden=None, dtype=torch.float32, grad_output=None):
    block = impl.MLPBlock(dim, hidden)
    params = helpers.randomize_block(block, rng, dtype)
    x = helpers.leaf(x)
    out = block(x)
    grad_output = helpers.backward(out, rng, grad_output)
    return block, params, x, out, grad_output


def check_block(check, params, x, out, tol=None):
    check("output", out, hint=HINT_BLOCK, **(tol(out) if tol else {}))
    check("grad_x", x.grad, hint=HINT_BLOCK, **(tol(x.grad) if tol else {}))
    for name in helpers.BLOCK_PARAMETERS:
        grad = params[name].grad
        assert grad is not None, f"{name}.grad is None: is {name} used in forward?"
        check(f"grad_{name}", grad, **(tol(grad) if tol else {}))


def test_vjp_float64(impl, rng, check):
    """The whole block's backward, with respect to the input and every parameter, in float64."""
    block = impl.MLPBlock(6, 10)
    params = helpers.randomize_block(block, rng, torch.float64)
    names = list(helpers.BLOCK_PARAMETERS)
    x = torch.randn(2, 3, 6, generator=rng, dtype=torch.float64, requires_grad=True)
    inputs = [x] + [params[name].detach().clone().requires_grad_() for name in names]

    def function(x, *values):  # the block with these tensors as its parameters
        return torch.func.functional_call(block, dict(zip(names, values)), (x,))

    helpers.record_vjps(check, function, inputs, rng, hint=HINT_BLOCK)


@pytest.mark.weight(3)
def test_3d_float32_matches_autograd(impl, rng, check):
    x = torch.randn(4, 32, 64, generator=rng)
    block, params, x, out, grad_output = run_block(impl, rng, x, 64)
    reference_x = x.detach().clone().requires_grad_()
    reference_params = {name: p.detach().clone().requires_grad_() for name, p in params.items()}
    expected = torch_block(reference_x, reference_params)
    expected.backward(grad_output)
    torch.testing.assert_close(out, expected, **helpers.sum_tol(expected))
    torch.testing.assert_close(x.grad, reference_x.grad, **helpers.sum_tol(reference_x.grad))
    for name, param in params.items():
        torch.testing.assert_close(param.grad, reference_params[name].grad,
                                   **helpers.sum_tol(reference_params[name].grad))
    check_block(check, params, x, out, tol=helpers.sum_tol)


@pytest.mark.weight(2)
def test_built_only_from_your_functions(impl, rng, check):
    """Walk the autograd graph of the output: every node that does arithmetic must be one of
    your Functions (plus the residual add)."""
    block = impl.MLPBlock(16, 32)
    helpers.randomize_block(block, rng)
    out = block(torch.randn(3, 16, generator=rng, requires_grad=True))
    used, other = helpers.graph_summary(out, impl)
    check.exact("functions_used", used,
                hint="LayerNormFunction, LinearFunction, GELUFunction, LinearFunction: each once per call, in this order")
    check.exact("other_operations", other,
                hint="build the block only from your Functions and the residual `x + ...`; no torch layers or extra ops")


def test_default_hidden_size_and_parameters(impl, rng, check):
    block = impl.MLPBlock(12)
    shapes = {name: list(param.shape) for name, param in block.named_parameters()}
    out = block(torch.randn(2, 5, 12, generator=rng))
    check.exact("output_shape", list(out.shape), hint="the block maps (..., dim) to (..., dim)")
    check.exact("parameter_names", sorted(shapes), hint="keep the parameters of the provided __init__")
    check.exact("parameter_shapes", [shapes.get(name) for name in helpers.BLOCK_PARAMETERS],
                hint="hidden_dim defaults to 4 · dim")
    helpers.randomize_block(block, rng)
    randomized = block(torch.randn(2, 5, 12, generator=rng))
    check("output", randomized, **helpers.sum_tol(randomized), hint=HINT_BLOCK)


@pytest.mark.weight(2)
def test_noncontiguous_input(impl, rng, check):
    x = helpers.transposed_randn(rng, (3, 20, 32))
    _, params, x, out, _ = run_block(impl, rng, x, 32, 48)
    check_block(check, params, x, out, tol=helpers.sum_tol)


def test_float64(impl, rng, check):
    x = torch.randn(2, 10, 24, generator=rng, dtype=torch.float64)
    block = impl.MLPBlock(24, 40).double()
    params = helpers.randomize_block(block, rng, torch.float64)
    x = helpers.leaf(x)
    out = block(x)
    helpers.backward(out, rng)
    check_block(check, params, x, out)


def test_sgd_steps(impl, rng, check):
    """Three steps of plain SGD on a regression loss: the whole backward, three times."""
    block = impl.MLPBlock(16, 32)
    params = helpers.randomize_block(block, rng)
    inputs, targets = torch.randn(32, 16, generator=rng), torch.randn(32, 16, generator=rng)
    optimizer = torch.optim.SGD(block.parameters(), lr=0.1)
    losses = []
    for _ in range(3):
        optimizer.zero_grad()
        loss = ((block(inputs) - targets) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    check("losses", torch.stack(losses), hint=HINT_BLOCK)
    for name in helpers.BLOCK_PARAMETERS:
        check(name, params[name].detach(), **helpers.sum_tol(params[name].detach()))
