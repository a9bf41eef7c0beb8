"""GPU memory figures of the qlora assignment (reference solution), for assignments/qlora/PERF.md.

For a model (the notebook's TinyCausalLM at GPU scale, bf16) with adapters on every linear
layer, three variants, each built and trained for three AdamW steps in turn in this process:
- bf16 LoRA: the frozen bf16 weights and the adapters (the baseline of the perf test);
- QLoRA: the reference's `inject_lora(..., quantize=True)` (NF4 + double quantization, with the
  dequantized weight recomputed in backward);
- naive QLoRA: the same 4-bit storage, but forward calls `F.linear` on the dequantized weight,
  so autograd keeps every layer's bf16 weight alive until backward (the `qlora` mutant).

Printed per variant: weight bytes of the targeted layers counted from tensors, resident memory
after building, peak memory over the steps (`torch.cuda.max_memory_allocated`), and the median
time of a step. Peak memory is what the perf test scores: bf16 LoRA peak / QLoRA peak.

    python3 bench/gpu_qlora.py [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "reference"), str(ROOT / "assignments" / "qlora" / "tests")]

import gpu_memory  # noqa: E402  (the perf test's own baseline and measurement)
import qlora  # noqa: E402  (the reference package)

GIB = 2 ** 30
DEVICE = "cuda"


def _fake_cuda():
    """--smoke: run every code path on the CPU; the memory figures are meaningless (zeros)."""
    global DEVICE
    DEVICE = "cpu"

    class Event:
        def __init__(self, enable_timing=False):
            self.t = 0.0

        def record(self):
            self.t = time.perf_counter()

        def elapsed_time(self, other):
            return (other.t - self.t) * 1e3

    for name in ("synchronize", "empty_cache", "reset_peak_memory_stats"):
        setattr(torch.cuda, name, lambda *args, **kwargs: None)
    torch.cuda.memory_allocated = lambda *args, **kwargs: 1
    torch.cuda.max_memory_allocated = lambda *args, **kwargs: 1
    torch.cuda.Event = Event
    torch.cuda.get_device_name = lambda *args: "CPU (smoke test)"


class NaiveQLoRALinear(qlora.QLoRALinear):
    """4-bit storage, but autograd saves the dequantized weight for backward."""

    def forward(self, x):
        weight = self.dequantized_weight().to(x.dtype)
        out = F.linear(x, weight)
        return out + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scaling


def naive_inject(model, targets, r, alpha):
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.Linear) and name in targets:
                setattr(parent, name, NaiveQLoRALinear(child, r, alpha))
    return model


def frozen_linear_bytes(model, targets):
    """Bytes of the frozen tensors of the targeted layers (adapters and everything else excluded)."""
    total = 0
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] in targets:
            for tensor in list(module.parameters()) + list(module.buffers()):
                if not tensor.requires_grad:
                    total += tensor.numel() * tensor.element_size()
    return total


def step_time(model, tokens, steps=5):
    """Median seconds of one forward + backward + AdamW step (CUDA events)."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    times = []
    for i in range(steps + 2):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        logits = model(tokens[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tokens[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        end.record()
        torch.cuda.synchronize()
        if i >= 2:
            times.append(start.elapsed_time(end) / 1e3)
    return sorted(times)[len(times) // 2]


def measure(name, build, tokens, targets):
    peaks, resident = gpu_memory.peak_training_bytes(build, tokens)
    model = build()
    weights = frozen_linear_bytes(model, targets)
    seconds = step_time(model, tokens)
    del model
    torch.cuda.empty_cache()
    return {"variant": name, "weight_GiB": weights / GIB, "resident_GiB": resident / GIB,
            "peak_GiB": max(peaks) / GIB, "step_peaks_GiB": [p / GIB for p in peaks], "step_s": seconds}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU, fake memory figures: "
                                                             "checks that the script runs")
    options = parser.parse_args()
    if options.smoke:
        _fake_cuda()
    elif not torch.cuda.is_available():
        print("needs a CUDA GPU")
        return 1
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}, python {sys.version.split()[0]}")
    targets = qlora.LORA_TARGETS
    r, alpha = 16, 32
    gpu_memory.warm_up(DEVICE)
    rows = []
    if options.smoke:
        cases = [("smoke", dict(n_layer=2, d_model=64, d_ff=256, n_head=4), (2, 16))]
    else:
        cases = [
            ("test: 24 x d2048, batch 2 x 64", dict(n_layer=24, d_model=2048, d_ff=8192, n_head=16), (2, 64)),
            ("24 x d2048, batch 8 x 256", dict(n_layer=24, d_model=2048, d_ff=8192, n_head=16), (8, 256)),
            ("8 x d4096, batch 2 x 64", dict(n_layer=8, d_model=4096, d_ff=16384, n_head=32), (2, 64)),
        ]
    for label, sizes, (batch, length) in cases:
        config = qlora.TinyLMConfig(vocab_size=256, max_seq_len=length, **sizes)
        tokens = torch.randint(0, 256, (batch, length), generator=torch.Generator().manual_seed(0)).to(DEVICE)
        builds = {
            "bf16 LoRA": lambda: gpu_memory.baseline_inject(
                gpu_memory.build_bf16_model(qlora, config, 0, DEVICE), targets, r, alpha),
            "QLoRA (reference)": lambda: qlora.inject_lora(
                gpu_memory.build_bf16_model(qlora, config, 0, DEVICE), targets, r, alpha, quantize=True),
            "QLoRA, F.linear on dequantized W": lambda: naive_inject(
                gpu_memory.build_bf16_model(qlora, config, 0, DEVICE), targets, r, alpha),
        }
        results = [measure(name, build, tokens, targets) for name, build in builds.items()]
        baseline = results[0]
        for result in results:
            result.update(case=label, peak_saving_x=baseline["peak_GiB"] / result["peak_GiB"],
                          weight_ratio=result["weight_GiB"] / baseline["weight_GiB"])
            rows.append(result)
        torch.cuda.synchronize()

    # NF4 quantize / dequantize throughput on one 8192 x 8192 weight.
    side = 256 if options.smoke else 8192
    weight = torch.randn(side, side, device=DEVICE, dtype=torch.bfloat16)
    for _ in range(2):
        packed, absmax = qlora.quantize_nf4(weight)
        qlora.dequantize_nf4(packed, absmax, weight.shape)
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(10):
        qlora.dequantize_nf4(packed, absmax, weight.shape).to(torch.bfloat16)
    torch.cuda.synchronize()
    dequant_s = (time.perf_counter() - started) / 10

    print(f"\nadapters r={r}, alpha={alpha} on {', '.join(targets)}; 3 AdamW steps; peak = max_memory_allocated")
    header = f"{'case':<32} {'variant':<34} {'weights GiB':>11} {'resident':>9} {'peak GiB':>9} {'saving':>7} {'step ms':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['case']:<32} {row['variant']:<34} {row['weight_GiB']:>11.3f} {row['resident_GiB']:>9.3f} "
              f"{row['peak_GiB']:>9.3f} {row['peak_saving_x']:>6.2f}x {row['step_s'] * 1e3:>8.1f}")
    print(f"\ndequantize_nf4 + cast to bf16 of a {side}x{side} weight: {dequant_s * 1e3:.2f} ms "
          f"({side * side * 2 / dequant_s / 1e9:.0f} GB/s of bf16 written)")
    if options.json:
        options.json.write_text(json.dumps({"rows": rows, "dequant_8192_s": dequant_s}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
