"""Dropout is random, so these tests check properties of your own output, never values shared
with the reference: every element is either dropped (0) or scaled by exactly 1/(1 − p), the
dropped fraction is close to p, and the backward routes the gradient through the same mask."""

import pytest
import torch

import helpers

pytestmark = pytest.mark.part("dropout")

HINT_SCALE = "survivors are multiplied by 1/(1 − p) (inverted dropout), so E[output] = x"
HINT_FRACTION = "each element is dropped (set to 0) with probability p, independently"
HINT_MASK = "save the mask drawn in forward (ctx.save_for_backward) and reuse it in backward; never draw a new one"


def dropout_properties(x, out, grad, grad_output, p):
    """(survivors scaled by 1/(1-p), fraction dropped, backward used the forward's mask)."""
    kept = out != 0  # x is drawn from a normal distribution: no exact zeros in it
    scale = 1.0 / (1.0 - p)
    survivors_scaled = bool(torch.allclose(out[kept], x[kept] * scale, rtol=1e-6, atol=0))
    fraction_dropped = 1.0 - kept.double().mean().item()
    expected_grad = torch.where(kept, grad_output * scale, torch.zeros_like(grad_output))
    same_mask = bool(torch.allclose(grad, expected_grad, rtol=1e-6, atol=0))
    return survivors_scaled, fraction_dropped, same_mask


def run(impl, rng, x, p, training=True, grad_output=None):
    x = helpers.leaf(x)
    out = impl.DropoutFunction.apply(x, p, training)
    grad_output = helpers.backward(out, rng, grad_output)
    return x, out, grad_output


@pytest.mark.weight(3)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_training_mask_and_scale(impl, rng, check, p):
    """131 072 elements: the dropped fraction has a standard deviation under 0.0014, so ±0.01
    is more than 7 of them."""
    x = torch.randn(8, 64, 256, generator=rng)
    x, out, grad_output = run(impl, rng, x, p)
    survivors_scaled, fraction_dropped, same_mask = dropout_properties(x.detach(), out.detach(), x.grad, grad_output, p)
    assert out.shape == x.shape and out.dtype == x.dtype, "the output must have the input's shape and dtype"
    check.exact("survivors_scaled", survivors_scaled, hint=HINT_SCALE)
    check.bound("fraction_dropped", fraction_dropped, lower=p - 0.01, upper=p + 0.01, hint=HINT_FRACTION)
    check.exact("backward_uses_forward_mask", same_mask, hint=HINT_MASK)


@pytest.mark.weight(2)
def test_backward_twice_uses_the_same_mask(impl, rng, check):
    """retain_graph=True and a second backward: both must see the mask of the forward pass."""
    p = 0.3
    x = helpers.leaf(torch.randn(64, 128, generator=rng))
    out = impl.DropoutFunction.apply(x, p, True)
    grad_output = torch.randn(out.shape, generator=rng)
    out.backward(grad_output, retain_graph=True)
    first = x.grad.clone()
    out.backward(grad_output)
    second = x.grad - first
    _, _, same_mask_first = dropout_properties(x.detach(), out.detach(), first, grad_output, p)
    _, _, same_mask_second = dropout_properties(x.detach(), out.detach(), second, grad_output, p)
    check.exact("first_backward_uses_forward_mask", same_mask_first, hint=HINT_MASK)
    check.exact("second_backward_uses_forward_mask", same_mask_second, hint=HINT_MASK)


def test_fresh_mask_every_call(impl, rng, check):
    x = torch.randn(32, 64, generator=rng)
    first = impl.DropoutFunction.apply(x, 0.5, True)
    second = impl.DropoutFunction.apply(x, 0.5, True)
    check.exact("masks_differ_between_calls", bool(((first == 0) != (second == 0)).any()),
                hint="draw a new mask on every forward call (from torch's random generator)")


def test_mask_is_elementwise(impl, rng, check):
    """Every element gets its own coin flip: no mask shared by all rows or all columns."""
    x = torch.randn(64, 96, generator=rng)
    dropped = impl.DropoutFunction.apply(x, 0.5, True) == 0
    rows_differ = bool((dropped != dropped[:1]).any())
    columns_differ = bool((dropped != dropped[:, :1]).any())
    check.exact("mask_differs_across_rows", rows_differ, hint=HINT_FRACTION)
    check.exact("mask_differs_across_columns", columns_differ, hint=HINT_FRACTION)


@pytest.mark.weight(2)
@pytest.mark.parametrize("p", [0.0, 0.5])
def test_eval_mode_is_identity(impl, rng, check, p):
    x = torch.randn(16, 48, generator=rng)
    x, out, _ = run(impl, rng, x, p, training=False)
    check.exact("output", out, hint="with training=False dropout returns x unchanged")
    check.exact("grad_x", x.grad, hint="with training=False the gradient passes through unchanged")


def test_p_zero_is_identity(impl, rng, check):
    x = torch.randn(16, 48, generator=rng)
    x, out, _ = run(impl, rng, x, 0.0, training=True)
    check.exact("output", out, hint="p = 0 drops nothing and scales by 1")
    check.exact("grad_x", x.grad)


def test_p_one_drops_everything(impl, rng, check):
    """p = 1: every element dropped; 1/(1 − p) is infinite, but 0 · inf must not leak NaN."""
    x = torch.randn(16, 48, generator=rng)
    x, out, _ = run(impl, rng, x, 1.0, training=True)
    check("output", out, hint="p = 1 returns zeros (no NaN)")
    check("grad_x", x.grad, hint="p = 1: the gradient is zero everywhere (no NaN)")


@pytest.mark.weight(2)
def test_noncontiguous_float64(impl, rng, check):
    p = 0.25
    x = helpers.transposed_randn(rng, (6, 100, 80), dtype=torch.float64)
    grad_output = helpers.strided_randn(rng, (6, 100, 80), dtype=torch.float64)
    x, out, grad_output = run(impl, rng, x, p, grad_output=grad_output)
    survivors_scaled, fraction_dropped, same_mask = dropout_properties(x.detach(), out.detach(), x.grad, grad_output, p)
    check.exact("output_dtype", str(out.dtype), hint="keep the input's dtype")
    check.exact("survivors_scaled", survivors_scaled, hint=HINT_SCALE)
    check.bound("fraction_dropped", fraction_dropped, lower=p - 0.015, upper=p + 0.015, hint=HINT_FRACTION)
    check.exact("backward_uses_forward_mask", same_mask, hint=HINT_MASK)


def test_gradcheck_without_randomness(impl, rng, check):
    """In eval mode dropout is deterministic, so gradcheck applies."""
    x = torch.randn(4, 6, generator=rng, dtype=torch.float64).requires_grad_()
    ok = helpers.gradcheck(lambda t: impl.DropoutFunction.apply(t, 0.5, False), [x])
    check.exact("gradcheck", ok)
