"""Peak GPU memory of a QLoRA training step against bf16 LoRA, measured in the same run.

check.perf scores baseline / student. Here both are peak memory in GiB (not seconds): the
ratio is how many times less memory QLoRA needs than bf16 LoRA for the same model, batch and
adapters. The engine's sanity check compares the figures with the run's wall time in seconds,
so they are reported in GiB, which stay far below it.
"""

import pytest
import torch
from autograder.harness.perf import skip_without_gpu

import gpu_memory

pytestmark = pytest.mark.part("memory_perf")

GIB = 2 ** 30


@pytest.mark.timeout(600)
def test_peak_training_memory_vs_bf16_lora(impl, seed, check):
    skip_without_gpu()
    # 24 layers of d=2048 (1.2 B parameters in the targeted layers): weights dominate the peak,
    # as they do when fine-tuning a large model on short sequences.
    config = impl.TinyLMConfig(vocab_size=256, max_seq_len=64, n_layer=24, n_head=16, d_model=2048, d_ff=8192)
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, config.vocab_size, (2, 64), generator=generator).cuda()
    targets = impl.LORA_TARGETS

    def baseline():
        return gpu_memory.baseline_inject(gpu_memory.build_bf16_model(impl, config, seed), targets, r=16, alpha=32)

    def student():
        model = gpu_memory.build_bf16_model(impl, config, seed)
        return impl.inject_lora(model, targets, r=16, alpha=32, quantize=True)

    gpu_memory.warm_up()
    baseline_peaks, baseline_resident = gpu_memory.peak_training_bytes(baseline, tokens)
    student_peaks, student_resident = gpu_memory.peak_training_bytes(student, tokens)
    student_peak, baseline_peak = max(student_peaks), max(baseline_peaks)
    # Steps after the first hold the same tensors; a difference between them is the spread.
    spread = abs(student_peaks[-1] - student_peaks[-2]) / student_peak
    check.perf("peak_training_memory", student_s=student_peak / GIB, baseline_s=baseline_peak / GIB, spread=spread,
               details={"qlora_peak_GiB": student_peak / GIB, "bf16_lora_peak_GiB": baseline_peak / GIB,
                        "qlora_resident_GiB": student_resident / GIB,
                        "bf16_lora_resident_GiB": baseline_resident / GIB,
                        "memory_saving_x": baseline_peak / student_peak})
