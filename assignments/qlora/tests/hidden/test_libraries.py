"""Agreement with bitsandbytes and peft, where they are installed (the GPU image has peft).

Each test skips where its library cannot be imported, in the reference's run as well, so
that there it is "not measured" rather than failed. The libraries are never needed on a CPU.
"""

import copy

import pytest
import torch

import helpers


@pytest.mark.part("nf4")
def test_nf4_matches_bitsandbytes(impl, rng, check):
    functional = pytest.importorskip("bitsandbytes.functional", reason="bitsandbytes is not installed here")
    w = helpers.away_from_midpoints(torch.randn(257, 193, generator=rng), 64)
    try:
        quantized, state = functional.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=False)
    except Exception as error:  # noqa: BLE001 - no kernel for this device in this build
        pytest.skip(f"bitsandbytes cannot quantize on this device: {error}")
    packed, absmax = impl.quantize_nf4(w)
    # bitsandbytes pads an odd count with the code of zero (7) where this assignment leaves 0:
    # compare the codes of the real values, not the padding nibble.
    ours = helpers.unpack_codes(packed, w.numel())
    theirs = helpers.unpack_codes(quantized.reshape(-1).cpu(), w.numel())
    check.exact("codes_minus_bitsandbytes", ours.to(torch.int16) - theirs.to(torch.int16),
                hint="bitsandbytes puts the first code of each byte in the high nibble")
    check.exact("absmax_minus_bitsandbytes", absmax - state.absmax.float().cpu())


@pytest.mark.part("lora")
def test_lora_matches_peft(impl, rng, check):
    peft = pytest.importorskip("peft", reason="peft is not installed here")
    model = impl.TinyCausalLM(impl.TinyLMConfig())
    config = peft.LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)
    theirs = peft.inject_adapter_in_model(config, copy.deepcopy(model))
    ours = impl.inject_lora(copy.deepcopy(model), ["q_proj", "v_proj"], r=8, alpha=16)
    check.exact("trainable_minus_peft",
                impl.trainable_parameters(ours) - sum(p.numel() for p in theirs.parameters() if p.requires_grad))
    with torch.no_grad():  # the same non-zero adapters in both
        for name, module in theirs.named_modules():
            if hasattr(module, "lora_A") and "default" in getattr(module, "lora_A", {}):
                A = torch.randn(module.lora_A["default"].weight.shape, generator=rng) * 0.1
                B = torch.randn(module.lora_B["default"].weight.shape, generator=rng) * 0.1
                module.lora_A["default"].weight.copy_(A)
                module.lora_B["default"].weight.copy_(B)
                mine = ours.get_submodule(name)
                mine.lora_A.copy_(A)
                mine.lora_B.copy_(B)
        tokens = torch.randint(0, 16, (3, 17), generator=rng)
        difference = (ours(tokens) - theirs(tokens)).abs().max().item()
    check.bound("max_logit_difference_to_peft", difference, upper=1e-4,
                hint="peft computes base(x) + lora_B(lora_A(dropout(x))) * lora_alpha / r")
