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

# %% [solution id=softmax include=../../reference/triton_kernels/row_softmax.py]

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

# %% [solution id=layer_norm include=../../reference/triton_kernels/layer_normalization.py]

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
# configurations given below are a good start on an H200; you may change them. Each new shape
# costs a compilation and a timing of every configuration: below `AUTOTUNE_FROM_VOLUME`
# multiply-adds, launch `matmul_kernel.fn` (the kernel under the autotuner) with
# `SMALL_PROBLEM_CONFIG` instead, so the tests' many small shapes grade quickly.
#
# **Your task.** `matmul(a, b, activation=None | "relu" | "gelu")` for 2-D fp16/bf16 tensors of
# any shape and strides. Graded by the relative Frobenius error
# $\lVert C - C_\text{ref} \rVert / \lVert C_\text{ref} \rVert$ (≤ 1e-3 fp16, ≤ 5e-3 bf16).
# Target: ≥ 0.85 x cuBLAS at 4096³ and 8192³ (fp16).

# %% [solution id=matmul include=../../reference/triton_kernels/tiled_matmul.py]

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

# %% [solution id=flash_attention include=../../reference/triton_kernels/attention.py]

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
