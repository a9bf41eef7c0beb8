"""Public tests of the qlora assignment: run them with `dlgrade check qlora.ipynb`.

Each asserts against something written independently of your code (bitsandbytes' table, a
brute-force nearest code, the LoRA formula in float64) so a failure here points at a bug.
"""

import pytest
import torch

import helpers


@pytest.mark.part("nf4")
def test_nf4_code_matches_bitsandbytes_table(impl, check):
    code = impl.NF4_CODE
    assert isinstance(code, torch.Tensor) and code.dtype == torch.float32 and code.shape == (16,), (
        "NF4_CODE should be a float32 tensor of 16 values")
    torch.testing.assert_close(code, helpers.BNB_NF4_TABLE, rtol=0, atol=1e-6,
                               msg="NF4_CODE differs from bitsandbytes' table: check the offset and the 8/7 split")
    check("nf4_code", code, rtol=0, atol=1e-6)


@pytest.mark.part("nf4")
def test_quantize_small_tensor(impl, rng, check):
    w = helpers.away_from_midpoints(torch.randn(3, 51, generator=rng), 64)  # 153 values: odd, last block short
    packed, absmax = impl.quantize_nf4(w, blocksize=64)
    assert packed.dtype == torch.uint8 and packed.shape == (77,), "153 codes pack into 77 bytes of uint8"
    assert absmax.dtype == torch.float32 and absmax.shape == (3,), "153 values make 3 blocks of at most 64"
    torch.testing.assert_close(absmax, helpers.block_absmax(w, 64), rtol=0, atol=0)
    codes = helpers.unpack_codes(packed, 153)
    expected = helpers.nearest_codes(w, 64, impl.NF4_CODE)
    assert torch.equal(codes, expected), f"{int((codes != expected).sum())} codes are not the nearest value"
    assert packed[-1] % 16 == 0, "an odd count leaves the last low nibble 0"
    check.exact("packed", packed)
    check.exact("absmax", absmax)


@pytest.mark.part("nf4")
def test_round_trip_error(impl, rng, check):
    w = torch.randn(256, 256, generator=rng)
    packed, absmax = impl.quantize_nf4(w)
    restored = impl.dequantize_nf4(packed, absmax, w.shape)
    codes = helpers.unpack_codes(packed, w.numel())
    expected = (impl.NF4_CODE[codes] * absmax.repeat_interleave(64)).reshape(w.shape)
    torch.testing.assert_close(restored, expected, rtol=1e-6, atol=0)
    mean_abs_error = (restored - w).abs().mean().item()
    assert mean_abs_error < 0.0745, f"mean |error| {mean_abs_error:.4f}; bitsandbytes gets about 0.0727"
    check("restored", restored, rtol=1e-6, atol=0)
    check.bound("mean_abs_error", mean_abs_error, upper=0.0745)


@pytest.mark.part("double_quant")
def test_double_quantize_by_hand(impl, check):
    absmax = torch.tensor([1.0, 2.0, 3.0, 4.0])
    q, scale, offset = impl.double_quantize(absmax)
    # offset = 2.5; x = [-1.5, -0.5, 0.5, 1.5]; scale = 1.5 / 127; q = round(x / scale)
    assert torch.equal(q, torch.tensor([-127, -42, 42, 127], dtype=torch.int8)), f"q is {q.tolist()}"
    torch.testing.assert_close(scale, torch.tensor([1.5 / 127]))
    torch.testing.assert_close(torch.as_tensor(offset, dtype=torch.float32), torch.tensor(2.5))
    restored = impl.double_dequantize(q, scale, offset)
    torch.testing.assert_close(restored, absmax, rtol=0, atol=1.5 / 127 / 2 + 1e-6)
    check.exact("q", q)
    check("scale", scale)
    check("restored", restored)


@pytest.mark.part("lora")
def test_lora_starts_at_base_then_adds_update(impl, rng, check):
    base = helpers.linear_layer(24, 16, rng)
    layer = impl.LoRALinear(base, r=4, alpha=8)
    x = torch.randn(2, 5, 24, generator=rng)
    torch.testing.assert_close(layer(x), base(x), msg="at initialisation B = 0, so LoRA must equal the base layer")
    helpers.set_adapter(layer, rng)
    out = layer(x)
    expected = helpers.lora_output(x, base.weight, base.bias, layer.lora_A, layer.lora_B, alpha=8, r=4).float()
    torch.testing.assert_close(out, expected, msg="y = x W^T + b + (alpha / r) x A^T B^T")
    check("output", out)


@pytest.mark.part("qlora")
def test_qlora_forward_uses_dequantized_weight(impl, rng, check):
    base = helpers.linear_layer(64, 40, rng)
    layer = impl.QLoRALinear(base, r=4, alpha=8, double_quant=False)
    x = torch.randn(3, 64, generator=rng)
    packed, absmax = impl.quantize_nf4(base.weight.detach())
    weight = impl.dequantize_nf4(packed, absmax, base.weight.shape)
    helpers.set_adapter(layer, rng)
    out = layer(x)
    expected = helpers.lora_output(x, weight, base.bias, layer.lora_A, layer.lora_B, alpha=8, r=4).float()
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    check("output", out, rtol=1e-5, atol=1e-5)


@pytest.mark.part("qlora")
def test_inject_lora_trains_only_adapters(impl, check):
    model = impl.TinyCausalLM(impl.TinyLMConfig())
    impl.inject_lora(model, ["q_proj", "v_proj"], r=8, alpha=16)
    # 2 blocks x 2 layers x r (in + out) = 4 x 8 x (64 + 64)
    assert impl.trainable_parameters(model) == 4096
    names = sorted(name for name, p in model.named_parameters() if p.requires_grad)
    assert len(names) == 8 and all("lora_" in name for name in names), f"trainable: {names}"
    check.exact("trainable_parameters", impl.trainable_parameters(model))


@pytest.mark.part("memory")
def test_nf4_layer_stores_about_four_and_a_half_bits(impl, rng, check):
    base = helpers.linear_layer(256, 128, rng, bias=False)
    layer = impl.QLoRALinear(base, r=8, alpha=16, double_quant=False)
    bits = 8 * helpers.frozen_tensor_bytes(layer) / base.weight.numel()
    upper = 4.5 + 8 * 128 / base.weight.numel()  # 4 + 32/64, and 128 bytes of slack for small extras
    assert 4.0 <= bits <= upper, (
        f"{bits:.3f} bits per weight: expect 4 for the codes + 32/64 for absmax (register them as buffers)")
    check.bound("bits_per_weight", bits, lower=4.0, upper=upper)
    x = torch.randn(3, 256, generator=rng)
    check("output", layer(x), rtol=1e-4, atol=1e-4, hint="the layer still computes x dequantize(W)^T")


@pytest.mark.part("finetune")
def test_finetune_trains_qlora_adapters(impl, rng, check):
    model = impl.TinyCausalLM(impl.TinyLMConfig())
    untouched = helpers.untouched_tensors(model)
    losses = impl.finetune(model, impl.shift_task, steps=5, generator=rng)
    assert len(losses) == 5 and all(isinstance(loss, float) for loss in losses), "one float loss per step"
    quantized = sum(isinstance(module, impl.QLoRALinear) for module in model.modules())
    assert quantized > 0, "finetune should use QLoRALinear layers (quantize=True by default)"
    after = model.state_dict()
    assert all(torch.equal(after[name], tensor) for name, tensor in untouched.items()), (
        "embeddings, LayerNorms and the head must stay frozen")
    check.bound("quantized_layers", quantized, lower=1)
