"""Dropout is random, so these tests never compare masks with the reference: they record
values every correct mask gives alike (helpers.record_dropout: each element is either dropped
or scaled by exactly 1/(1 − p), and the backward routes the gradient through the same mask),
and measured fractions that fixed bounds judge (the dropped fraction is close to p)."""

import pytest
import torch

import helpers

pytestmark = pytest.mark.part("dropout")

HINT_SCALE = "survivors are multiplied by 1/(1 − p) (inverted dropout), so E[output] = x"
HINT_FRACTION = "each element is dropped (set to 0) with probability p, independently"
HINT_MASK = "save the mask drawn in forward (ctx.save_for_backward) and reuse it in backward; never draw a new one"


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
    assert out.shape == x.shape and out.dtype == x.dtype, "the output must have the input's shape and dtype"
    fraction_dropped = helpers.record_dropout(check, x.detach(), out.detach(), x.grad, grad_output, p,
                                              HINT_SCALE, HINT_MASK)
    check.bound("fraction_dropped", fraction_dropped, lower=p - 0.01, upper=p + 0.01, hint=HINT_FRACTION)


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
    kept = out.detach() != 0
    for name, grad in (("first", first), ("second", second)):
        check(f"{name}_grad_where_kept", torch.where(kept, grad, grad_output / (1 - p)), rtol=1e-6, atol=0.0,
              hint=HINT_MASK)
        check(f"{name}_grad_where_dropped", torch.where(kept, torch.zeros_like(grad), grad), hint=HINT_MASK)
    check.bound("fraction_dropped", 1.0 - kept.double().mean().item(), lower=p - 0.05, upper=p + 0.05,
                hint=HINT_FRACTION)


def test_fresh_mask_every_call(impl, rng, check):
    x = torch.randn(32, 64, generator=rng)
    first = impl.DropoutFunction.apply(x, 0.5, True)
    second = impl.DropoutFunction.apply(x, 0.5, True)
    check.bound("fraction_of_mask_that_changed", ((first == 0) != (second == 0)).double().mean().item(),
                lower=0.4, upper=0.6, hint="draw a new mask on every forward call (from torch's random generator)")


def test_mask_is_elementwise(impl, rng, check):
    """Every element gets its own coin flip: no mask shared by all rows or all columns."""
    x = torch.randn(64, 96, generator=rng)
    dropped = impl.DropoutFunction.apply(x, 0.5, True) == 0
    check.bound("rows_with_the_first_rows_mask", int((dropped == dropped[:1]).all(dim=1).sum()), upper=1,
                hint=HINT_FRACTION)
    check.bound("columns_with_the_first_columns_mask", int((dropped == dropped[:, :1]).all(dim=0).sum()), upper=1,
                hint=HINT_FRACTION)


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
    x, out, _ = run(impl, rng, x.detach(), 1.0, training=False)
    check("eval_output", out, hint="with training=False dropout returns x unchanged, whatever p")


@pytest.mark.weight(2)
def test_noncontiguous_float64(impl, rng, check):
    p = 0.25
    x = helpers.transposed_randn(rng, (6, 100, 80), dtype=torch.float64)
    grad_output = helpers.strided_randn(rng, (6, 100, 80), dtype=torch.float64)
    x, out, grad_output = run(impl, rng, x, p, grad_output=grad_output)
    check.exact("output_dtype", str(out.dtype), hint="keep the input's dtype")
    fraction_dropped = helpers.record_dropout(check, x.detach(), out.detach(), x.grad, grad_output, p,
                                              HINT_SCALE, HINT_MASK)
    check.bound("fraction_dropped", fraction_dropped, lower=p - 0.015, upper=p + 0.015, hint=HINT_FRACTION)


def test_vjp_without_randomness(impl, rng, check):
    """In eval mode dropout is deterministic, so its values are compared with the reference."""
    x = torch.randn(4, 6, generator=rng, dtype=torch.float64).requires_grad_()
    helpers.record_vjps(check, lambda t: impl.DropoutFunction.apply(t, 0.5, False), [x], rng)
