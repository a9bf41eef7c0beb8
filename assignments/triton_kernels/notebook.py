# %% [markdown]
# # GPU kernels in Triton
#
# You will write four GPU kernels in [Triton](https://triton-lang.org), the Python dialect in
# which most of the fused kernels of modern training and inference stacks are written:
#
# 1. **softmax**: a fused row softmax, one read and one write of the tensor;
# 2. **layer_norm**: layer normalisation with a forward *and* a backward kernel;
# 3. **matmul**: a tiled matrix multiplication on the tensor cores, with a fused activation;
# 4. **flash_attention**: attention that never writes the $N \times N$ score matrix.
#
# Each is a kernel (`@triton.jit`) plus a host function that allocates the output and launches
# it. Calling torch's own operator for the op (`torch.softmax`, `F.layer_norm`, `torch.matmul`,
# `F.scaled_dot_product_attention`, ...) inside your functions is forbidden: the grader finds
# such calls in your source and again at run time.
#
# ## How you are graded
#
# | part | points | graded on |
# | --- | --- | --- |
# | softmax, layer_norm, matmul, flash_attention (correctness) | 15, 20, 20, 25 | any machine: on a CPU, Triton's interpreter runs your kernels (small shapes, no bf16) |
# | softmax_perf, layer_norm_perf, matmul_perf, flash_attention_perf | 5 each | an NVIDIA H200 only; elsewhere "not measured here" |
#
# **Performance targets** (full credit; credit falls linearly to zero at the lower ratio).
# Every measurement times your function and the baseline alternately in the same run, flushes
# the L2 cache between calls and takes the median of many rounds.
#
# | case | baseline | full credit | zero | the reference on an H200 |
# | --- | --- | --- | --- | --- |
# | softmax, fp32, 4096 x N, N = 4096, 8192, 32768 | copying the same bytes | 0.85 x copy bandwidth | 0.5 | 0.96-0.98 x copy (3.6-4.0 TB/s) |
# | layer_norm forward, fp16, 2^26 elements, N = 1024, 4096, 8192 | `F.layer_norm` | 1.0 x | 0.5 | 1.46-2.15 x |
# | matmul, fp16, 4096^3 and 8192^3 | cuBLAS (`torch.matmul`) | 0.85 x | 0.4 | 0.96 x, 1.00 x |
# | flash_attention, fp16, B=4, H=32, N=4096, D=64 | `F.scaled_dot_product_attention` | 0.70 x (0.60 x causal) | 0.3 (0.25) | 0.89 x, 0.89 x causal |
#
# Check your work locally with `dlgrade check notebook.ipynb` (the public tests; on a machine
# without a GPU, `TRITON_INTERPRET=1 dlgrade check notebook.ipynb`) and the self-check cells
# below. On a machine without a GPU, run the next cell first: it switches
# Triton to its interpreter, which executes every program of a kernel with numpy, one after
# another. It is slow, so keep local test shapes small.

# %%
import os

import torch

if not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"  # must be set before triton is imported
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
print("running on", DEVICE, "(Triton interpreter)" if DEVICE == "cpu" else "")

# %% [markdown]
# The cell below is provided and graded as is (your copy of it is replaced by the original).
# `tuning_configs` lets a kernel autotune over several configurations on a GPU but use a
# single small one under the interpreter.

# %% [provided id=imports]
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

# %% [markdown]
# ## 0. Why write kernels at all: the roofline
#
# A GPU kernel is limited by one of two things: how fast it can move bytes between device
# memory (HBM) and the chip, or how fast it can do arithmetic. For an H200:
#
# ```
#   HBM (141 GB) ──4.8 TB/s──▶ L2 (60 MB) ──▶ 132 SMs: registers + shared memory ──▶ tensor cores
#                                                                                   ~990 TFLOP/s bf16/fp16
# ```
#
# The **arithmetic intensity** of a kernel is FLOPs per byte moved. Below the *ridge point*
# (990e12 / 4.8e12 ≈ 206 FLOP/byte) the kernel is memory-bound: the best it can do is stream
# its bytes at full bandwidth. Softmax and layer norm do a handful of FLOPs per element: they
# are deep in the memory-bound region, so the whole game is to **touch every byte once**.
# `torch.softmax` in eager PyTorch is one kernel, but a softmax written as `x - max`, `exp`,
# `sum`, `/` is four kernels and ~4x the traffic. Fusing them is the point of part 1 and 2.
# A large matmul has intensity ~N/3 and is compute-bound: there the game is to keep the
# tensor cores fed (part 3). Attention is in between; flash attention turns it from
# memory-bound (writing N^2 scores) into compute-bound (part 4).

# %%
import numpy as np

try:
    import matplotlib.pyplot as plt
except ImportError:  # the plots are optional; the numbers are printed either way
    plt = None

peak_flops, bandwidth = 990e12, 4.8e12  # H200 datasheet, dense fp16 and HBM
ops = {  # FLOPs per byte of HBM traffic
    "softmax fp32 (~5 FLOP / 8 B)": 5 / 8,
    "layer norm fp16 (~8 FLOP / 4 B)": 2.0,
    "attention N=4096 D=64, flash": 4 * 4096 * 64 / (4 * 64 * 2),
    "matmul 4096^3 fp16": 2 * 4096**3 / (3 * 4096**2 * 2),
}
for name, x in ops.items():
    bound = "memory" if x < peak_flops / bandwidth else "compute"
    print(f"{name:34s} {x:8.1f} FLOP/B -> at most {min(peak_flops, bandwidth * x) / 1e12:6.1f} TFLOP/s ({bound}-bound)")
if plt is not None:
    intensity = np.logspace(-1, 4, 200)
    plt.figure(figsize=(6, 3.5))
    plt.loglog(intensity, np.minimum(peak_flops, bandwidth * intensity) / 1e12, "k-")
    for (name, x), color in zip(ops.items(), ["C0", "C1", "C2", "C3"]):
        plt.loglog([x], [min(peak_flops, bandwidth * x) / 1e12], "o", color=color, label=name)
    plt.axvline(peak_flops / bandwidth, ls=":", color="gray")
    plt.xlabel("arithmetic intensity (FLOP / byte)")
    plt.ylabel("attainable TFLOP/s")
    plt.title("H200 roofline")
    plt.legend(fontsize=7)
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ### Triton in one paragraph
#
# A Triton kernel is a function run by a **grid of programs**; each program works on *blocks*
# (tensors whose shapes are powers of two known at compile time, `tl.constexpr`). Inside,
# `tl.arange`, `tl.load(ptr + offsets, mask=...)`, arithmetic on whole blocks, reductions
# (`tl.max`, `tl.sum`), `tl.dot` (tensor cores) and `tl.store`. Triton decides how a block is
# spread over the threads of the program (`num_warps` warps of 32 threads), vectorises loads,
# and pipelines loops (`num_stages`). Masks are how a power-of-two block handles any size:
# lanes past the end load `other` and their stores are dropped.
#
# ```
#   x: (n_rows, n_cols) in memory       program r loads row r as one block of BLOCK lanes
#   row r ─▶ [ x0 x1 x2 ... x(N-1) | -inf -inf ... ]   (lanes >= N masked: other=-inf)
#              └─────── N ───────┘   └─ BLOCK - N ─┘
# ```

# %% [markdown]
# ## 1. Softmax
#
# For a row $x \in \mathbb{R}^N$: $\mathrm{softmax}(x)_i = e^{x_i} / \sum_j e^{x_j}$. In fp32
# `exp` overflows above ~88, so compute it as $e^{x_i - m} / \sum_j e^{x_j - m}$ with
# $m = \max_j x_j$: mathematically the same, and every exponent is $\le 0$. A masked lane
# loads $-\infty$: it never wins the max and its $e^{-\infty} = 0$ adds nothing to the sum.
# Logits that are $-\infty$ in the input (masked positions) must give probability 0, not NaN.
#
# **One program per row.** When a row fits in registers (N up to 32768 here), one program
# loads it once, computes max, exp and sum on chip, and writes the result once: 2 x 4 N bytes
# per row in fp32, the minimum possible. The target is therefore expressed as a fraction of
# the bandwidth of a plain copy of the same bytes.
#
# **Longer rows: the online softmax.** If the row does not fit, stream it in chunks. Keep a
# running maximum $m$ and a running sum $s = \sum e^{x_j - m}$ over the elements seen so far.
# When a chunk raises the maximum to $m'$, the old sum was computed relative to the wrong
# maximum; fix it by rescaling:
#
# $$ s' = s \, e^{m - m'} + \sum_{j \in \text{chunk}} e^{x_j - m'} $$
#
# One pass computes $(m, s)$, a second pass writes $e^{x_i - m}/s$: two reads and one write
# instead of three reads. Keep in mind this rescaling trick: it is the heart of flash attention.
#
# **Your task.** `softmax(x)` for a 2-D tensor (any N, any strides: rows of a slice are not
# `N` apart in memory, and a transposed view has `x.stride(1) != 1`), fp32/fp16/bf16, output
# in the input's dtype, computed in fp32. Target: ≥ 0.85 x copy bandwidth at N = 4096, 8192,
# 32768 (fp32, 4096 rows). Hint: the number of warps per program should grow with N, about
# 16 to 32 values per thread.

# %% [solution id=softmax]
# A row of up to this many elements is held in registers by one program (one read, one
# write). Longer rows are streamed in chunks with the online softmax (two reads, one write).
SOFTMAX_MAX_FUSED_COLS = 32768
SOFTMAX_CHUNK = 4096


@triton.jit
def softmax_kernel(
    out_ptr,            # (n_rows, n_cols) output, contiguous
    in_ptr,             # (n_rows, n_cols) input, any strides
    in_row_stride,      # elements between two rows of the input
    in_col_stride,      # elements between two columns of the input (1 when contiguous)
    n_cols,             # row length N
    BLOCK: tl.constexpr,  # power of two >= n_cols: the whole row is one block
):
    """One program normalises one row held entirely in registers.

    Teaches: masking a power-of-two block down to any N (masked lanes read -inf, whose exp is
    0), the max shift that keeps exp from overflowing, and fp32 arithmetic on fp16/bf16 data.
    """
    ### BEGIN SOLUTION
    row = tl.program_id(0).to(tl.int64)  # int64: row * stride can pass 2**31 elements
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(in_ptr + row * in_row_stride + cols * in_col_stride, mask=mask, other=-float("inf"))
    x = x.to(tl.float32)
    shifted = x - tl.max(x, axis=0)  # every exponent <= 0: exp cannot overflow
    numerator = tl.exp(shifted)
    denominator = tl.sum(numerator, axis=0)
    y = numerator / denominator
    tl.store(out_ptr + row * n_cols + cols, y.to(out_ptr.dtype.element_ty), mask=mask)
    ### END SOLUTION


@triton.jit
def softmax_online_kernel(
    out_ptr,            # (n_rows, n_cols) output, contiguous
    in_ptr,             # (n_rows, n_cols) input, any strides
    in_row_stride,      # elements between two rows of the input
    in_col_stride,      # elements between two columns of the input
    n_cols,             # row length N, larger than one block
    BLOCK: tl.constexpr,  # chunk of the row processed per step
):
    """One program streams one long row in chunks, twice.

    Teaches the online softmax (Milakov & Gimelshein, 2018): a running maximum m and a running
    sum s of exp(x - m) are updated chunk by chunk; when the maximum grows from m to m', the
    sum so far is rescaled by exp(m - m'). Each lane keeps its own (m, s) so the loop needs no
    reduction; the lanes are merged once at the end. The second pass writes exp(x - m) / s.
    Flash attention applies the same trick to the rows of QK^T.
    """
    ### BEGIN SOLUTION
    row = tl.program_id(0).to(tl.int64)
    row_in = in_ptr + row * in_row_stride
    row_out = out_ptr + row * n_cols
    cols = tl.arange(0, BLOCK)
    lane_max = tl.full((BLOCK,), -float("inf"), tl.float32)
    lane_sum = tl.zeros((BLOCK,), tl.float32)
    for start in range(0, n_cols, BLOCK):
        mask = start + cols < n_cols
        x = tl.load(row_in + (start + cols) * in_col_stride, mask=mask, other=-float("inf")).to(tl.float32)
        new_max = tl.maximum(lane_max, x)
        # A lane that has seen only -inf keeps max -inf; shift by 0 there to avoid inf - inf.
        shift = tl.where(new_max == -float("inf"), 0.0, new_max)
        lane_sum = lane_sum * tl.exp(lane_max - shift) + tl.exp(x - shift)
        lane_max = new_max
    row_max = tl.max(lane_max, axis=0)
    row_sum = tl.sum(lane_sum * tl.exp(lane_max - row_max), axis=0)
    for start in range(0, n_cols, BLOCK):
        mask = start + cols < n_cols
        x = tl.load(row_in + (start + cols) * in_col_stride, mask=mask, other=-float("inf")).to(tl.float32)
        y = tl.exp(x - row_max) / row_sum
        tl.store(row_out + start + cols, y.to(out_ptr.dtype.element_ty), mask=mask)
    ### END SOLUTION


def softmax(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension of a 2-D tensor (any strides, fp32/fp16/bf16)."""
    ### BEGIN SOLUTION
    if x.dim() != 2:
        raise ValueError(f"softmax expects a 2-D tensor, got shape {tuple(x.shape)}")
    n_rows, n_cols = x.shape
    out = torch.empty((n_rows, n_cols), dtype=x.dtype, device=x.device)
    if n_rows == 0 or n_cols == 0:
        return out
    block = triton.next_power_of_2(n_cols)
    if block <= SOFTMAX_MAX_FUSED_COLS:
        # About 16 fp32 values per thread: more warps for longer rows.
        num_warps = 4 if block <= 2048 else 8 if block <= 8192 else 16
        softmax_kernel[(n_rows,)](out, x, x.stride(0), x.stride(1), n_cols, BLOCK=block, num_warps=num_warps)
    else:
        softmax_online_kernel[(n_rows,)](
            out, x, x.stride(0), x.stride(1), n_cols, BLOCK=SOFTMAX_CHUNK, num_warps=8
        )
    return out
    ### END SOLUTION

# %% [markdown]
# Self-check against torch (small shapes, fast even in the interpreter):

# %%
def self_check_softmax():
    for shape, scale in [((33, 100), 1.0), ((4, 1), 1.0), ((8, 200), 1e4), ((3, 40_000), 5.0)]:
        x = torch.randn(*shape, device=DEVICE) * scale
        torch.testing.assert_close(softmax(x), torch.softmax(x, dim=-1))
    x = torch.randn(50, 160, device=DEVICE)[:, 10:110]  # strided rows
    torch.testing.assert_close(softmax(x), torch.softmax(x, dim=-1))
    x = torch.randn(64, 20, device=DEVICE).t()  # transposed
    torch.testing.assert_close(softmax(x), torch.softmax(x, dim=-1))
    x = torch.randn(16, 300, device=DEVICE).half()
    torch.testing.assert_close(softmax(x), torch.softmax(x.float(), dim=-1).half())
    print("softmax: all self-checks passed")


self_check_softmax()

# %% [markdown]
# On a GPU, measure it (the graded measurement also flushes the L2 between calls):

# %%
if DEVICE == "cuda":
    for n_cols in (4096, 8192, 32768):
        x = torch.randn(4096, n_cols, device="cuda")
        copy_out = torch.empty_like(x)
        moved = 2 * x.numel() * 4
        ours = triton.testing.do_bench(lambda: softmax(x), return_mode="median") / 1e3
        copy = triton.testing.do_bench(lambda: copy_out.copy_(x), return_mode="median") / 1e3
        theirs = triton.testing.do_bench(lambda: torch.softmax(x, -1), return_mode="median") / 1e3
        print(f"N={n_cols}: ours {moved / ours / 1e9:.0f} GB/s = {copy / ours:.2f} x copy; "
              f"torch.softmax {moved / theirs / 1e9:.0f} GB/s")

# %% [markdown]
# ## 2. Layer norm, forward and backward
#
# Over the last dimension ($N$ features), for each row:
#
# $$ \mu = \tfrac1N \sum_i x_i, \quad \sigma^2 = \tfrac1N \sum_i (x_i - \mu)^2, \quad
#    r = \frac{1}{\sqrt{\sigma^2 + \epsilon}}, \quad \hat x_i = (x_i - \mu)\, r, \quad
#    y_i = w_i \hat x_i + b_i $$
#
# (the biased variance, as `torch`). `eps` goes *inside* the square root.
#
# **Why not $\sigma^2 = \overline{x^2} - \mu^2$?** It saves nothing here (the row is already
# in registers, so a second pass over it is free) and it cancels catastrophically: when
# $|\mu| \gg \sigma$, both terms are huge and nearly equal, and float32 keeps only ~7 digits.
# The next cell shows the error growing with the mean.

# %%
def variance_error(offset, n=4096):
    x = torch.randn(64, n, dtype=torch.float64) + offset
    exact = x.var(dim=-1, unbiased=False)
    x32 = x.float()
    mean = x32.mean(dim=-1, keepdim=True)
    two_pass = ((x32 - mean) ** 2).mean(dim=-1)
    one_pass = (x32 * x32).mean(dim=-1) - mean.squeeze(-1) ** 2
    rel = lambda v: ((v.double() - exact).abs() / exact).max().item()  # noqa: E731
    return rel(two_pass), rel(one_pass)


offsets = [1, 10, 100, 1000, 10000]
errors = np.array([variance_error(o) for o in offsets])
for offset, (two_pass, one_pass) in zip(offsets, errors):
    print(f"|mean|/std = {offset:5d}: two-pass {two_pass:.1e}, mean(x^2) - mean^2 {one_pass:.1e}")
if plt is not None:
    plt.figure(figsize=(5, 3))
    plt.semilogy(offsets, errors[:, 0], "o-", label="mean((x - mean)^2)")
    plt.semilogy(offsets, errors[:, 1], "s-", label="mean(x^2) - mean^2")
    plt.xscale("log")
    plt.xlabel("|mean| / std")
    plt.ylabel("max relative error of the variance (fp32)")
    plt.legend()
    plt.tight_layout()
    plt.show()

# %% [markdown]
# **Backward.** With $g_i = \partial L / \partial y_i \cdot w_i$, differentiating through
# $\mu$ and $r$ (both depend on every $x_j$) gives, per row,
#
# $$ \frac{\partial L}{\partial x_i} = r \left( g_i - \frac1N \sum_j g_j
#    - \hat x_i \, \frac1N \sum_j g_j \hat x_j \right), \qquad
#    \frac{\partial L}{\partial w} = \sum_{\text{rows}} \frac{\partial L}{\partial y} \odot \hat x,
#    \qquad \frac{\partial L}{\partial b} = \sum_{\text{rows}} \frac{\partial L}{\partial y}. $$
#
# (Derive it: $\partial \hat x_i / \partial x_j = r(\delta_{ij} - \frac1N - \frac1N \hat x_i \hat x_j)$.)
# Save $\mu$ and $r$ per row in the forward pass so the backward does not recompute them.
#
# $dx$ is per row, like the forward. $dw$ and $db$ are **sums over all rows**: a reduction
# across programs. Atomics (`tl.atomic_add`) would work but make the result depend on timing.
# Instead, launch $P$ programs (a few per multiprocessor); program $p$ handles rows
# $p, p+P, p+2P, \dots$, accumulates its share of $dw$ and $db$ in registers and writes one
# partial row; the host sums the $P$ partial rows (a tiny `(P, N)` tensor).
#
# ```
#   rows:      0  1  2  3  4  5  6  7  8 ...        partial_dw: (P, N)
#   program:   0  1  2  0  1  2  0  1  2 ...  ──▶   [p0: Σ rows 0,3,6..] ─┐
#              (P = 3 here)                         [p1: Σ rows 1,4,7..] ─┼─ sum(0) ─▶ dw (N,)
#                                                   [p2: Σ rows 2,5,8..] ─┘
# ```
#
# **Your task.** `layer_norm(x, weight, bias, eps=1e-5)` over the last dimension of `x` (any
# leading shape, any strides), differentiable in `x`, `weight` and `bias` through a
# `torch.autograd.Function` whose forward and backward each launch Triton kernels. The
# gradient that reaches `backward` may be a non-contiguous, even stride-0, view
# (`y.sum().backward()`). Target: the forward ≥ 1.0 x `F.layer_norm` (fp16).

# %% [solution id=layer_norm]
@triton.jit
def layer_norm_fwd_kernel(
    y_ptr,              # (n_rows, n_cols) output, contiguous
    x_ptr,              # (n_rows, n_cols) input, any strides
    weight_ptr,         # (n_cols,) gamma
    bias_ptr,           # (n_cols,) beta
    mean_ptr,           # (n_rows,) fp32: saved for the backward pass
    rstd_ptr,           # (n_rows,) fp32: 1 / sqrt(var + eps), saved for the backward pass
    x_row_stride,       # elements between two rows of x
    x_col_stride,       # elements between two columns of x
    n_cols,             # features N
    eps,                # added to the variance inside the square root
    BLOCK: tl.constexpr,  # power of two >= n_cols
):
    """One program normalises one row: y = (x - mean) * rstd * weight + bias.

    Teaches: the variance computed as the mean of (x - mean)^2 from registers (two passes over
    data already on chip cost nothing extra), not E[x^2] - mean^2, which cancels
    catastrophically when |mean| >> std; and saving the per-row statistics for backward.
    """
    ### BEGIN SOLUTION
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(x_ptr + row * x_row_stride + cols * x_col_stride, mask=mask, other=0.0).to(tl.float32)
    mean = tl.sum(x, axis=0) / n_cols
    centered = tl.where(mask, x - mean, 0.0)  # masked lanes must not add (0 - mean)^2
    var = tl.sum(centered * centered, axis=0) / n_cols  # biased variance, as torch
    rstd = 1.0 / tl.sqrt(var + eps)
    weight = tl.load(weight_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    bias = tl.load(bias_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    y = centered * rstd * weight + bias
    tl.store(y_ptr + row * n_cols + cols, y.to(y_ptr.dtype.element_ty), mask=mask)
    tl.store(mean_ptr + row, mean)
    tl.store(rstd_ptr + row, rstd)
    ### END SOLUTION


@triton.jit
def layer_norm_bwd_kernel(
    dx_ptr,             # (n_rows, n_cols) gradient of x, contiguous
    partial_dw_ptr,     # (n_programs, n_cols) fp32: this program's share of dweight
    partial_db_ptr,     # (n_programs, n_cols) fp32: this program's share of dbias
    dy_ptr,             # (n_rows, n_cols) incoming gradient, any strides
    x_ptr,              # (n_rows, n_cols) input of the forward pass, contiguous
    weight_ptr,         # (n_cols,) gamma
    mean_ptr,           # (n_rows,) fp32 from the forward pass
    rstd_ptr,           # (n_rows,) fp32 from the forward pass
    dy_row_stride,      # elements between two rows of dy
    dy_col_stride,      # elements between two columns of dy
    n_rows,             # rows M
    n_cols,             # features N
    BLOCK: tl.constexpr,  # power of two >= n_cols
):
    """Program p handles rows p, p + P, p + 2P, ... (P programs in all).

    For each row, with xhat = (x - mean) * rstd and g = dy * weight:
        dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
    dweight = sum over rows of dy * xhat and dbias = sum over rows of dy are reductions over
    all M rows: each program accumulates its rows in registers and writes one partial row;
    the host sums the P partial rows. No atomics, so the result is deterministic.
    """
    ### BEGIN SOLUTION
    pid = tl.program_id(0)
    n_programs = tl.num_programs(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    weight = tl.load(weight_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    dw_acc = tl.zeros((BLOCK,), tl.float32)
    db_acc = tl.zeros((BLOCK,), tl.float32)
    for row in range(pid, n_rows, n_programs):
        row64 = tl.cast(row, tl.int64)
        x = tl.load(x_ptr + row64 * n_cols + cols, mask=mask, other=0.0).to(tl.float32)
        dy = tl.load(dy_ptr + row64 * dy_row_stride + cols * dy_col_stride, mask=mask, other=0.0).to(tl.float32)
        mean = tl.load(mean_ptr + row64)
        rstd = tl.load(rstd_ptr + row64)
        xhat = tl.where(mask, (x - mean) * rstd, 0.0)
        g = dy * weight
        g_mean = tl.sum(g, axis=0) / n_cols
        gx_mean = tl.sum(g * xhat, axis=0) / n_cols
        dx = (g - g_mean - xhat * gx_mean) * rstd
        tl.store(dx_ptr + row64 * n_cols + cols, dx.to(dx_ptr.dtype.element_ty), mask=mask)
        dw_acc += dy * xhat
        db_acc += dy
    tl.store(partial_dw_ptr + pid * n_cols + cols, dw_acc, mask=mask)
    tl.store(partial_db_ptr + pid * n_cols + cols, db_acc, mask=mask)
    ### END SOLUTION


def _layer_norm_block(n_cols: int, element_size: int) -> tuple[int, int]:
    ### BEGIN SOLUTION
    block = triton.next_power_of_2(n_cols)
    if block * element_size > 65536:
        raise ValueError(f"layer_norm supports rows of at most {65536 // element_size} elements, got {n_cols}")
    # Measured on an H200 (fp16 forward, 2**26 elements): 2 warps at N = 1024 and 4096, 4 at
    # 8192. Fewer warps per row leave room for more rows in flight on each multiprocessor.
    num_warps = min(max(block // 2048, 2), 8)
    return block, num_warps
    ### END SOLUTION


class LayerNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        ### BEGIN SOLUTION
        n_cols = x.shape[-1]
        x2d = x.reshape(-1, n_cols)  # (M, N): a view when the leading dims allow it
        n_rows = x2d.shape[0]
        y = torch.empty((n_rows, n_cols), dtype=x.dtype, device=x.device)
        mean = torch.empty(n_rows, dtype=torch.float32, device=x.device)
        rstd = torch.empty(n_rows, dtype=torch.float32, device=x.device)
        block, num_warps = _layer_norm_block(n_cols, x.element_size())
        if n_rows > 0:
            layer_norm_fwd_kernel[(n_rows,)](
                y, x2d, weight, bias, mean, rstd, x2d.stride(0), x2d.stride(1), n_cols, eps,
                BLOCK=block, num_warps=num_warps,
            )
        ctx.save_for_backward(x2d.contiguous(), weight, mean, rstd)
        ctx.x_shape = x.shape
        ctx.bias_dtype = bias.dtype
        return y.reshape(x.shape)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, dy):
        ### BEGIN SOLUTION
        x2d, weight, mean, rstd = ctx.saved_tensors
        n_rows, n_cols = x2d.shape
        dy2d = dy.reshape(n_rows, n_cols)
        dx = torch.empty_like(x2d)
        block, num_warps = _layer_norm_block(n_cols, x2d.element_size())
        # Enough programs to fill the GPU; each then reduces many rows in registers.
        n_programs = max(1, min(n_rows, 4 * multiprocessor_count(x2d.device)))
        partial_dw = torch.empty((n_programs, n_cols), dtype=torch.float32, device=x2d.device)
        partial_db = torch.empty((n_programs, n_cols), dtype=torch.float32, device=x2d.device)
        if n_rows > 0:
            layer_norm_bwd_kernel[(n_programs,)](
                dx, partial_dw, partial_db, dy2d, x2d, weight, mean, rstd,
                dy2d.stride(0), dy2d.stride(1), n_rows, n_cols, BLOCK=block, num_warps=num_warps,
            )
        else:
            partial_dw.zero_()
            partial_db.zero_()
        dweight = partial_dw.sum(dim=0).to(weight.dtype)
        dbias = partial_db.sum(dim=0).to(ctx.bias_dtype)
        return dx.reshape(ctx.x_shape), dweight, dbias, None
        ### END SOLUTION


def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Layer norm over the last dimension of x, differentiable in x, weight and bias."""
    ### BEGIN SOLUTION
    if weight.shape != (x.shape[-1],) or bias.shape != (x.shape[-1],):
        raise ValueError(f"weight and bias must have shape ({x.shape[-1]},)")
    return LayerNormFunction.apply(x, weight.contiguous(), bias.contiguous(), eps)
    ### END SOLUTION

# %%
def self_check_layer_norm():
    import torch.nn.functional as F

    for shape, offset, eps in [((8, 48), 0.0, 1e-5), ((2, 5, 100), 0.0, 1e-5), ((16, 256), 1000.0, 1e-5), ((8, 64), 0.0, 1e-2)]:
        x = (torch.randn(*shape, device=DEVICE) + offset).requires_grad_()
        w = torch.randn(shape[-1], device=DEVICE).requires_grad_()
        b = torch.randn(shape[-1], device=DEVICE).requires_grad_()
        dy = torch.randn(*shape, device=DEVICE)
        y = layer_norm(x, w, b, eps=eps)
        y.backward(dy)
        ours = [y.detach(), x.grad, w.grad, b.grad]
        x.grad = w.grad = b.grad = None
        y_torch = F.layer_norm(x, shape[-1:], w, b, eps=eps)
        y_torch.backward(dy)
        expected = [y_torch.detach(), x.grad, w.grad, b.grad]
        tol = 1e-3 if offset else 1e-5
        for name, a, e in zip(["y", "dx", "dw", "db"], ours, expected):
            torch.testing.assert_close(a, e, rtol=tol, atol=tol, msg=lambda m, name=name: f"{name}: {m}")
    print("layer_norm: all self-checks passed")


self_check_layer_norm()

# %%
if DEVICE == "cuda":
    import torch.nn.functional as F

    for n_cols in (1024, 4096, 8192):
        x = torch.randn(2**26 // n_cols, n_cols, device="cuda").half()
        w, b = torch.randn(n_cols, device="cuda").half(), torch.randn(n_cols, device="cuda").half()
        ours = triton.testing.do_bench(lambda: layer_norm(x, w, b), return_mode="median")
        theirs = triton.testing.do_bench(lambda: F.layer_norm(x, (n_cols,), w, b), return_mode="median")
        print(f"N={n_cols}: ours {4 * x.numel() / ours / 1e6:.0f} GB/s, {theirs / ours:.2f} x F.layer_norm")

# %% [markdown]
# ## 3. Matmul with a fused activation
#
# $C = \mathrm{act}(A B)$ with $A$ of shape $(M, K)$ and $B$ of shape $(K, N)$, fp16 or bf16,
# accumulated in fp32. Each program computes one `BLOCK_M x BLOCK_N` tile of $C$ by walking
# along $K$:
#
# ```
#            K                        N                              N
#      ┌─────────────┐        ┌───┬───┬───┐                  ┌───┬───┬───┐
#   M  │ A tile row ▶│   x  K │   │ B │   │        =       M │   │ C │   │
#      │ ─ ─ ─ ─ ─ ─ │        │   │ ▼ │   │                  │   │ij │   │
#      └─────────────┘        └───┴───┴───┘                  └───┴───┴───┘
#   acc(BLOCK_M, BLOCK_N) += A[i, k:k+BK] @ B[k:k+BK, j]   for k = 0, BK, 2BK, ...
# ```
#
# Each loaded tile of A is used BLOCK_N times and each tile of B BLOCK_M times, which is what
# makes a large tile compute-bound. `tl.dot` maps the inner product onto the tensor cores.
# When $K$ is not a multiple of `BLOCK_K` (say $K = 4097$), the last step is partial: load
# zeros past $K$ (they add nothing). Rows and columns past $M$ and $N$ can be wrapped back in
# range with `% M` (their results are simply not stored).
#
# **L2 reuse: grouped ordering.** Programs run in waves of ~132. If program ids walk $C$ row by
# row, one wave needs one row of A tiles but *every* column of B tiles. Walking `GROUP_M` tile
# rows down before moving right makes a wave share a few A and B tiles that stay in L2:
#
# ```
#   row-major order          grouped order (GROUP_M = 2)
#    0  1  2  3               0  2  4  6
#    4  5  6  7               1  3  5  7
#    8  9 10 11               8 10 12 14
#   12 13 14 15               9 11 13 15
# ```
#
# **Fused epilogue.** The activation is applied to the fp32 accumulator in registers, before
# the single store: `relu(x) = max(x, 0)` and the exact GELU
# $\mathrm{gelu}(x) = x \, \Phi(x) = \tfrac12 x \left(1 + \mathrm{erf}(x / \sqrt2)\right)$
# (`tl.math.erf`). A separate activation kernel would read and write all of $C$ again.
#
# **Autotuning.** The best tile shape, `num_warps` and pipeline depth `num_stages` depend on
# the GPU and the problem. `@triton.autotune(configs=[...], key=["M", "N", "K"])` times every
# configuration the first time it sees a new `(M, N, K)` and reuses the fastest. The
# configurations given below are a good start on an H200; you may change them.
#
# **Your task.** `matmul(a, b, activation=None | "relu" | "gelu")` for 2-D fp16/bf16 tensors of
# any shape and strides. Graded by the relative Frobenius error
# $\lVert C - C_\text{ref} \rVert / \lVert C_\text{ref} \rVert$ (≤ 1e-3 fp16, ≤ 5e-3 bf16).
# Target: ≥ 0.85 x cuBLAS at 4096³ and 8192³ (fp16).

# %% [solution id=matmul]
def _matmul_configs():
    # The four best of a wider sweep on an H200 (fp16, 4096^3 and 8192^3): 0.96-1.00x cuBLAS.
    gpu = [
        triton.Config({"BLOCK_M": 128, "BLOCK_N": 256, "BLOCK_K": 64, "GROUP_M": 8}, num_stages=3, num_warps=8),
        triton.Config({"BLOCK_M": 128, "BLOCK_N": 256, "BLOCK_K": 64, "GROUP_M": 8}, num_stages=4, num_warps=8),
        triton.Config({"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "GROUP_M": 8}, num_stages=5, num_warps=8),
        triton.Config({"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64, "GROUP_M": 8}, num_stages=4, num_warps=4),
    ]
    interpreter = triton.Config({"BLOCK_M": 32, "BLOCK_N": 32, "BLOCK_K": 32, "GROUP_M": 4}, num_warps=4)
    return tuning_configs(gpu, interpreter)


@triton.autotune(configs=_matmul_configs(), key=["M", "N", "K"])
@triton.jit
def matmul_kernel(
    c_ptr,              # (M, N) output, contiguous
    a_ptr,              # (M, K) left operand, any strides
    b_ptr,              # (K, N) right operand, any strides
    M, N, K,            # problem size
    stride_am, stride_ak,  # elements between rows / columns of a
    stride_bk, stride_bn,  # elements between rows / columns of b
    ACTIVATION: tl.constexpr,  # "" (none), "relu" or "gelu" (exact, erf)
    BLOCK_M: tl.constexpr,     # rows of C per program
    BLOCK_N: tl.constexpr,     # columns of C per program
    BLOCK_K: tl.constexpr,     # depth of one step along K
    GROUP_M: tl.constexpr,     # programs sharing a column of B tiles (L2 reuse)
):
    """One program computes one BLOCK_M x BLOCK_N tile of C = act(A @ B).

    Teaches: the K loop that streams a row of A tiles and a column of B tiles through the
    tensor cores (tl.dot) into an fp32 accumulator; masking the K tail (K = 4097) with zeros,
    which add nothing to the dot product; the grouped launch order that makes programs running
    at the same time share tiles in L2; fusing the activation into the epilogue, where the
    tile is still in registers, instead of a second pass over C in memory.
    """
    ### BEGIN SOLUTION
    pid = tl.program_id(0)
    tiles_m = tl.cdiv(M, BLOCK_M)
    tiles_n = tl.cdiv(N, BLOCK_N)
    # Grouped order: walk GROUP_M tile-rows down one tile-column before moving right, so the
    # programs in flight read GROUP_M tiles of A and few tiles of B, all hot in L2.
    programs_per_group = GROUP_M * tiles_n
    group = pid // programs_per_group
    first_tile_m = group * GROUP_M
    group_rows = min(tiles_m - first_tile_m, GROUP_M)
    tile_m = first_tile_m + (pid % programs_per_group) % group_rows
    tile_n = (pid % programs_per_group) // group_rows

    # Rows and columns past the edge are wrapped back in range (% M, % N): their loads stay
    # in bounds without a mask, and the store below drops them.
    rows = (tile_m * BLOCK_M + tl.arange(0, BLOCK_M)) % M
    cols = (tile_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N
    ks = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + rows[:, None] * stride_am + ks[None, :] * stride_ak  # (BLOCK_M, BLOCK_K)
    b_ptrs = b_ptr + ks[:, None] * stride_bk + cols[None, :] * stride_bn  # (BLOCK_K, BLOCK_N)

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        k_left = K - k * BLOCK_K  # the last step may be partial: zeros beyond K
        a = tl.load(a_ptrs, mask=ks[None, :] < k_left, other=0.0)
        b = tl.load(b_ptrs, mask=ks[:, None] < k_left, other=0.0)
        acc = tl.dot(a, b, acc)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk

    if ACTIVATION == "relu":
        acc = tl.maximum(acc, 0.0)
    elif ACTIVATION == "gelu":
        acc = 0.5 * acc * (1.0 + tl.math.erf(acc * 0.7071067811865476))  # x * Phi(x)

    out_rows = tile_m * BLOCK_M + tl.arange(0, BLOCK_M)
    out_cols = tile_n * BLOCK_N + tl.arange(0, BLOCK_N)
    c_ptrs = c_ptr + out_rows[:, None] * N + out_cols[None, :]
    mask = (out_rows[:, None] < M) & (out_cols[None, :] < N)
    tl.store(c_ptrs, acc.to(c_ptr.dtype.element_ty), mask=mask)
    ### END SOLUTION


def matmul(a: torch.Tensor, b: torch.Tensor, activation: str | None = None) -> torch.Tensor:
    """act(a @ b) for 2-D fp16/bf16 tensors of any shape and strides, accumulated in fp32."""
    ### BEGIN SOLUTION
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul expects (M, K) @ (K, N), got {tuple(a.shape)} @ {tuple(b.shape)}")
    if a.dtype != b.dtype:
        raise ValueError(f"matmul expects operands of one dtype, got {a.dtype} and {b.dtype}")
    if activation not in (None, "relu", "gelu"):
        raise ValueError(f"activation must be None, 'relu' or 'gelu', got {activation!r}")
    M, K = a.shape
    N = b.shape[1]
    if max(a.numel(), b.numel(), M * N) >= 2**31:
        raise ValueError("matmul uses 32-bit offsets: every operand must hold fewer than 2**31 elements")
    c = torch.empty((M, N), dtype=a.dtype, device=a.device)
    if M == 0 or N == 0:
        return c
    grid = lambda meta: (triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(N, meta["BLOCK_N"]),)  # noqa: E731
    matmul_kernel[grid](
        c, a, b, M, N, K, a.stride(0), a.stride(1), b.stride(0), b.stride(1),
        ACTIVATION=activation or "",
    )
    return c
    ### END SOLUTION

# %%
def self_check_matmul():
    import torch.nn.functional as F

    def rel(c, expected):
        return ((c.double() - expected).norm() / expected.norm()).item()

    for (m, n, k), act in [((48, 56, 40), None), ((33, 65, 17), "relu"), ((64, 72, 96), "gelu"), ((16, 24, 4097), None)]:
        a = torch.randn(m, k, device=DEVICE).half()
        b = torch.randn(k, n, device=DEVICE).half()
        expected = a.double() @ b.double()
        expected = {None: expected, "relu": F.relu(expected), "gelu": F.gelu(expected)}[act]
        error = rel(matmul(a, b, activation=act), expected)
        assert error < 1e-3, f"{(m, n, k)} {act}: relative error {error:.2e}"
    a = torch.randn(48, 36, device=DEVICE).half().t()  # non-contiguous
    b = torch.randn(48, 52, device=DEVICE).half()
    assert rel(matmul(a, b), a.double() @ b.double()) < 1e-3
    print("matmul: all self-checks passed")


self_check_matmul()

# %%
if DEVICE == "cuda":
    for size in (4096, 8192):
        a = torch.randn(size, size, device="cuda").half()
        b = torch.randn(size, size, device="cuda").half()
        ours = triton.testing.do_bench(lambda: matmul(a, b), return_mode="median")
        theirs = triton.testing.do_bench(lambda: torch.matmul(a, b), return_mode="median")
        print(f"{size}^3: ours {2 * size**3 / ours / 1e9:.0f} TFLOP/s, {theirs / ours:.2f} x cuBLAS")

# %% [markdown]
# ## 4. Flash attention (forward)
#
# For one batch and head, $S = Q K^\top \cdot s$ (scale $s = 1/\sqrt{D}$ by default),
# $P = \mathrm{softmax}(S)$ row-wise, $O = P V$. Written naively, $S$ and $P$ are $N_q \times N_k$
# matrices in HBM: at $N = 4096$, 32 heads and fp16 that is 1 GB per batch element, written
# and read back. **Flash attention** (Dao et al., 2022) never forms them. A program owns
# `BLOCK_M` query rows, keeps them in registers, and streams the keys and values in blocks of
# `BLOCK_N`, applying the online softmax of part 1 to each row of $S$:
#
# $$ m' = \max\big(m, \max_j S_{ij}\big),\quad \alpha = e^{m - m'},\quad
#    \ell' = \alpha \ell + \textstyle\sum_j e^{S_{ij} - m'},\quad
#    \mathrm{acc}' = \alpha \, \mathrm{acc} + e^{S - m'} V_\text{block} $$
#
# and at the end $O_i = \mathrm{acc}_i / \ell_i$. Per query block, Q is read once and each K
# and V block once: $O(N^2 D)$ FLOPs for $O(N D)$ bytes, so the kernel becomes compute-bound.
# Two details that pay: compute in base 2 (`tl.exp2`, with $\log_2 e$ folded into the scale),
# and feed `p.to(v.dtype)` to the second `tl.dot` so it runs on the tensor cores.
#
# **The log-sum-exp.** Return $\mathrm{lse}_i = \log \sum_j e^{S_{ij}} = m_i + \log \ell_i$ (natural
# log, fp32): the backward pass of flash attention recomputes $P = e^{S - \mathrm{lse}}$ from it
# without storing $P$. If you work in base 2, convert: $\ln x = \log_2 x \cdot \ln 2$.
#
# **Causal, aligned bottom-right.** With a causal mask, query $i$ sees keys $j \le i + N_k - N_q$.
# When $N_q = N_k$ this is the usual lower triangle; when $N_q < N_k$ (a chunk of new queries
# after a cache of earlier keys), the *last* query sees *all* keys:
#
# ```
#   Nq = 3, Nk = 6          keys j:  0 1 2 3 4 5
#   query 0 (sees j <= 3)            x x x x . .
#   query 1 (sees j <= 4)            x x x x x .
#   query 2 (sees j <= 5)            x x x x x x
# ```
#
# A key block entirely right of the diagonal for every row of the program contributes nothing:
# **skip it**, do not compute and mask it (that halves the work of causal attention). A block
# entirely left of it needs no mask at all; only the blocks that straddle the diagonal, and the
# last block when $N_k$ is not a multiple of `BLOCK_N`, need masking. A query that sees no key
# at all (possible only when causal with $N_q > N_k$) should get output 0 and lse $-\infty$;
# the tests do not use that case.
#
# **Your task.** `flash_attention(q, k, v, causal=False, sm_scale=None) -> (out, lse)` with
# q `(B, H, Nq, D)`, k and v `(B, H, Nk, D)`, any strides, D ∈ {16, 32, 64, 128}, fp16/bf16;
# out like q, lse `(B, H, Nq)` fp32. Target: ≥ 0.70 x SDPA non-causal and ≥ 0.60 x causal
# at B=4, H=32, N=4096, D=64, fp16.

# %% [solution id=flash_attention]
LOG2E = 1.4426950408889634


@triton.jit
def attention_key_loop(
    acc, row_sum, row_max,    # running state of the BLOCK_M query rows (see the kernel)
    q,                        # (BLOCK_M, HEAD_DIM) queries of this program
    k_ptrs, v_ptrs,           # (BLOCK_N, HEAD_DIM) pointers to the first key / value block
    stride_kn, stride_vn,     # elements between two keys / values
    key_start, key_end,       # the loop visits keys [key_start, key_end) in BLOCK_N steps
    query_idx,                # (BLOCK_M,) query positions
    n_keys,                   # Nk
    diagonal,                 # Nk - Nq: query i sees keys j <= i + diagonal when causal
    qk_scale,                 # sm_scale * log2(e): logits in base 2, so exp2 replaces exp
    MASK_KEYS: tl.constexpr,    # some keys of a block may lie past Nk
    MASK_CAUSAL: tl.constexpr,  # some keys of a block may lie after a query's diagonal
    BLOCK_N: tl.constexpr,
):
    """Folds key blocks into the running (acc, row_sum, row_max) with the online softmax.

    For each block: s = q k^T * scale (base 2); new_max = max(row_max, max_j s);
    p = 2^(s - new_max); the state computed under the old maximum is rescaled by
    alpha = 2^(row_max - new_max): row_sum = alpha * row_sum + sum_j p and
    acc = alpha * acc + p @ v. Masks are compiled in only for the blocks that need them.
    """
    ### BEGIN SOLUTION
    key_idx = tl.arange(0, BLOCK_N)
    for start in range(key_start, key_end, BLOCK_N):
        keys = start + key_idx
        if MASK_KEYS:
            in_range = keys[:, None] < n_keys
            k = tl.load(k_ptrs + start * stride_kn, mask=in_range, other=0.0)
            v = tl.load(v_ptrs + start * stride_vn, mask=in_range, other=0.0)
        else:
            k = tl.load(k_ptrs + start * stride_kn)
            v = tl.load(v_ptrs + start * stride_vn)
        s = tl.dot(q, tl.trans(k)) * qk_scale  # (BLOCK_M, BLOCK_N)
        if MASK_KEYS or MASK_CAUSAL:
            allowed = keys[None, :] < n_keys
            if MASK_CAUSAL:
                allowed = allowed & (keys[None, :] <= query_idx[:, None] + diagonal)
            s = tl.where(allowed, s, -float("inf"))
        new_max = tl.maximum(row_max, tl.max(s, axis=1))
        if MASK_KEYS or MASK_CAUSAL:
            # A row with no visible key so far keeps max -inf: shift by 0 to avoid inf - inf.
            new_max_safe = tl.where(new_max == -float("inf"), 0.0, new_max)
        else:
            new_max_safe = new_max
        p = tl.exp2(s - new_max_safe[:, None])
        alpha = tl.exp2(row_max - new_max_safe)
        row_sum = row_sum * alpha + tl.sum(p, axis=1)
        acc = acc * alpha[:, None]
        acc = tl.dot(p.to(v.dtype), v, acc)
        row_max = new_max
    return acc, row_sum, row_max
    ### END SOLUTION


@triton.jit
def flash_attention_kernel(
    out_ptr,            # (B, H, Nq, D) output, contiguous
    lse_ptr,            # (B, H, Nq) fp32 log-sum-exp of each row's scaled logits, natural log
    q_ptr, k_ptr, v_ptr,  # (B, H, Nq, D), (B, H, Nk, D), (B, H, Nk, D), any strides
    stride_qb, stride_qh, stride_qm, stride_qd,
    stride_kb, stride_kh, stride_kn, stride_kd,
    stride_vb, stride_vh, stride_vn, stride_vd,
    n_heads,            # H
    n_queries,          # Nq
    n_keys,             # Nk
    qk_scale,           # sm_scale * log2(e)
    HEAD_DIM: tl.constexpr,  # D in {16, 32, 64, 128}
    CAUSAL: tl.constexpr,    # bottom-right aligned causal mask
    BLOCK_M: tl.constexpr,   # queries per program
    BLOCK_N: tl.constexpr,   # keys per step
):
    """One program computes BLOCK_M rows of the output of one (batch, head).

    Teaches: tiling attention so that Q, K and V are each read once per query block and the
    Nq x Nk scores never reach memory; the online softmax carried across key blocks; with a
    causal mask, skipping the key blocks above the diagonal entirely and masking only the
    blocks that straddle it; the log-sum-exp saved for a backward pass.
    """
    ### BEGIN SOLUTION
    tile = tl.program_id(0)
    batch_head = tl.program_id(1)
    batch = batch_head // n_heads
    head = batch_head % n_heads
    q_base = q_ptr + batch.to(tl.int64) * stride_qb + head.to(tl.int64) * stride_qh
    k_base = k_ptr + batch.to(tl.int64) * stride_kb + head.to(tl.int64) * stride_kh
    v_base = v_ptr + batch.to(tl.int64) * stride_vb + head.to(tl.int64) * stride_vh

    first_query = tile * BLOCK_M
    query_idx = first_query + tl.arange(0, BLOCK_M)
    key_idx = tl.arange(0, BLOCK_N)
    dims = tl.arange(0, HEAD_DIM)
    q = tl.load(q_base + query_idx[:, None] * stride_qm + dims[None, :] * stride_qd,
                mask=query_idx[:, None] < n_queries, other=0.0)  # (BLOCK_M, HEAD_DIM)
    k_ptrs = k_base + key_idx[:, None] * stride_kn + dims[None, :] * stride_kd  # (BLOCK_N, HEAD_DIM)
    v_ptrs = v_base + key_idx[:, None] * stride_vn + dims[None, :] * stride_vd  # (BLOCK_N, HEAD_DIM)

    acc = tl.zeros((BLOCK_M, HEAD_DIM), dtype=tl.float32)          # unnormalised output
    row_sum = tl.zeros((BLOCK_M,), dtype=tl.float32)               # sum of 2^(s - row_max)
    row_max = tl.full((BLOCK_M,), -float("inf"), dtype=tl.float32)  # running max of s
    diagonal = n_keys - n_queries

    if CAUSAL:
        # Keys j <= first_query + diagonal are visible to every row of this tile: the whole
        # blocks among them need no mask. Keys past the last row's diagonal are skipped.
        unmasked_end = tl.maximum(first_query + diagonal + 1, 0) // BLOCK_N * BLOCK_N
        key_end = tl.minimum(first_query + BLOCK_M + diagonal, n_keys)
    else:
        unmasked_end = n_keys // BLOCK_N * BLOCK_N
        key_end = n_keys
    acc, row_sum, row_max = attention_key_loop(
        acc, row_sum, row_max, q, k_ptrs, v_ptrs, stride_kn, stride_vn, 0, unmasked_end,
        query_idx, n_keys, diagonal, qk_scale, MASK_KEYS=False, MASK_CAUSAL=False, BLOCK_N=BLOCK_N,
    )
    acc, row_sum, row_max = attention_key_loop(
        acc, row_sum, row_max, q, k_ptrs, v_ptrs, stride_kn, stride_vn, unmasked_end, key_end,
        query_idx, n_keys, diagonal, qk_scale, MASK_KEYS=True, MASK_CAUSAL=CAUSAL, BLOCK_N=BLOCK_N,
    )

    # A query that sees no key at all (causal with Nq > Nk) gets output 0 and lse -inf.
    seen = row_sum > 0.0
    out = acc / tl.where(seen, row_sum, 1.0)[:, None]
    lse = tl.where(seen, (row_max + tl.log2(tl.where(seen, row_sum, 1.0))) * 0.6931471805599453, -float("inf"))
    row_offset = batch_head.to(tl.int64) * n_queries
    out_ptrs = out_ptr + (row_offset + query_idx[:, None]) * HEAD_DIM + dims[None, :]
    tl.store(out_ptrs, out.to(out_ptr.dtype.element_ty), mask=query_idx[:, None] < n_queries)
    tl.store(lse_ptr + row_offset + query_idx, lse, mask=query_idx < n_queries)
    ### END SOLUTION


def _attention_launch_config(head_dim: int) -> dict:
    """Block sizes, warps and pipeline depth, chosen by measurement on an H200."""
    ### BEGIN SOLUTION
    if INTERPRET:
        return dict(BLOCK_M=16, BLOCK_N=16, num_warps=4, num_stages=1)
    if head_dim <= 64:  # B=4, H=32, N=4096, D=64: 0.89x SDPA (64x64) against 0.84x (128x64, 4 warps)
        return dict(BLOCK_M=64, BLOCK_N=64, num_warps=4, num_stages=3)
    return dict(BLOCK_M=128, BLOCK_N=64, num_warps=8, num_stages=3)  # D=128: 4 warps spill, 0.31x
    ### END SOLUTION


def flash_attention(q, k, v, causal: bool = False, sm_scale: float | None = None):
    """Attention forward. q (B, H, Nq, D), k and v (B, H, Nk, D) -> (out, lse).

    out has q's shape and dtype; lse (B, H, Nq) fp32 is log(sum_j exp(sm_scale * q_i . k_j))
    over the keys query i sees. With causal=True the mask is aligned bottom-right: query i
    sees keys j <= i + Nk - Nq.
    """
    ### BEGIN SOLUTION
    if q.dim() != 4 or k.shape != v.shape or k.dim() != 4 or q.shape[:2] != k.shape[:2] or q.shape[3] != k.shape[3]:
        raise ValueError(f"expected q (B, H, Nq, D) and k, v (B, H, Nk, D), got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    batch, heads, n_queries, head_dim = q.shape
    n_keys = k.shape[2]
    if head_dim not in (16, 32, 64, 128):
        raise ValueError(f"head dimension must be 16, 32, 64 or 128, got {head_dim}")
    if sm_scale is None:
        sm_scale = 1.0 / math.sqrt(head_dim)
    out = torch.empty((batch, heads, n_queries, head_dim), dtype=q.dtype, device=q.device)
    lse = torch.empty((batch, heads, n_queries), dtype=torch.float32, device=q.device)
    if out.numel() == 0:
        return out, lse
    config = _attention_launch_config(head_dim)
    grid = (triton.cdiv(n_queries, config["BLOCK_M"]), batch * heads)
    flash_attention_kernel[grid](
        out, lse, q, k, v,
        *q.stride(), *k.stride(), *v.stride(),
        heads, n_queries, n_keys, sm_scale * LOG2E,
        HEAD_DIM=head_dim, CAUSAL=bool(causal), **config,
    )
    return out, lse
    ### END SOLUTION

# %%
def self_check_flash_attention():
    def reference(q, k, v, causal, sm_scale=None):
        scale = sm_scale or 1.0 / math.sqrt(q.shape[-1])
        s = (q.double() @ k.double().transpose(-1, -2)) * scale
        if causal:
            n_q, n_k = q.shape[-2], k.shape[-2]
            s = s.masked_fill(~torch.ones(n_q, n_k, dtype=torch.bool, device=q.device).tril(n_k - n_q), float("-inf"))
        return torch.softmax(s, -1) @ v.double(), torch.logsumexp(s, -1)

    for (b, h, n_q, n_k, d), causal in [((1, 2, 24, 40, 32), False), ((1, 2, 24, 40, 32), True),
                                         ((2, 1, 64, 64, 64), True), ((1, 1, 17, 33, 128), False)]:
        q = torch.randn(b, h, n_q, d, device=DEVICE).half()
        k = torch.randn(b, h, n_k, d, device=DEVICE).half()
        v = torch.randn(b, h, n_k, d, device=DEVICE).half()
        out, lse = flash_attention(q, k, v, causal=causal)
        expected_out, expected_lse = reference(q, k, v, causal)
        torch.testing.assert_close(out.double(), expected_out, rtol=1e-2, atol=1e-2)
        torch.testing.assert_close(lse.double(), expected_lse, rtol=1e-4, atol=1e-4)
    print("flash_attention: all self-checks passed")


self_check_flash_attention()

# %%
if DEVICE == "cuda":
    import torch.nn.functional as F

    q, k, v = (torch.randn(4, 32, 4096, 64, device="cuda").half() for _ in range(3))
    for causal in (False, True):
        flops = 4 * 4 * 32 * 4096**2 * 64 * (0.5 if causal else 1.0)
        ours = triton.testing.do_bench(lambda: flash_attention(q, k, v, causal=causal), return_mode="median")
        theirs = triton.testing.do_bench(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal), return_mode="median")
        print(f"causal={causal}: ours {flops / ours / 1e9:.0f} TFLOP/s, {theirs / ours:.2f} x SDPA")

# %% [markdown]
# ## Before you submit
#
# * Run `dlgrade check notebook.ipynb` (`TRITON_INTERPRET=1 dlgrade check notebook.ipynb`
#   without a GPU): the public tests.
# * The hidden tests go further: shapes that are not multiples of any block (1 x 1, 33 x 65,
#   K = 4097), strided and transposed views, fp16 (and bf16 on the GPU), logits of 1e4 and
#   $-\infty$, rows longer than 32768, a gradient of stride 0, causal attention with
#   $N_q \ne N_k$. Each function must launch a Triton kernel.
# * Keep heavy work (benchmarks, plots) in plain cells: only the solution cells and the provided
#   cell are graded.
