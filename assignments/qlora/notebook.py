# %% [markdown]
# # QLoRA: fine-tuning a language model on a 4-bit base
#
# Fine-tuning a 65-billion-parameter model in 16-bit takes about 780 GB of GPU memory once
# gradients and optimizer state are counted. QLoRA (Dettmers et al., 2023) brings that to under
# 48 GB with two ideas that compose:
#
# 1. **LoRA** (Hu et al., 2021): freeze the pretrained weights and train a low-rank correction
#    `B @ A` beside each layer. Gradients and Adam's state exist only for the tiny factors.
# 2. **4-bit NormalFloat (NF4)**: since the base weights are frozen, store them in 4 bits with a
#    code designed for normally distributed values, and dequantize each layer on the fly.
#
# In this notebook you build both, from the bits up:
#
# | part | what you write | points |
# | --- | --- | --- |
# | 1. NF4 | `NF4_CODE`, `quantize_nf4`, `dequantize_nf4` | 25 |
# | 2. Double quantization | `double_quantize`, `double_dequantize` | 10 |
# | 3. LoRA | `LoRALinear` (forward, init, `merge`/`unmerge`) | 20 |
# | 4. QLoRA | `QLoRALinear`, `inject_lora`, `trainable_parameters` | 20 |
# | 5. Memory | (no new code: your layer's bytes are counted) | 10 |
# | 6. Fine-tune | `finetune` | 10 |
# | 7. GPU memory (H200 only) | (no new code: peak training memory is measured) | 5 |
#
# **Targets, stated up front** (the hidden tests check these):
# - NF4 codes, packed bytes and block absmax are **bit-exact**: the same bytes as bitsandbytes
#   produces for the same tensor.
# - Round-trip error on N(0, 1) weights at blocksize 64: mean |error| about **0.0728** (the
#   figure bitsandbytes' own tests hold it to); the tests allow up to 0.0735 on a million weights.
# - Storage: **4.5 bits per weight** with float32 block constants, **≈ 4.127** with double
#   quantization, counted from the bytes of the tensors your layer holds; QLoRA weights at most
#   **0.30×** their bf16 bytes.
# - Saved for backward: your QLoRA layer may keep at most **1.5 bytes per weight** alive between
#   forward and backward (so: not the dequantized weight).
# - Fine-tune: held-out loss **below 0.1 nats** per answer token on the shift task, on a CPU, in
#   well under a minute.
# - On an NVIDIA H200: peak memory of a QLoRA training step at least **2× lower** than bf16 LoRA
#   on the same model (full credit at 2×, none at 1.2×). Elsewhere this part says "not measured".
#
# Check your work locally with `dlgrade check qlora.ipynb` (the public tests), and run the
# self-check cell at the end. Everything runs on a laptop CPU. `bitsandbytes` and `peft` may not
# be used in your solution; the graders compare against them where they are installed.

# %% [provided id=imports]
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# %% [markdown]
# ## 0. The model and the tasks (provided)
#
# A tiny GPT-style causal language model: token and position embeddings, pre-LayerNorm blocks
# of causal self-attention and an MLP, and a linear head. Its linear layers are named as in
# LLaMA (`q_proj`, `k_proj`, `v_proj`, `o_proj`, `up_proj`, `down_proj`), so that `inject_lora`
# can find them by name, as peft's `target_modules` does.
#
# The tasks are sequences `x1 .. x8 SEP y1 .. y8` over 15 symbols. The loss counts only the
# answer tokens `y`. We "pretrain" on **copy** (`y = x`) and then fine-tune on **shift**
# (`y_i = x_i + 1 mod 15`): the pretrained model already knows *where* to look (attend to the
# symbol eight positions back); the fine-tune must change *what* it writes.

# %% [provided id=model include=../../reference/qlora/model.py::TinyLMConfig,CausalSelfAttention,MLP,Block,TinyCausalLM,LORA_TARGETS,_symbols_and_separator,_with_mask,copy_task,reverse_task,shift_task,language_model_loss]

# %% [markdown]
# ## 1. NF4: a 4-bit code for normal weights (25 points)
#
# ### 1.1 Which 16 numbers?
#
# A 4-bit code has 16 values `c_0 < ... < c_15` in [-1, 1]. To quantize a **block** of weights
# we divide it by its absolute maximum, `absmax = max |w|`, so every value lands in [-1, 1], and
# replace each value by the index of the nearest code value. Dequantizing is
# `w ≈ c[index] * absmax`.
#
# The obvious code is evenly spaced (int4: `k / 7` for `k = -7..7`). But trained weights are
# close to normally distributed: most values crowd near zero, and an even grid wastes codes on
# the sparse tails. The better choice puts the values at **quantiles** of the normal
# distribution, so that each code is used equally often: every bin of the code then carries the
# same share of the data, which is what maximises the information a 4-bit index holds.
#
# With `Q` the standard normal quantile function (`torch.special.ndtri`), the NF4 values are
# quantiles at evenly spaced probabilities, with three twists:
#
# - `Q(0)` and `Q(1)` are infinite, so the grid of probabilities runs from `1 - offset` to
#   `offset` with `offset = 1 - (1/30 + 1/32) / 2 ≈ 0.9677083`, the average of the half-steps of a
#   15- and a 16-point grid (bitsandbytes writes it as `0.9677083`: use that literal).
# - The code must hold an **exact zero** (zero-padding and zero weights must survive). A
#   symmetric code of 16 quantiles has none, so NF4 is asymmetric: **8 positive** quantiles from
#   `Q(linspace(offset, 0.5, 9)[:-1])` (the 9th probability, 0.5, is the zero), **7 negative**
#   from `-Q(linspace(offset, 0.5, 8)[:-1])`, and **0**.
# - Everything is divided by the largest value so the code spans exactly [-1, 1].
#
# Compute in float64 (as bitsandbytes does), sort ascending, and return float32. Your table
# must match bitsandbytes' to 1e-6: the first values are -1.0, -0.6962, -0.5251, ...

# %% [solution id=nf4_code]
# Differs from reference/qlora/nf4.py on purpose: NF4_CODE falls back to None while nf4_code
# is not written, so that the later cells still run.
def nf4_code(offset: float = 0.9677083) -> torch.Tensor:
    """The 16 NF4 values, ascending, float32, in [-1, 1] with an exact zero at index 7."""
    ### BEGIN SOLUTION
    positive = torch.special.ndtri(torch.linspace(offset, 0.5, 9, dtype=torch.float64)[:-1])  # (8,)
    negative = -torch.special.ndtri(torch.linspace(offset, 0.5, 8, dtype=torch.float64)[:-1])  # (7,)
    values = torch.cat([negative, torch.zeros(1, dtype=torch.float64), positive]).sort().values  # (16,)
    return (values / values.abs().max()).to(torch.float32)
    ### END SOLUTION


try:
    NF4_CODE = nf4_code()
except NotImplementedError:  # not written yet: the rest of the notebook still imports
    NF4_CODE = None

# %% [markdown]
# Below: the NF4 values (scaled back by `Q(offset)` to the units of a standard normal) drawn on
# the normal density, against int4's even grid. NF4 packs its values where the weights are.

# %%
if NF4_CODE is not None:
    print("NF4_CODE =", [round(v, 4) for v in NF4_CODE.tolist()])
    scale = float(torch.special.ndtri(torch.tensor(0.9677083, dtype=torch.float64)))
    try:
        import matplotlib.pyplot as plt

        grid = torch.linspace(-2.2, 2.2, 400)
        density = torch.exp(-grid ** 2 / 2) / math.sqrt(2 * math.pi)
        fig, ax = plt.subplots(figsize=(9, 3))
        ax.plot(grid, density, color="gray", label="N(0, 1) density")
        for i, value in enumerate(NF4_CODE.tolist()):
            ax.axvline(value * scale, color="tab:blue", ymax=0.9, label="NF4 values" if i == 0 else None)
        for k in range(-7, 8):
            ax.axvline(k / 7 * scale, color="tab:orange", ymin=0, ymax=0.3, lw=3,
                       label="int4 values" if k == -7 else None)
        ax.set_xlabel("weight / absmax × Q(0.9677)")
        ax.legend(loc="upper right")
        plt.show()
    except ImportError:
        print("(install matplotlib to see the picture)")

# %% [markdown]
# ### 1.2 Quantize a tensor block by block, two codes per byte
#
# `quantize_nf4(w, blocksize=64) -> (packed, absmax)`:
#
# 1. Flatten `w` in **row-major order** (`w.reshape(-1)`: the order of indexing, whatever the
#    memory layout) and convert to **float32**.
# 2. Cut it into blocks of `blocksize` consecutive values; the **last block may be short** and
#    has its own absmax. `absmax` is a float32 tensor with one entry per block.
# 3. Normalize each value as `x / absmax` (float32 division). A block of zeros has absmax 0:
#    give all its values the code of 0.0 (index 7) rather than dividing 0 by 0.
# 4. The nearest code value is found with the **midpoints** `m_i = (c_i + c_{i+1}) / 2`, computed
#    in float32: the code of `x` is the number of midpoints strictly below `x`. A value exactly
#    on a midpoint therefore takes the **lower** code (`torch.searchsorted(midpoints, x)` does
#    exactly this).
# 5. Pack two 4-bit codes per uint8 byte, the **first in the high nibble**:
#    `byte = (code[2j] << 4) | code[2j + 1]`. With an odd count the last low nibble is 0 (it is
#    never read; bitsandbytes happens to put the code of zero, 7, there). So `packed` has
#    `ceil(numel / 2)` bytes.
#
# For example, `w = [-1.0, 1.0, 0.0]` with one block: absmax 1, codes `[0, 15, 7]`, bytes
# `[0x0F, 0x70]`.
#
# `dequantize_nf4(packed, absmax, shape, blocksize=64)` undoes it: unpack the nibbles, look the
# codes up in `NF4_CODE`, multiply by their block's absmax, and return a float32 tensor of
# `shape`. The index tensor for the lookup is as large as the weight: `int32` indices (with
# `index_select`) take half the memory of `int64`.

# %% [solution id=quantize_nf4 include=../../reference/qlora/nf4.py::quantize_nf4,dequantize_nf4]

# %% [markdown]
# How good is it? On a million N(0, 1) weights, compare NF4 with int4 (absmax-scaled `round(7x)`)
# at the same blocksize: mean error, and how evenly each code is used (the entropy of the code
# histogram, at most 4 bits). Then the error as the blocksize grows: bigger blocks are cheaper
# (fewer absmax values) but one outlier stretches the scale of more weights.

# %%
if NF4_CODE is not None:
    w = torch.randn(1024, 1024, generator=torch.Generator().manual_seed(0))
    packed, absmax = quantize_nf4(w)
    codes = torch.stack((packed >> 4, packed & 0x0F), dim=1).reshape(-1).long()
    usage = torch.bincount(codes, minlength=16).float() / codes.numel()
    nf4_error = (dequantize_nf4(packed, absmax, w.shape) - w).abs().mean().item()

    blocks = w.reshape(-1, 64)
    scale = blocks.abs().amax(dim=1, keepdim=True)
    int4 = torch.round(blocks / scale * 7)
    int4_usage = torch.bincount((int4 + 7).long().reshape(-1), minlength=15).float() / int4.numel()
    int4_error = (int4 / 7 * scale - blocks).abs().mean().item()

    def entropy(p):
        return -(p[p > 0] * p[p > 0].log2()).sum().item()

    print(f"NF4 : mean |error| {nf4_error:.4f}, code entropy {entropy(usage):.2f} bits")
    print(f"int4: mean |error| {int4_error:.4f}, code entropy {entropy(int4_usage):.2f} bits")
    try:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 2.5), sharey=True)
        axes[0].bar(range(16), usage)
        axes[0].set_title(f"NF4 code usage ({entropy(usage):.2f} bits)")
        axes[1].bar(range(-7, 8), int4_usage, color="tab:orange")
        axes[1].set_title(f"int4 code usage ({entropy(int4_usage):.2f} bits)")
        plt.show()
    except ImportError:
        pass
    for blocksize in (64, 128, 256, 1024):
        p, a = quantize_nf4(w, blocksize)
        error = (dequantize_nf4(p, a, w.shape, blocksize) - w).abs().mean().item()
        print(f"blocksize {blocksize:5d}: mean |error| {error:.4f}, absmax costs {32 / blocksize:.3f} bits/weight")

# %% [markdown]
# ## 2. Double quantization (10 points)
#
# At blocksize 64 each block carries a float32 absmax: 32 / 64 = **0.5 extra bits per weight**,
# an eighth of the 4-bit payload. QLoRA quantizes these constants too:
#
# - The absmax values are all positive, so first centre them: `offset = absmax.mean()` and
#   `x = absmax - offset` uses both signs of the 8-bit range.
# - In blocks of 256 values of `x`: `scale = max|x| / 127` (float32, one per block) and
#   `q = round(x / scale)` as **int8** (`torch.round`: half to even). A block whose values all
#   equal the offset has scale 0: give it `q = 0` instead of dividing by zero.
# - `double_dequantize(q, scale, offset, blocksize=256) = q * scale[block] + offset`.
#
# Cost: 8 / 64 bits for `q` plus 32 / (64 · 256) for the scales: **0.127 bits per weight**, so
# a weight costs 4.127 bits instead of 4.5.
#
# This is a simpler 8-bit code than bitsandbytes uses: bitsandbytes stores the absmax values
# in its 8-bit "dynamic" floating-point code (more codes near zero); we use a plain symmetric
# int8 grid. The error on absmax stays far below 1% either way, which the weights barely notice.

# %% [solution id=double_quant include=../../reference/qlora/double_quant.py]

# %%
if NF4_CODE is not None:
    _, absmax = quantize_nf4(torch.randn(1024, 1024, generator=torch.Generator().manual_seed(1)))
    q, scale, offset = double_quantize(absmax)
    restored = double_dequantize(q, scale, offset)
    print(f"{absmax.numel()} absmax values, offset {float(offset):.3f}, {scale.numel()} scales")
    print(f"max relative error on absmax: {((restored - absmax).abs() / absmax).max().item():.2e}")

# %% [markdown]
# ## 3. LoRA (20 points)
#
# Fine-tuning changes a pretrained weight `W` (out × in) by some `ΔW`. LoRA bets that `ΔW` has
# low rank and trains it as a product of two thin matrices, `A` (r × in) and `B` (out × r) with
# `r ≪ min(in, out)`:
#
# $$ y = x W^\top + b + \frac{\alpha}{r}\, x A^\top B^\top $$
#
# - `W` and `b` are **frozen** (`requires_grad = False`): the optimizer holds state only for the
#   `r · (in + out)` numbers of `A` and `B`.
# - `B` starts at **zeros**, so the adapted model starts exactly at the pretrained one; `A`
#   starts **random** (`nn.init.kaiming_uniform_(A, a=math.sqrt(5))`, as `nn.Linear` initialises
#   its weight), otherwise the gradient of `B`, `∂L/∂B = (α/r) gᵀ (x Aᵀ)`, would be zero too.
# - Scaling by `α / r` keeps the update's size roughly independent of `r`: a learning rate tuned
#   at one rank still works at another.
# - Dropout (`dropout > 0`) applies to the adapter's input only: `B(A(dropout(x)))`. The frozen
#   path always sees `x` unchanged.
# - `merge()` folds `(α/r) B @ A` into `base.weight` so inference costs a single matmul, and
#   sets a flag so that `forward` no longer adds the update; `unmerge()` takes it back out. Merging
#   an already merged layer (or unmerging an unmerged one) does nothing.
#
# Name the factors `lora_A` (an `nn.Parameter` of shape `(r, in_features)`) and `lora_B`
# (`(out_features, r)`), created in the base weight's dtype and device, and keep the base layer
# as `self.base`.

# %% [solution id=lora include=../../reference/qlora/lora.py]

# %% [markdown]
# How few parameters train? For a 4096 × 4096 projection (a 7B model's attention), rank 16:

# %%
d, r = 4096, 16
print(f"full fine-tune: {d * d:,} trainable; LoRA r={r}: {r * (d + d):,} ({r * 2 * d / (d * d):.2%})")

# %% [markdown]
# ## 4. QLoRA: LoRA on a 4-bit base (20 points)
#
# `QLoRALinear(base, r, alpha, blocksize=64, double_quant=True)` quantizes `base.weight` once,
# at construction, and keeps **only** the packed codes and the block statistics (the int8
# codes, scales and offset of the double-quantized absmax; or the float32 absmax with
# `double_quant=False`), plus a frozen copy of the bias and the trainable `lora_A`, `lora_B`
# (in the base weight's dtype, initialised as in `LoRALinear`). Store the 4-bit weight and its
# statistics with `register_buffer`: buffers move with `.to(device)`, are saved in
# `state_dict`, and never train. Do not keep `base` or `base.weight`.
#
# Each forward pass dequantizes the weight to the input's dtype, does one matmul, and drops it.
#
# **The backward-pass trap.** `grad_x = grad_y @ W` needs `W` again. If forward is a plain
# `F.linear(x, dequantize_nf4(...))`, autograd saves the dequantized `W` for the backward pass,
# and every layer's full-precision weight stays alive from its forward to its backward: during
# training the model then holds as many weight bytes as without quantization. Write a
# `torch.autograd.Function`, `NF4Matmul`, whose forward keeps nothing of the dequantized weight
# (keep the layer itself on `ctx`, whose buffers are the 4-bit weight, or save the 4-bit tensors
# with `ctx.save_for_backward`) and whose backward dequantizes it again. A little more
# arithmetic buys a quarter of the memory; bitsandbytes does the same. The tests count the bytes
# autograd keeps with `torch.autograd.graph.saved_tensors_hooks`: at most 1.5 bytes per weight.
#
# `dequantized_weight(dtype)` returns the weight as `(out, in)` in `dtype`. The solution
# dequantizes `DEQUANT_CHUNK` values at a time into a preallocated output, so that the int32
# indices and float32 values exist for a few million values at once rather than for the whole
# matrix: on a GPU that trims the peak further. Dequantizing the whole matrix at once is
# correct too, and meets the GPU target.

# %% [solution id=qlora include=../../reference/qlora/qlora.py::DEQUANT_CHUNK,NF4Matmul,QLoRALinear]

# %% [markdown]
# ### 4.2 Putting adapters into a model
#
# `inject_lora(model, target_modules, r, alpha, quantize=False)` first **freezes every
# parameter** of the model (embeddings, LayerNorms and the head included), then replaces, in
# place, each `nn.Linear` whose attribute name (the last part of its qualified name, e.g.
# `q_proj` in `blocks.0.attn.q_proj`) is in `target_modules` by a `LoRALinear` (or a
# `QLoRALinear` when `quantize=True`), and returns the model. Raise `ValueError` when nothing
# matches: a typo in a target name would otherwise train nothing at all.
#
# `trainable_parameters(model)` counts the parameters the optimizer will update.

# %% [solution id=inject include=../../reference/qlora/qlora.py::inject_lora,trainable_parameters]

# %% [markdown]
# ## 5. Memory, counted in bytes (10 points)
#
# The tests count memory the honest way: the bytes of every tensor a layer holds that does not
# train (`numel() * element_size()` over its frozen parameters and buffers). For a weight of
# `n` values at blocksize 64:
#
# | storage | bytes | bits per weight |
# | --- | --- | --- |
# | bf16 | 2n | 16 |
# | NF4 + float32 absmax | n/2 + 4·n/64 | 4.5 |
# | NF4 + double-quantized absmax | n/2 + n/64 + 4·n/(64·256) + 4 | ≈ 4.127 |
#
# and, for the model, the QLoRA weights must take at most 0.30× their bf16 bytes (4.127 / 16 =
# 0.258). Anything else you keep (a cached dequantized weight, the float32 absmax you started
# from, one code per byte instead of two) shows up here.
#
# The cell below counts your layer's bytes, and the bytes autograd saves for the backward pass
# of your QLoRA layer against a naive one that calls `F.linear` on the dequantized weight.

# %%
def frozen_bytes(module):
    return sum(t.numel() * t.element_size() for t in list(module.parameters()) + list(module.buffers())
               if not t.requires_grad)


def saved_bytes(run):
    total = [0]

    def pack(tensor):
        total[0] += tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        run()
    return total[0]


try:
    base = nn.Linear(1024, 1024, bias=False)
    for double_quant in (False, True):
        layer = QLoRALinear(base, r=8, alpha=16, double_quant=double_quant)
        bits = 8 * frozen_bytes(layer) / base.weight.numel()
        print(f"double_quant={double_quant}: {bits:.4f} bits per weight")
    x = torch.randn(4, 1024, requires_grad=True)
    naive = lambda: F.linear(x, layer.dequantized_weight()) + F.linear(F.linear(x, layer.lora_A), layer.lora_B)
    print(f"saved for backward: QLoRALinear {saved_bytes(lambda: layer(x)) / 2**20:.2f} MiB, "
          f"naive F.linear {saved_bytes(naive) / 2**20:.2f} MiB")
except NotImplementedError:
    print("write parts 1, 2 and 4 first")

# %% [markdown]
# **On a GPU** (part 7, scored on an NVIDIA H200 only): the hidden test builds a 24-layer
# version of the tiny model (d_model 2048, 1.2 billion parameters in its linear layers) in bf16,
# wraps all its linear layers with your `inject_lora(..., quantize=True)`, and measures the peak
# memory (`torch.cuda.max_memory_allocated`) of three AdamW training steps on a short batch
# (2 × 64 tokens). The baseline is the same model with bf16 LoRA, measured in the same run. On
# an H200 the weights take 2.25 GiB in bf16 and 0.58 GiB in NF4, and the peak falls from
# 2.6 GiB to about 1.1 GiB: 2.3× (full credit at 2×). If your forward saves the dequantized
# weights for backward, the peak grows to 3.3 GiB, worse than bf16 LoRA.
#
# Notice what QLoRA does not shrink: activations. With 8 × 256 tokens instead of 2 × 64 the
# same model's saving falls to 1.4×. (Gradient checkpointing is the usual companion of QLoRA
# for long sequences.)

# %% [markdown]
# ## 6. Fine-tune with QLoRA (10 points)
#
# First a "pretrained" model: the tiny LM learns to copy in a few seconds.

# %%
torch.manual_seed(0)
generator = torch.Generator().manual_seed(0)
pretrained = TinyCausalLM(TinyLMConfig())
optimizer = torch.optim.AdamW(pretrained.parameters(), lr=3e-3, weight_decay=0.0)
for step in range(60):
    loss = language_model_loss(pretrained, *copy_task(64, generator=generator))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
with torch.no_grad():
    print(f"copy loss after pretraining: {language_model_loss(pretrained, *copy_task(512, generator=generator)):.4f}")
    print(f"shift loss of the pretrained model: {language_model_loss(pretrained, *shift_task(512, generator=generator)):.2f}"
          " (it confidently copies)")

# %% [markdown]
# Now write `finetune(model, make_batch, *, steps, batch_size, lr, r=8, alpha=16, quantize=True,
# target_modules=LORA_TARGETS, generator=None) -> list[float]`:
#
# - wrap the model's target layers with `inject_lora(..., quantize=quantize)` (in place);
# - build an AdamW optimizer over the parameters that require grad, **after** injecting (an
#   optimizer built before holds the old weights, now frozen, and the adapters never train);
# - for `steps` steps: draw `tokens, answer_mask = make_batch(batch_size, generator=generator)`,
#   compute `language_model_loss`, step the optimizer;
# - return the list of the training losses (floats), one per step.
#
# Choose the defaults of `steps`, `batch_size` and `lr` yourself: the hidden test calls
# `finetune(pretrained_copy_model, shift_task, generator=...)` and needs a held-out loss below
# **0.1** on the shift task, within the test's time limit (3 minutes on a shared grading CPU;
# the reference takes a few seconds). Adapters tolerate much larger learning rates than full
# fine-tuning: try 1e-2.

# %% [solution id=finetune include=../../reference/qlora/finetune.py::finetune]

# %%
import copy
import time

try:
    model = copy.deepcopy(pretrained)
    started = time.perf_counter()
    losses = finetune(model, shift_task, generator=generator)
    seconds = time.perf_counter() - started
    tokens, answer_mask = shift_task(512, generator=generator)
    with torch.no_grad():
        held_out = language_model_loss(model, tokens, answer_mask).item()
        predicted = model(tokens[:1, :-1]).argmax(-1)[0, 8:]
    print(f"{len(losses)} steps in {seconds:.1f} s; held-out shift loss {held_out:.4f} (target < 0.1)")
    print(f"trainable: {trainable_parameters(model):,} adapter parameters; the frozen model holds "
          f"{frozen_bytes(model) / 1024:.0f} KiB (in float32 it held {4 * sum(p.numel() for p in pretrained.parameters()) / 1024:.0f} KiB)")
    print("prompt   ", tokens[0, :8].tolist())
    print("predicted", predicted.tolist())
    try:
        import matplotlib.pyplot as plt

        plt.figure(figsize=(6, 3))
        plt.semilogy(losses)
        plt.xlabel("step")
        plt.ylabel("training loss (nats)")
        plt.title("QLoRA fine-tune: copy → shift")
        plt.show()
    except ImportError:
        pass
except NotImplementedError:
    print("write finetune (and parts 1-4) first")

# %% [markdown]
# **To explore (not graded).** Reversing (`reverse_task`) is harder: the model must change
# *where* it attends, not only what it writes. Try it with adapters only on `q_proj` and
# `k_proj`, then only on the MLP, and compare how fast each learns. Try `r = 1`.

# %% [markdown]
# ## Self-check
#
# Quick checks against values worked out by hand and against bitsandbytes' published table.
# They are not the grader: run `dlgrade check qlora.ipynb` for the public tests; the hidden
# tests try many more shapes, edge cases and tolerances.

# %%
BITSANDBYTES_NF4 = torch.tensor([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0])
torch.testing.assert_close(NF4_CODE, BITSANDBYTES_NF4, rtol=0, atol=1e-6)

packed, absmax = quantize_nf4(torch.tensor([-1.0, 1.0, 0.0]))
assert packed.tolist() == [0x0F, 0x70] and absmax.tolist() == [1.0], (packed, absmax)
midpoint = float((NF4_CODE[8] + NF4_CODE[9]) / 2)
packed, _ = quantize_nf4(torch.tensor([1.0, midpoint]))
assert packed.tolist() == [0xF8], "a value exactly on a midpoint takes the lower code"
packed, absmax = quantize_nf4(torch.zeros(5))
assert packed.tolist() == [0x77, 0x77, 0x70] and absmax.tolist() == [0.0]

q, scale, offset = double_quantize(torch.tensor([1.0, 2.0, 3.0, 4.0]))
assert q.tolist() == [-127, -42, 42, 127] and q.dtype == torch.int8

base = nn.Linear(8, 6)
layer = LoRALinear(base, r=2, alpha=4)
x = torch.randn(3, 8)
torch.testing.assert_close(layer(x), base(x))
assert trainable_parameters(layer) == 2 * (8 + 6)
with torch.no_grad():
    layer.lora_B.fill_(0.5)
expected = base(x) + (4 / 2) * x @ layer.lora_A.t() @ layer.lora_B.t()
torch.testing.assert_close(layer(x), expected)
layer.merge()
torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-5)

qlayer = QLoRALinear(nn.Linear(256, 64, bias=False), r=4, alpha=8)
assert 4.0 <= 8 * frozen_bytes(qlayer) / (256 * 64) <= 4.2
print("self-check passed")
