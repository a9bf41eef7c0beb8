"""Public tests: small, and each one also compares with torch's own autograd, so running them
locally (`dlgrade check notebook.ipynb`) tells you what is wrong."""

import pytest
import torch
import torch.nn.functional as F

import helpers


def assert_grads_match(ours, theirs, names, **tolerance):
    for name, mine, expected in zip(names, ours, theirs):
        assert mine is not None, f"{name} is None: does your backward return a gradient for it?"
        torch.testing.assert_close(mine, expected, msg=lambda m: f"{name} differs from torch's autograd: {m}",
                                   **tolerance)


@pytest.mark.part("linear")
def test_linear_matches_autograd(impl, rng, check):
    x = torch.randn(2, 3, 4, generator=rng)
    weight = torch.randn(5, 4, generator=rng)
    bias = torch.randn(5, generator=rng)
    ours = [helpers.leaf(t) for t in (x, weight, bias)]
    theirs = [t.clone().requires_grad_() for t in (x, weight, bias)]
    out = impl.LinearFunction.apply(*ours)
    grad_out = helpers.backward(out, rng)
    expected = F.linear(*theirs)
    expected.backward(grad_out)
    torch.testing.assert_close(out, expected, msg=lambda m: f"forward differs from F.linear: {m}")
    assert_grads_match([t.grad for t in ours], [t.grad for t in theirs], ["grad_x", "grad_weight", "grad_bias"])
    check("output", out)
    check("grad_x", ours[0].grad)
    check("grad_weight", ours[1].grad, hint="grad_weight sums over every leading dimension of x")
    check("grad_bias", ours[2].grad)


@pytest.mark.part("linear")
def test_linear_gradcheck(impl, rng, check):
    inputs = [torch.randn(shape, generator=rng, dtype=torch.float64, requires_grad=True)
              for shape in ((3, 4), (2, 4), (2,))]
    ok = torch.autograd.gradcheck(impl.LinearFunction.apply, tuple(inputs), raise_exception=False)
    assert ok, "gradcheck failed: your backward disagrees with finite differences of your forward"
    helpers.record_vjps(check, impl.LinearFunction.apply, inputs, rng)


@pytest.mark.part("activations")
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_autograd(impl, rng, check, approximate):
    x = torch.randn(4, 6, generator=rng) * 3
    ours, theirs = helpers.leaf(x.clone()), x.clone().requires_grad_()
    out = impl.GELUFunction.apply(ours, approximate)
    grad_out = helpers.backward(out, rng)
    expected = F.gelu(theirs, approximate=approximate)
    expected.backward(grad_out)
    torch.testing.assert_close(out, expected, msg=lambda m: f"forward differs from F.gelu: {m}")
    assert_grads_match([ours.grad], [theirs.grad], ["grad_x"])
    check("output", out)
    check("grad_x", ours.grad)


@pytest.mark.part("activations")
def test_relu_gradient_is_zero_at_zero(impl, rng, check):
    x = helpers.leaf(torch.tensor([-2.0, -0.5, 0.0, 0.5, 2.0]))
    out = impl.ReLUFunction.apply(x)
    out.backward(torch.ones(5))
    torch.testing.assert_close(out, torch.tensor([0.0, 0.0, 0.0, 0.5, 2.0]))
    torch.testing.assert_close(x.grad, torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0]),
                               msg=lambda m: f"relu'(x) is 1 where x > 0 and 0 elsewhere, also at x = 0: {m}")
    check("output", out)
    check("grad_x", x.grad)


@pytest.mark.part("cross_entropy")
def test_cross_entropy_matches_autograd(impl, rng, check):
    logits = torch.randn(6, 5, generator=rng) * 4
    target = torch.randint(0, 5, (6,), generator=rng)
    target[1] = -100  # ignored row
    ours, theirs = helpers.leaf(logits.clone()), logits.clone().requires_grad_()
    loss = impl.CrossEntropyFunction.apply(ours, target)
    loss.backward()
    expected = F.cross_entropy(theirs, target)
    expected.backward()
    torch.testing.assert_close(loss, expected, msg=lambda m: f"loss differs from F.cross_entropy: {m}")
    assert_grads_match([ours.grad], [theirs.grad], ["grad_logits"])
    check("loss", loss)
    check("grad_logits", ours.grad)


@pytest.mark.part("layernorm")
def test_layernorm_matches_autograd(impl, rng, check):
    x = torch.randn(2, 3, 8, generator=rng)
    weight, bias = torch.randn(8, generator=rng), torch.randn(8, generator=rng)
    ours = [helpers.leaf(t.clone()) for t in (x, weight, bias)]
    theirs = [t.clone().requires_grad_() for t in (x, weight, bias)]
    out = impl.LayerNormFunction.apply(*ours, 1e-5)
    grad_out = helpers.backward(out, rng)
    expected = F.layer_norm(theirs[0], (8,), theirs[1], theirs[2], 1e-5)
    expected.backward(grad_out)
    torch.testing.assert_close(out, expected, msg=lambda m: f"forward differs from F.layer_norm: {m}")
    assert_grads_match([t.grad for t in ours], [t.grad for t in theirs], ["grad_x", "grad_weight", "grad_bias"])
    check("output", out)
    check("grad_x", ours[0].grad)
    check("grad_weight", ours[1].grad)
    check("grad_bias", ours[2].grad)


@pytest.mark.part("layernorm")
def test_layernorm_saves_at_most_one_full_size_tensor(impl, rng, check):
    x = helpers.leaf(torch.randn(16, 32, generator=rng))
    weight, bias = helpers.leaf(torch.ones(32)), helpers.leaf(torch.zeros(32))
    out, saved = helpers.saved_bytes(lambda: impl.LayerNormFunction.apply(x, weight, bias, 1e-5))
    stashed = helpers.tensors_stashed_on_ctx(out)
    assert not stashed, f"tensors kept as ctx attributes {stashed}: save them with ctx.save_for_backward"
    assert saved > 0, "nothing saved for backward: call ctx.save_for_backward in forward"
    assert saved < 2 * x.numel() * 4, (
        f"{saved} bytes saved for backward; x itself is {x.numel() * 4} bytes: save one tensor the size "
        "of x (x or x̂) plus small per-row statistics, and recompute the rest")
    check.exact("tensors_stashed_on_ctx", stashed)
    check.near_reference("saved_bytes", saved, above=x.numel() * 4 - 1,
                         hint="save one tensor the size of x (x or x̂) and small per-row statistics")


@pytest.mark.part("dropout")
def test_dropout_mask_is_drawn_once(impl, rng, check):
    p = 0.5
    x = helpers.leaf(torch.randn(2000, generator=rng))
    out = impl.DropoutFunction.apply(x, p, True)
    grad_out = helpers.backward(out, rng)
    kept = out != 0
    fraction_dropped = 1 - kept.float().mean().item()
    scaled = bool(torch.allclose(out[kept], x[kept] / (1 - p)))
    same_mask = bool(torch.allclose(x.grad, grad_out * kept / (1 - p)))
    assert scaled, "survivors must be scaled by 1 / (1 - p) so the expected output equals x"
    assert 0.45 < fraction_dropped < 0.55, f"dropped {fraction_dropped:.1%} of the elements with p = {p}"
    assert same_mask, "the backward must use the very mask drawn in forward (save it; do not draw again)"
    helpers.record_dropout(check, x.detach(), out.detach(), x.grad, grad_out, p)
    check.bound("fraction_dropped", fraction_dropped, lower=0.45, upper=0.55)


@pytest.mark.part("adamw")
def test_adamw_matches_torch_for_five_steps(impl, rng, check):
    start = [torch.randn(4, 3, generator=rng), torch.randn(3, generator=rng)]
    grads = [[torch.randn(p.shape, generator=rng) for p in start] for _ in range(5)]
    ours = [helpers.leaf(p.clone()) for p in start]
    theirs = [p.clone().requires_grad_() for p in start]
    options = {"lr": 1e-2, "betas": (0.9, 0.99), "eps": 1e-8, "weight_decay": 0.1}
    optimizer, expected = impl.AdamW(ours, **options), torch.optim.AdamW(theirs, **options)
    for step, step_grads in enumerate(grads, start=1):
        for param, reference, grad in zip(ours, theirs, step_grads):
            param.grad, reference.grad = grad.clone(), grad.clone()
        optimizer.step()
        expected.step()
        for index, (param, reference) in enumerate(zip(ours, theirs)):
            torch.testing.assert_close(param.detach(), reference.detach(),
                                       msg=lambda m: f"parameter {index} after step {step}: {m}")
    for index, param in enumerate(ours):
        check(f"param{index}", param.detach())


@pytest.mark.part("mlp_block")
def test_mlp_block_matches_autograd(impl, rng, check):
    block = impl.MLPBlock(8, 16)
    params = helpers.randomize_block(block, rng)
    x = helpers.leaf(torch.randn(2, 3, 8, generator=rng))
    x_ref = x.detach().clone().requires_grad_()
    out = block(x)
    grad_out = helpers.backward(out, rng)
    h = F.layer_norm(x_ref, (8,), params["ln_weight"].detach(), params["ln_bias"].detach(), 1e-5)
    h = F.gelu(F.linear(h, params["fc_weight"].detach(), params["fc_bias"].detach()))
    expected = x_ref + F.linear(h, params["proj_weight"].detach(), params["proj_bias"].detach())
    expected.backward(grad_out)
    torch.testing.assert_close(out, expected, msg=lambda m: f"x + proj(gelu(fc(layernorm(x)))) differs: {m}")
    torch.testing.assert_close(x.grad, x_ref.grad, msg=lambda m: f"grad_x differs: {m}")
    check("output", out)
    check("grad_x", x.grad)
