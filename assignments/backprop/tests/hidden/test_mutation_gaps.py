"""Rules that only the automatic mutation report (`dlgrade assign backprop --mutation-report`)
showed untested; see MUTATION.md."""

import pytest
import torch

import helpers


@pytest.mark.part("layernorm")
def test_layernorm_trainable_weight_with_a_frozen_bias(impl, rng, check):
    """The notebook's "frozen inputs: skip what ctx.needs_input_grad says nobody needs":
    needs_input_grad[1] is the weight's, needed here although the bias (input 2) is frozen."""
    x = helpers.leaf(torch.randn(6, 32, generator=rng))
    weight = helpers.leaf(1 + 0.5 * torch.randn(32, generator=rng))
    bias = torch.randn(32, generator=rng)
    out = impl.LayerNormFunction.apply(x, weight, bias, 1e-5)
    helpers.backward(out, rng)
    check("output", out)
    check("grad_x", x.grad)
    check("grad_weight", weight.grad,
          hint="needs_input_grad[1] (the weight) decides grad_weight, whatever the bias needs")
