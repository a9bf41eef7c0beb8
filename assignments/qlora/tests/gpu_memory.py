"""Peak training memory on a GPU, for the hidden perf test (not released).

The baseline is bf16 LoRA as peft does it: the frozen bf16 weight kept as it is and two small
trainable factors beside it. It is written here, not taken from the submission, so that a slow
or wasteful LoRALinear cannot make the QLoRA ratio look better.
"""

import gc
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

class BaselineLoRALinear(nn.Module):
    """bf16 LoRA as peft does it: the frozen weight kept as it is, A and B beside it."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.base.weight.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, dtype=base.weight.dtype, device=base.weight.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=base.weight.dtype, device=base.weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scaling = alpha / r

    def forward(self, x):
        return self.base(x) + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scaling


def baseline_inject(model, targets, r, alpha):
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear) and name in targets:
                setattr(parent, name, BaselineLoRALinear(child, r, alpha))
    return model


def warm_up(device="cuda"):
    """One small bf16 and float32 training step, so that cuBLAS's workspaces (allocated on first
    use, through the caching allocator) are already there for whichever variant is measured
    first, instead of counting against the second."""
    for dtype in (torch.bfloat16, torch.float32):
        layer = nn.Linear(64, 64, device=device, dtype=dtype)
        x = torch.randn(8, 64, device=device, dtype=dtype, requires_grad=True)
        (layer(x) @ layer.weight).sum().backward()


def peak_training_bytes(build, tokens, steps=3):
    """Peak CUDA memory allocated while `steps` AdamW steps train the model `build()` returns,
    counted from after the model is built (its weights included, construction garbage not).
    Returns (peak bytes of every step, resident bytes before training)."""
    model = build()
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    resident = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    peaks = []
    for _ in range(steps):
        logits = model(tokens[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tokens[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        torch.cuda.synchronize()
        peaks.append(torch.cuda.max_memory_allocated())
        torch.cuda.reset_peak_memory_stats()
    del model, optimizer, logits, loss
    gc.collect()
    torch.cuda.empty_cache()
    return peaks, resident


def build_bf16_model(impl, config, rng_seed, device="cuda"):
    """The notebook's TinyCausalLM in bf16 on the GPU, initialised from `rng_seed`."""
    torch.manual_seed(rng_seed)
    with torch.device(device):
        model = impl.TinyCausalLM(config)
    return model.to(torch.bfloat16)
