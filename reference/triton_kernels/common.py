"""What every kernel of the assignment shares: imports, interpreter detection, launch helpers.

This file is the notebook's provided cell `imports`: graded submissions get it from the
grader's bundle, never from the student's copy.
"""

import math
import os

import torch
import triton
import triton.language as tl

# Under TRITON_INTERPRET=1 (a machine without a GPU) Triton runs every program of a kernel
# with numpy, one after the other: correct, but thousands of times slower than a GPU. Kernels
# then use one small block configuration and skip autotuning.
INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"


def tuning_configs(gpu_configs, interpreter_config):
    """The autotuner's candidate configurations: all of `gpu_configs` on a GPU, only
    `interpreter_config` under the interpreter (one config means no benchmarking)."""
    return [interpreter_config] if INTERPRET else gpu_configs


def multiprocessor_count(device) -> int:
    """How many streaming multiprocessors run programs at once (a small number on CPU)."""
    if torch.device(device).type == "cuda":
        return torch.cuda.get_device_properties(device).multi_processor_count
    return 4
