"""QLoRALinear, inject_lora and trainable_parameters."""

import copy

import pytest
import torch
import torch.nn as nn

import helpers

pytestmark = pytest.mark.part("qlora")

# Outputs of a layer whose weight went through NF4: the same codes as the reference give the
# same weight, and only the matmul's summation order may differ.
RTOL, ATOL = 1e-5, 1e-5


@pytest.mark.parametrize("double_quant", [True, False], ids=["double_quant", "plain_absmax"])
def test_output_at_init(impl, rng, check, double_quant):
    base = helpers.linear_layer(96, 80, rng)
    layer = impl.QLoRALinear(base, r=8, alpha=16, double_quant=double_quant)
    x = torch.randn(4, 6, 96, generator=rng)
    check("output", layer(x), rtol=RTOL, atol=ATOL,
          hint="forward = x @ dequantize(W)^T + bias + the LoRA update (zero at init)")


@pytest.mark.parametrize("double_quant", [True, False], ids=["double_quant", "plain_absmax"])
def test_output_with_adapter(impl, rng, check, double_quant):
    base = helpers.linear_layer(96, 80, rng)
    layer = impl.QLoRALinear(base, r=4, alpha=16, double_quant=double_quant)
    helpers.set_adapter(layer, rng)
    x = torch.randn(10, 96, generator=rng)
    check("output", layer(x), rtol=RTOL, atol=ATOL, hint="the update is (alpha / r) x A^T B^T")


def test_odd_shape_and_blocksize(impl, rng, check):
    base = helpers.linear_layer(33, 7, rng)  # 231 weights: odd, and not a multiple of the blocksize
    layer = impl.QLoRALinear(base, r=2, alpha=4, blocksize=32)
    helpers.set_adapter(layer, rng)
    check("output", layer(torch.randn(5, 33, generator=rng)), rtol=RTOL, atol=ATOL,
          hint="pass blocksize through to quantize_nf4 and dequantize_nf4")


def test_rank_one(impl, rng, check):
    base = helpers.linear_layer(48, 40, rng)
    layer = impl.QLoRALinear(base, r=1, alpha=2)
    helpers.set_adapter(layer, rng)
    check("output", layer(torch.randn(6, 48, generator=rng)), rtol=RTOL, atol=ATOL,
          hint="any rank r >= 1 is a valid LoRA rank")


def test_A_is_kaiming_uniform(impl, rng, check):
    layer = impl.QLoRALinear(helpers.linear_layer(1024, 64, rng, bias=False), r=64, alpha=64)
    max_over_bound, std_over_uniform_std = helpers.kaiming_figures(layer.lora_A)
    hint = "initialise lora_A as in LoRALinear: nn.init.kaiming_uniform_(lora_A, a=math.sqrt(5))"
    check.bound("max_abs_over_bound", max_over_bound, lower=0.99, upper=1.000001, hint=hint)
    check.bound("std_over_uniform_std", std_over_uniform_std, lower=0.98, upper=1.02, hint=hint)


def test_input_dtype_differs_from_the_base(impl, rng, check):
    """A float32 layer fed bf16: the weight is dequantized to the input's dtype, and the output
    is in the input's dtype too (the adapters and the bias follow x)."""
    base = helpers.linear_layer(128, 64, rng)
    layer = impl.QLoRALinear(base, r=8, alpha=16)
    helpers.set_adapter(layer, rng)
    out = layer(torch.randn(4, 128, generator=rng).to(torch.bfloat16))
    hint = "compute in the input's dtype: cast the bias, lora_A and lora_B to x.dtype"
    check.exact("dtype", str(out.dtype), hint=hint)
    check("output", out.float(), rtol=2e-2, atol=2e-2, hint=hint)


def test_weight_larger_than_a_dequantization_chunk(impl, rng, check):
    """8 388 605 weights (more than DEQUANT_CHUNK, twice over, plus one) at an odd blocksize:
    dequantized_weight must return every value, however it splits the work. The weights are
    code values times their block's scale, so that no code hangs on the last bit of the table."""
    out_features, in_features, blocksize = 5, 1677721, 7
    n = out_features * in_features
    codes = torch.randint(0, 16, (n,), generator=rng)
    codes[::blocksize] = 15  # the first value of every block is its absmax
    scales = torch.rand(-(-n // blocksize), generator=rng) + 0.5
    base = nn.Linear(in_features, out_features, bias=False)
    with torch.no_grad():
        base.weight.copy_((helpers.BNB_NF4_TABLE[codes] * scales.repeat_interleave(blocksize)[:n]).view_as(base.weight))
    layer = impl.QLoRALinear(base, r=1, alpha=1, blocksize=blocksize)
    flat = layer.dequantized_weight(torch.float32).reshape(-1)
    hint = "dequantized_weight(dtype) returns the whole (out, in) weight, whatever its size and blocksize"
    check("every_1009th_value", flat[::1009], rtol=1e-5, atol=1e-6, hint=hint)
    check("last_values", flat[-100:], rtol=1e-5, atol=1e-6, hint=hint)


def test_original_weight_not_kept(impl, rng, check):
    base = helpers.linear_layer(64, 48, rng, bias=False)
    layer = impl.QLoRALinear(base, r=4, alpha=8)
    x = torch.randn(3, 64, generator=rng)
    before = layer(x).detach()
    with torch.no_grad():
        base.weight.zero_()
    check("output_before", before)
    check("output_after_base_weight_zeroed", layer(x).detach(), rtol=RTOL, atol=ATOL,
          hint="QLoRALinear must keep only the 4-bit weight, not a reference to base.weight")


def test_backward(impl, rng, check):
    base = helpers.linear_layer(64, 48, rng)
    layer = impl.QLoRALinear(base, r=4, alpha=8)
    helpers.set_adapter(layer, rng)
    x = torch.randn(2, 3, 64, generator=rng, requires_grad=True)
    layer(x).backward(torch.randn(2, 3, 48, generator=rng))
    check("grad_x", x.grad, rtol=RTOL, atol=ATOL, hint="grad_x = grad_out @ dequantize(W) + the LoRA path")
    check("grad_A", layer.lora_A.grad, rtol=RTOL, atol=ATOL)
    check("grad_B", layer.lora_B.grad, rtol=RTOL, atol=ATOL)
    trainable = sorted(p.numel() for p in layer.parameters() if p.requires_grad)
    check.exact("trainable_numels", trainable, hint="only lora_A and lora_B train; the bias is frozen too")


@pytest.mark.weight(3)
def test_saves_no_full_size_weight_for_backward(impl, rng, check):
    base = helpers.linear_layer(512, 512, rng, bias=False)
    layer = impl.QLoRALinear(base, r=8, alpha=16)
    x = torch.randn(2, 8, 512, generator=rng, requires_grad=True)
    saved, out = helpers.saved_tensor_bytes(lambda: layer(x))
    out.sum().backward()
    check.bound("saved_bytes_per_weight", saved / base.weight.numel(), upper=1.5,
                hint="autograd keeps whatever forward saves until backward: do not let it keep the dequantized "
                     "weight (write a torch.autograd.Function that saves the packed weight and dequantizes again "
                     "in backward)")
    check("grad_x", x.grad, rtol=RTOL, atol=ATOL)


def test_bf16_compute(impl, rng, check):
    base = helpers.linear_layer(128, 64, rng, dtype=torch.bfloat16)
    layer = impl.QLoRALinear(base, r=8, alpha=16)
    helpers.set_adapter(layer, rng)
    out = layer(torch.randn(4, 128, generator=rng).to(torch.bfloat16))
    check.exact("dtypes", [str(out.dtype), str(layer.lora_A.dtype)],
                hint="compute in the input's dtype; create lora_A and lora_B in the base weight's dtype")
    # bf16: the weight is rounded to bf16 once and the output once; near-zero outputs need an
    # absolute term, which assert_close's bf16 default (atol 1e-5) does not give.
    check("output", out, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("quantize", [False, True], ids=["lora", "qlora"])
def test_inject_all_linear_layers(impl, rng, check, quantize):
    model = impl.TinyCausalLM(impl.TinyLMConfig())  # initialised from the seeded global generator
    tokens = torch.randint(0, 16, (2, 12), generator=rng)
    before = model(tokens).detach()
    returned = impl.inject_lora(model, impl.LORA_TARGETS, r=4, alpha=8, quantize=quantize)
    kind = impl.QLoRALinear if quantize else impl.LoRALinear
    check.exact("adapters_in_returned_model", sum(isinstance(m, kind) for m in returned.modules()),
                hint="inject_lora changes the model in place and returns it")
    check.exact("adapters", sum(isinstance(m, kind) for m in model.modules()),
                hint="wrap every nn.Linear whose attribute name is in target_modules (not lm_head)")
    check.exact("trainable_parameters", impl.trainable_parameters(model),
                hint="only the adapters train: freeze embeddings, LayerNorms and lm_head too")
    after = model(tokens).detach()
    check("logits_at_init", after, rtol=1e-4, atol=1e-4)
    if not quantize:
        torch.testing.assert_close(after, before, msg="LoRA at initialisation must not change the model")


def test_inject_some_targets(impl, rng, check):
    model = impl.TinyCausalLM(impl.TinyLMConfig())
    impl.inject_lora(model, ["q_proj", "v_proj"], r=8, alpha=16)
    wrapped = sorted(name for name, m in model.named_modules() if isinstance(m, impl.LoRALinear))
    check.exact("wrapped", wrapped, hint="match on the last part of the module's name only")
    check.exact("trainable_parameters", impl.trainable_parameters(model))


def test_inject_unknown_target_raises(impl, rng, check):
    model = impl.TinyCausalLM(impl.TinyLMConfig())
    try:
        impl.inject_lora(model, ["no_such_layer"], r=4, alpha=8)
        raised = "nothing"
    except ValueError:
        raised = "ValueError"
    except Exception as error:  # noqa: BLE001 - any other error is the student's to see
        raised = type(error).__name__
    check.exact("raises", raised, hint="raise ValueError when no module matches target_modules (a typo would "
                                       "otherwise train nothing)")


def test_trainable_parameters(impl, rng, check):
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5), nn.LayerNorm(5))
    model[0].weight.requires_grad_(False)
    model[3].bias.requires_grad_(False)
    check.exact("count", impl.trainable_parameters(model),
                hint="sum numel() of the parameters with requires_grad")
    frozen = copy.deepcopy(model).requires_grad_(False)
    check.exact("count_when_frozen", impl.trainable_parameters(frozen))
