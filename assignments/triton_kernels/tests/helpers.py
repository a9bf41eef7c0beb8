"""Shared by the triton_kernels tests (importable as `helpers`).

Everything here runs inside the sandbox: it builds inputs, computes independent torch
references for the public tests' own assertions, counts Triton launches and times kernels on
a GPU with the shared `autograder.harness.perf.time_interleaved`. It never decides a score:
the values go to `check`.
"""

from __future__ import annotations

import contextlib
import math

import torch
from autograder.harness.perf import skip_without_gpu, time_interleaved

ON_GPU = torch.cuda.is_available()

# The interpreter (CPU) has no bfloat16 arithmetic, so bf16 cases exist only on a GPU: on CPU
# they are not collected at all rather than reported as failures.
FLOAT_DTYPES = [torch.float32, torch.float16] + ([torch.bfloat16] if ON_GPU else [])
HALF_DTYPES = [torch.float16] + ([torch.bfloat16] if ON_GPU else [])


def randn(rng, *shape, dtype=torch.float32, device="cpu", scale=1.0, offset=0.0):
    """Normal samples drawn on the CPU from the test's generator (the same numbers on every
    machine), then cast and moved."""
    x = torch.randn(*shape, generator=rng, dtype=torch.float32) * scale + offset
    return x.to(dtype).to(device)


def dtype_id(dtype) -> str:
    return str(dtype).replace("torch.", "")


# --- independent references (public tests assert against these) -------------------------

def attention_reference(q, k, v, causal=False, sm_scale=None):
    """Plain attention in float64: (out, lse), the causal mask aligned bottom-right."""
    n_queries, n_keys, head_dim = q.shape[-2], k.shape[-2], q.shape[-1]
    scale = 1.0 / math.sqrt(head_dim) if sm_scale is None else sm_scale
    scores = (q.double() @ k.double().transpose(-1, -2)) * scale  # (B, H, Nq, Nk)
    if causal:
        visible = torch.ones(n_queries, n_keys, dtype=torch.bool, device=q.device).tril(diagonal=n_keys - n_queries)
        scores = scores.masked_fill(~visible, float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)
    out = torch.softmax(scores, dim=-1) @ v.double()
    return out, lse


def relative_frobenius_error(actual, expected) -> float:
    actual, expected = actual.double(), expected.double()
    return float((actual - expected).norm() / expected.norm().clamp_min(1e-30))


# --- did the implementation launch a Triton kernel? ----------------------------------------

def _launcher_classes():
    classes = []
    try:
        from triton.runtime.jit import JITFunction

        classes.append(JITFunction)
    except ImportError:
        pass
    try:
        from triton.runtime.interpreter import InterpretedFunction

        classes.append(InterpretedFunction)
    except ImportError:
        pass
    return classes


@contextlib.contextmanager
def count_triton_launches():
    """Counts kernel launches (`kernel[grid](...)`, directly or through the autotuner) made
    inside the block, compiled or interpreted. Yields a dict whose "launches" grows."""
    counter = {"launches": 0}
    restore = []
    for cls in _launcher_classes():
        own = "run" in cls.__dict__
        original = cls.run

        def counting_run(self, *args, _original=original, **kwargs):
            if not kwargs.get("warmup", False):
                counter["launches"] += 1
            return _original(self, *args, **kwargs)

        cls.run = counting_run
        restore.append((cls, own, original))
    try:
        yield counter
    finally:
        for cls, own, original in restore:
            if own:
                cls.run = original
            else:
                del cls.run


# --- the perf cases (public and hidden tests call these) ------------------------------------

def _cuda_generator(seed):
    return torch.Generator(device="cuda").manual_seed(seed)


def softmax_speed(impl, check, seed, n_cols, n_rows=4096):
    """fp32 softmax of (4096, N) against a copy of the same bytes: the ratio is the fraction
    of the copy bandwidth the kernel reaches (a softmax must read and write every element)."""
    skip_without_gpu()
    x = torch.randn(n_rows, n_cols, device="cuda", generator=_cuda_generator(seed))
    out = impl.softmax(x)
    check("rows_sample", out[:: n_rows // 16], hint="the output is wrong at this size; the correctness tests say more")
    copy_out = torch.empty_like(x)
    medians, spread = time_interleaved({
        "student": lambda: impl.softmax(x),
        "baseline": lambda: copy_out.copy_(x),
        "torch": lambda: torch.softmax(x, dim=-1),
    })
    moved = 2 * x.numel() * x.element_size()  # read once, write once
    check.perf(f"softmax_n{n_cols}", student_s=medians["student"], baseline_s=medians["baseline"], spread=spread,
               details={"GB/s": moved / medians["student"] / 1e9, "copy GB/s": moved / medians["baseline"] / 1e9,
                        "torch.softmax GB/s": moved / medians["torch"] / 1e9,
                        "vs torch.softmax": medians["torch"] / medians["student"]})


def layer_norm_speed(impl, check, seed, n_cols, elements=2**26):
    """fp16 layer norm forward of (2**26 / N, N) against F.layer_norm."""
    skip_without_gpu()
    import torch.nn.functional as F

    generator = _cuda_generator(seed)
    n_rows = elements // n_cols
    x = torch.randn(n_rows, n_cols, device="cuda", generator=generator).half()
    weight = torch.randn(n_cols, device="cuda", generator=generator).half()
    bias = torch.randn(n_cols, device="cuda", generator=generator).half()
    y = impl.layer_norm(x, weight, bias)
    check("rows_sample", y[:: n_rows // 16], hint="the output is wrong at this size; the correctness tests say more")
    medians, spread = time_interleaved({
        "student": lambda: impl.layer_norm(x, weight, bias),
        "baseline": lambda: F.layer_norm(x, (n_cols,), weight, bias),
    })
    moved = 2 * x.numel() * x.element_size()
    check.perf(f"layer_norm_n{n_cols}", student_s=medians["student"], baseline_s=medians["baseline"], spread=spread,
               details={"GB/s": moved / medians["student"] / 1e9, "F.layer_norm GB/s": moved / medians["baseline"] / 1e9})


def matmul_speed(impl, check, seed, size):
    """fp16 (size x size) @ (size x size) against cuBLAS (torch.matmul)."""
    skip_without_gpu()
    generator = _cuda_generator(seed)
    a = torch.randn(size, size, device="cuda", generator=generator).half()
    b = torch.randn(size, size, device="cuda", generator=generator).half()
    c = impl.matmul(a, b)
    check("c_sample", c[::64, ::64], rel_fro=1e-3, hint="the output is wrong at this size; the correctness tests say more")
    medians, spread = time_interleaved({
        "student": lambda: impl.matmul(a, b),
        "baseline": lambda: torch.matmul(a, b),
    }, rounds=30)
    flops = 2 * size**3
    check.perf(f"matmul_{size}", student_s=medians["student"], baseline_s=medians["baseline"], spread=spread,
               details={"TFLOP/s": flops / medians["student"] / 1e12, "cuBLAS TFLOP/s": flops / medians["baseline"] / 1e12})


def flash_attention_speed(impl, check, seed, causal, batch=4, heads=32, n_ctx=4096, head_dim=64):
    """fp16 attention forward at B=4, H=32, N=4096, D=64 against F.scaled_dot_product_attention."""
    skip_without_gpu()
    import torch.nn.functional as F

    generator = _cuda_generator(seed)
    q, k, v = (torch.randn(batch, heads, n_ctx, head_dim, device="cuda", generator=generator).half() for _ in range(3))
    out, lse = impl.flash_attention(q, k, v, causal=causal)
    check("out_sample", out[:, :, ::128], rtol=2e-3, atol=2e-3,
          hint="the output is wrong at this size; the correctness tests say more")
    check("lse_sample", lse[:, :, ::128], rtol=1e-4, atol=1e-4)
    medians, spread = time_interleaved({
        "student": lambda: impl.flash_attention(q, k, v, causal=causal),
        "baseline": lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
    }, rounds=30)
    flops = 4 * batch * heads * n_ctx * n_ctx * head_dim * (0.5 if causal else 1.0)
    check.perf("flash_attention_causal" if causal else "flash_attention_full",
               student_s=medians["student"], baseline_s=medians["baseline"], spread=spread,
               details={"TFLOP/s": flops / medians["student"] / 1e12, "SDPA TFLOP/s": flops / medians["baseline"] / 1e12})
