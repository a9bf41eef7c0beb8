"""LoRALinear: initialisation, forward, scaling, what trains, gradients, merge and dropout."""

import pytest
import torch

import helpers

pytestmark = pytest.mark.part("lora")


def test_starts_at_the_base_layer(impl, rng, check):
    base = helpers.linear_layer(48, 40, rng)
    layer = impl.LoRALinear(base, r=8, alpha=16)
    x = torch.randn(3, 5, 48, generator=rng)
    check("output", layer(x), hint="at initialisation the adapter adds exactly zero: B starts at zeros")
    check.exact("lora_B", layer.lora_B.detach(), hint="initialise lora_B with zeros")
    check.exact("factor_shapes", [list(layer.lora_A.shape), list(layer.lora_B.shape)],
                hint="lora_A is (r, in_features), lora_B is (out_features, r)")


def test_A_is_kaiming_uniform(impl, rng, check):
    base = helpers.linear_layer(1024, 64, rng)
    layer = impl.LoRALinear(base, r=64, alpha=64)
    max_over_bound, std_over_uniform_std = helpers.kaiming_figures(layer.lora_A)
    hint = ("nn.init.kaiming_uniform_(lora_A, a=math.sqrt(5)), as nn.Linear initialises its weight: "
            "U(-1/sqrt(in), 1/sqrt(in))")
    check.bound("max_abs_over_bound", max_over_bound, lower=0.99, upper=1.000001, hint=hint)
    check.bound("std_over_uniform_std", std_over_uniform_std, lower=0.98, upper=1.02, hint=hint)


def test_forward_with_adapter(impl, rng, check):
    base = helpers.linear_layer(48, 40, rng)
    layer = impl.LoRALinear(base, r=4, alpha=8)
    helpers.set_adapter(layer, rng)
    x = torch.randn(2, 7, 48, generator=rng)
    check("output", layer(x), hint="y = base(x) + (alpha / r) * x A^T B^T")


@pytest.mark.parametrize("r, alpha", [(1, 1), (8, 16), (16, 8)])
def test_scaling(impl, rng, check, r, alpha):
    base = helpers.linear_layer(32, 24, rng, bias=False)
    layer = impl.LoRALinear(base, r=r, alpha=alpha)
    helpers.set_adapter(layer, rng)
    x = torch.randn(6, 32, generator=rng)
    check("output", layer(x), hint="scale the update by alpha / r (not alpha, not r / alpha)")


def test_only_the_adapter_trains(impl, rng, check):
    base = helpers.linear_layer(20, 12, rng)
    layer = impl.LoRALinear(base, r=4, alpha=4)
    trainable = [p for p in layer.parameters() if p.requires_grad]
    check.exact("trainable_tensors", len(trainable), hint="only lora_A and lora_B may require grad")
    check.exact("trainable_numel", sum(p.numel() for p in trainable))
    layer(torch.randn(5, 20, generator=rng)).backward(torch.randn(5, 12, generator=rng))
    check("base_grads_after_backward", [base.weight.grad, base.bias.grad],
          hint="freeze the base layer: requires_grad_(False) on its weight and bias, so they get no gradient")


def test_gradients(impl, rng, check):
    base = helpers.linear_layer(24, 16, rng)
    layer = impl.LoRALinear(base, r=4, alpha=8)
    helpers.set_adapter(layer, rng)
    x = torch.randn(3, 4, 24, generator=rng, requires_grad=True)
    layer(x).backward(torch.randn(3, 4, 16, generator=rng))
    check("grad_A", layer.lora_A.grad)
    check("grad_B", layer.lora_B.grad)
    check("grad_x", x.grad)
    check.exact("base_weight_grad_type", type(base.weight.grad).__name__,
                hint="the base weight is frozen: its grad stays None")


def test_merge_keeps_the_output(impl, rng, check):
    base = helpers.linear_layer(40, 30, rng)
    layer = impl.LoRALinear(base, r=8, alpha=16)
    helpers.set_adapter(layer, rng)
    x = torch.randn(5, 40, generator=rng)
    before = layer(x).detach()
    layer.merge()
    check("merged_output", layer(x), rtol=1e-5, atol=1e-5,
          hint="after merge() the adapter lives in base.weight: forward must not add it a second time")
    check("merged_weight", base.weight.detach(), hint="merge adds (alpha / r) B @ A to base.weight")
    torch.testing.assert_close(layer(x), before, rtol=1e-5, atol=1e-5,
                               msg="merging must not change the layer's output")


def test_merge_unmerge_round_trip(impl, rng, check):
    base = helpers.linear_layer(40, 30, rng)
    original = base.weight.detach().clone()
    layer = impl.LoRALinear(base, r=8, alpha=16)
    helpers.set_adapter(layer, rng)
    layer.merge()
    layer.unmerge()
    check("weight_after_round_trip", base.weight.detach() - original, rtol=0, atol=1e-6,
          hint="unmerge subtracts exactly what merge added")
    check("output_after_round_trip", layer(torch.randn(4, 40, generator=rng)))


def test_merge_twice_is_a_no_op(impl, rng, check):
    base = helpers.linear_layer(16, 16, rng)
    layer = impl.LoRALinear(base, r=2, alpha=4)
    helpers.set_adapter(layer, rng)
    layer.merge()
    layer.merge()
    check("weight", base.weight.detach(), hint="merging an already merged layer must not add the update again")


def test_dropout_touches_only_the_adapter_input(impl, rng, check):
    base = helpers.linear_layer(64, 32, rng)
    layer = impl.LoRALinear(base, r=4, alpha=8, dropout=0.5)
    layer.train()
    x = torch.randn(8, 64, generator=rng)
    check("train_output_with_zero_B", layer(x),
          hint="dropout applies to the adapter's input only; the frozen path sees x unchanged")
    helpers.set_adapter(layer, rng)
    layer.eval()
    check("eval_output", layer(x), hint="in eval mode dropout is the identity")


def test_dropout_on_the_adapter_input_not_its_output(impl, rng, check):
    """Inputs with one non-zero feature per row: dropout on the adapter's input keeps or drops
    that feature, so each row's update is either 0 or the eval-mode update times 1/(1 - p).
    Dropout on the adapter's output would zero single outputs of a row instead."""
    p, rows, features = 0.5, 256, 64
    base = helpers.linear_layer(features, 32, rng)
    layer = impl.LoRALinear(base, r=4, alpha=8, dropout=p)
    helpers.set_adapter(layer, rng)
    x = torch.zeros(rows, features)
    x[torch.arange(rows), torch.arange(rows) % features] = torch.randn(rows, generator=rng) + 3.0
    with torch.no_grad():
        update_eval = layer.eval()(x) - base(x)
        update_train = layer.train()(x) - base(x)
    kept = update_train.abs().amax(dim=1) > 0  # rows whose feature survived
    hint = ("dropout applies to the adapter's input: a row with one feature keeps its whole update "
            "(scaled by 1/(1 - p)) or loses all of it")
    check("update_of_kept_rows", torch.where(kept[:, None], update_train, update_eval / (1 - p)),
          rtol=1e-5, atol=1e-5, hint=hint)
    check.bound("fraction_of_rows_dropped", 1.0 - kept.double().mean().item(), lower=p - 0.15, upper=p + 0.15,
                hint="in training mode the adapter's input goes through dropout with probability p")


def test_bf16_base(impl, rng, check):
    base = helpers.linear_layer(32, 16, rng, dtype=torch.bfloat16)
    layer = impl.LoRALinear(base, r=4, alpha=8)
    helpers.set_adapter(layer, rng)
    out = layer(torch.randn(4, 32, generator=rng).to(torch.bfloat16))
    check.exact("dtypes", [str(out.dtype), str(layer.lora_A.dtype), str(layer.lora_B.dtype)],
                hint="create lora_A and lora_B in the base weight's dtype and device")
    check("output", out)
