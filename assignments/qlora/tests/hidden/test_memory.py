"""Weight memory, counted from the tensors a QLoRA layer holds (CPU; no GPU needed)."""

import math

import pytest
import torch

import helpers

RTOL, ATOL = 1e-4, 1e-4  # sums over up to 1024 inputs


def check_output(check, layer, rng, in_features):
    """Small storage is worth nothing unless the layer still computes x W^T (+ the adapter)."""
    helpers.set_adapter(layer, rng)
    check("output", layer(torch.randn(3, in_features, generator=rng)), rtol=RTOL, atol=ATOL,
          hint="the layer computes x dequantize(W)^T + (alpha / r) x A^T B^T")

pytestmark = pytest.mark.part("memory")


def _bits(layer, numel):
    return 8 * helpers.frozen_tensor_bytes(layer) / numel


def test_bits_per_weight_plain_absmax(impl, rng, check):
    base = helpers.linear_layer(1024, 768, rng, bias=False)
    layer = impl.QLoRALinear(base, r=8, alpha=16, double_quant=False)
    check.bound("bits_per_weight", _bits(layer, base.weight.numel()), lower=4.0, upper=4.5 + 8 * 128 / 786432,
                hint="4 bits of code + 32 / 64 bits of float32 absmax = 4.5; keep the packed weight and absmax "
                     "as buffers (register_buffer), and nothing else of the weight")
    check_output(check, layer, rng, 1024)


def test_bits_per_weight_double_quant(impl, rng, check):
    base = helpers.linear_layer(1024, 768, rng, bias=False)
    layer = impl.QLoRALinear(base, r=8, alpha=16)
    check.bound("bits_per_weight", _bits(layer, base.weight.numel()), lower=4.0, upper=4.127 + 8 * 128 / 786432,
                hint="with double quantization: 4 + 8/64 + 32/(64*256) = 4.127 bits; keep the int8 codes, the "
                     "scales and the offset, not the float32 absmax")
    check_output(check, layer, rng, 1024)


@pytest.mark.parametrize("double_quant", [True, False], ids=["double_quant", "plain_absmax"])
def test_bytes_of_an_odd_layer(impl, rng, check, double_quant):
    base = helpers.linear_layer(77, 101, rng, bias=False)  # 7777 weights
    layer = impl.QLoRALinear(base, r=4, alpha=8, double_quant=double_quant)
    n = base.weight.numel()
    blocks = math.ceil(n / 64)
    if double_quant:
        needed = math.ceil(n / 2) + blocks + 4 * math.ceil(blocks / 256) + 4
    else:
        needed = math.ceil(n / 2) + 4 * blocks
    check.bound("frozen_bytes", helpers.frozen_tensor_bytes(layer), lower=math.ceil(n / 2), upper=needed + 128,
                hint="ceil(n / 2) bytes of codes plus the block statistics, no more")
    check_output(check, layer, rng, 77)


def test_model_weight_memory_against_bf16(impl, rng, check):
    config = impl.TinyLMConfig(d_model=256, d_ff=1024, n_head=4)
    model = impl.TinyCausalLM(config)
    targets = set(impl.LORA_TARGETS)
    bf16_bytes = sum(2 * m.weight.numel() for name, m in model.named_modules()
                     if name.rsplit(".", 1)[-1] in targets)
    impl.inject_lora(model, impl.LORA_TARGETS, r=8, alpha=16, quantize=True)
    nf4_bytes = sum(helpers.frozen_tensor_bytes(m) for m in model.modules() if isinstance(m, impl.QLoRALinear))
    ratio = nf4_bytes / bf16_bytes
    check.bound("weight_memory_vs_bf16", ratio, upper=0.30,
                hint="QLoRA weights should take under 0.30x their bf16 bytes (4.127 / 16 = 0.258)")
    check("ratio_vs_reference", ratio, rtol=0.01, atol=0)
