# %% [markdown]
# # Fast generation: KV caches, chunked prefill, batching, paging
#
# A language model writes one token at a time. To choose token $t+1$ it runs the whole model on
# tokens $0..t$ and keeps only the logits of the last position. Done naively, every step
# recomputes everything the previous step computed: generating $N$ tokens after a prompt of
# $P$ costs about $2\,n_\text{params}\,\big(P + (P+1) + \dots + (P+N-1)\big)$ FLOPs: quadratic in length.
#
# Almost all of that work is redundant. In a causal transformer, position $j$ never looks at
# later positions, so its keys and values in every layer are **fixed once computed**. Keep them
# (the *KV cache*), and a step only has to run the one new token through the model: its query
# attends to the cached keys and values of everything before it. A step then costs
# $2\,n_\text{params}$ FLOPs plus attention over the context, instead of
# $2\,n_\text{params}\cdot T$.
#
# Every serving system (vLLM, TensorRT-LLM, SGLang, llama.cpp, gpt-fast) is built on this, and on
# three refinements you will write too:
#
# 1. **a static cache** (Part 1): buffers allocated once, written in place, so a decoding step
#    allocates nothing and always sees tensors of the same shape;
# 2. **chunked prefill** (Part 2): the prompt goes through the model in chunks, each chunk's
#    queries attending to the cache *and* to each other, which needs the causal mask aligned to
#    the right corner;
# 3. **batching prompts of different lengths** (Part 3) without ever attending to padding;
# 4. **paging** (Part 4): instead of one `max_len` slab per sequence, a pool of small blocks
#    handed out on demand, with a *block table* per sequence (vLLM's PagedAttention).
#
# **What you build** (points out of 100):
#
# | part | what | points |
# | --- | --- | --- |
# | `kv_cache` | `KVCache(batch, n_kv_heads, max_len, head_dim, dtype)` and its `update(pos, k, v)` | 20 |
# | `attend` | `attend(q, k, v, q_pos, kv_len)`: a chunk of queries against the cache | 25 |
# | `generate` | `generate(model, prompts, max_new_tokens, use_cache=True)`: batched greedy decoding | 25 |
# | `paged` | `PagedKVCache` (a block allocator and block tables) and `paged_attention` | 20 |
# | `decode_perf` | speed on the grading GPU | 10 |
#
# **The oracle is full recompute.** Everything you write must give, in float32, *exactly* the
# tokens of running the whole sequence through the model at every step, and logits within
# `1e-4` of it. In float16 the logits must agree within `1e-2`, in bfloat16 within `6e-2` (there
# the two paths round differently, and a near-tie may pick another token, so tokens are not
# compared).
#
# **The speed target.** On an NVIDIA H200, with a 4096-token prompt, 32 new tokens, float32 and
# a 4-layer model 1024 wide, `generate` with your cache must produce tokens at least **2×
# faster** per token than full recompute for full credit (zero credit at 1.2×, linear in between).
# The reference reaches 3.4–3.55× (2.1× with the host's other cores busy). Part 5 explains why
# it is not 4096×. On a machine without a GPU the speed test says "not measured here".
#
# Check your work at any time with the self-check cells below each part, or from a terminal with
# `dlgrade check notebook.ipynb` (the public tests). No downloads: the model is tiny and its
# weights are random, drawn from a seed.

# %% [provided id=imports]
import heapq
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# %%
import time

# The models here are tiny: one thread is the fastest, and it keeps your timings comparable.
torch.set_num_threads(1)
try:
    import matplotlib.pyplot as plt
except ImportError:  # the figures are optional
    plt = None

# %% [markdown]
# ## The conventions the grader holds
#
# The hidden tests check exactly these rules. Shapes: `B` batch, `H` query heads, `Hkv`
# key/value heads, `D` head size, `T`/`Lq` new positions, `Lk` cache slots.
#
# | topic | convention |
# | --- | --- |
# | `KVCache(batch, n_kv_heads, max_len, head_dim, dtype=torch.float32, device=None)` | two buffers `k_cache`, `v_cache` of shape `(batch, n_kv_heads, max_len, head_dim)`, zeros, allocated once in `__init__`; slot `p` holds position `p` |
# | `update(pos, k, v)` | `k`, `v`: `(B, Hkv, T, D)`, maybe non-contiguous views; `pos`: `(T,)` (the same positions for every row) or `(B, T)` (each row its own); writes in place, returns the whole buffers `(k_cache, v_cache)` |
# | `attend(q, k, v, q_pos, kv_len)` | `q` `(B, H, Lq, D)`; `k`, `v` `(B, Hkv, Lk, D)` with `Lk ≥ kv_len`; `q_pos` `(Lq,)` or `(B, Lq)`; `kv_len` an int or a `(B,)` tensor. Query `i` of row `b` sees key `j` iff `j ≤ q_pos[b, i]` and `j < kv_len[b]`. Scores scaled by `1/√D`, softmax in float32, output `(B, H, Lq, D)` in `q`'s dtype |
# | grouped-query heads | `H` is a multiple of `Hkv`; query head `h` reads key/value head `h // (H // Hkv)` (consecutive query heads share one: `repeat_interleave`, not `repeat`) |
# | `model(idx, pos=None, caches=None, kv_len=None)` | provided. No caches: whole sequences from position 0. With caches (one `KVCache` per layer): `idx` `(B, T)` sits at positions `pos`, each layer calls `cache.update(pos, k, v)` then `attend(q, k_all, v_all, pos, kv_len)`. Returns float32 logits `(B, T, vocab)` |
# | `generate(model, prompts, max_new_tokens, use_cache=True, return_logits=False)` | greedy (`argmax`, lowest index on ties); `prompts` a list of lists of ints, each non-empty, lengths may differ, never modified; returns one list of `max_new_tokens` Python ints per prompt (the new tokens only); with `return_logits`, also the float32 logits each was chosen from, `(B, max_new_tokens, vocab)`. Caches in the model's dtype and device. `use_cache=False`: recompute the whole sequences at every step |
# | `PagedKVCache(num_blocks, block_size, n_kv_heads, head_dim, dtype=torch.float32, device=None)` | `add_sequence(seq_id)`, `append(seq_id, k, v)` with `k`, `v` `(Hkv, T, D)`, `free(seq_id)`, `block_table(seq_id) -> list[int]`, `seq_len(seq_id) -> int`, `num_free_blocks() -> int` |
# | allocation | a sequence takes a new block exactly when its first position in that block is appended (`ceil(length / block_size)` blocks in all), always the **lowest-numbered free block**; `free` returns all its blocks; an `append` that needs more blocks than are free raises `RuntimeError` and changes nothing |
# | `paged_attention(q, cache, seq_ids)` | `q` `(B, H, D)`: the newest query of sequence `seq_ids[b]`, whose key was already appended; it attends to positions `0 .. seq_len - 1` of that sequence only; returns `(B, H, D)` in `q`'s dtype |

# %% [markdown]
# ## The model (provided)
#
# A tiny Llama-shaped GPT: token embedding, `n_layer` pre-norm blocks (RMSNorm → attention →
# residual, RMSNorm → MLP → residual), a final norm and a linear head. Two of its features matter
# for caching:
#
# **Rotary position embeddings (RoPE).** There is no position embedding added to the tokens.
# Instead each query and key is rotated by an angle proportional to its **absolute position**:
# the pair $(x_i, x_{i+D/2})$ turns by $p\,\theta_i$ with $\theta_i = 10000^{-2i/D}$. The score
# $q_p\cdot k_j$ then depends on $p - j$ only. For you this means: a key is rotated *before* it is
# cached, with its own position, and a decoding query must be rotated with *its* position. Pass
# the wrong `pos` and nothing crashes; the logits are just wrong.
#
# **Grouped-query attention (GQA).** There are fewer key/value heads than query heads
# (`n_kv_head = 2` for `n_head = 4` here; Llama-2-70B has 8 for 64). Query heads
# $h = g\cdot G, \dots, g\cdot G + G-1$ (with $G$ = `n_head // n_kv_head`) all read key/value head
# $g$. The cache only stores the `n_kv_head` heads: GQA divides the cache's memory by $G$.
#
# The model is *provided*: the grader uses its own copy of this cell, so do not change it. Its
# cached branch calls your `KVCache.update` and your `attend`.

# %% [provided id=model include=../../reference/kv_cache/model.py::GPTConfig,rope_angles,apply_rope,RMSNorm,Attention,MLP,Block,GPT]

# %% [markdown]
# How big does a cache get? Per token it stores a key and a value per layer and per key/value
# head: $2 \cdot n_\text{layer} \cdot n_\text{kv\_head} \cdot D$ numbers. For a Llama-2-7B-sized
# model in 16-bit that is half a megabyte **per token**; a batch of 32 sequences of 4096 tokens
# needs 64 GiB, more than the weights. GQA is one answer; Part 4's paging is another.

# %%
def kv_bytes_per_token(n_layer, n_kv_head, head_dim, bytes_per_number=2):
    return 2 * n_layer * n_kv_head * head_dim * bytes_per_number


for name, layers, kv_heads, head_dim in [("Llama-2-7B (MHA, 32 kv heads)", 32, 32, 128),
                                         ("Llama-2-70B (GQA, 8 kv heads)", 80, 8, 128),
                                         ("this notebook's model", 2, 2, 16)]:
    per_token = kv_bytes_per_token(layers, kv_heads, head_dim)
    print(f"{name:32s} {per_token / 2**10:8.1f} KiB per token, "
          f"{per_token * 32 * 4096 / 2**30:7.2f} GiB for 32 sequences of 4096 tokens")

# %% [markdown]
# ## Part 1 — a static KV cache (`kv_cache`)
#
# The cache of one layer is two preallocated buffers of shape
# `(batch, n_kv_heads, max_len, head_dim)`. Slot `p` along dim 2 holds the key (value) of
# position `p`:
#
# ```
#                  slot (= position) →   0   1   2   3   4   5   6   7   8   9
# k_cache[b, h]                        [k0  k1  k2  k3  k4  k5  k6   .   .   . ]   max_len = 10
#                                        └──── prefill (pos 0..4) ──┘└ step ┘
#                                                                  pos = 5, then 6
# ```
#
# `update(pos, k, v)` writes the new keys and values at their positions and returns the **whole**
# buffers (the caller masks what is not written yet). Why not `torch.cat` a growing tensor? A cat
# copies the whole cache at every step (quadratic traffic), allocates at every step, and changes
# the shapes at every step, which defeats CUDA graphs and `torch.compile`. A static buffer written
# with an index is what gpt-fast, vLLM and TensorRT-LLM do.
#
# Two forms of `pos`:
# - `(T,)`: every row writes at the same positions (one prompt, or a batch in lockstep):
#   `self.k_cache[:, :, pos] = k` does it.
# - `(B, T)`: row `b` writes at `pos[b]` (Part 3 needs it: prompts of different lengths). Index
#   with two tensors that broadcast, a `(B, 1)` column of row numbers and `pos`; mind that
#   advanced indices separated by a slice move their dimensions to the front.

# %% [solution id=kv_cache include=../../reference/kv_cache/cache.py::KVCache]

# %% [markdown]
# Self-check of Part 1: a prompt of 4, one step, then per-row positions.

# %%
def check_part1():
    cache = KVCache(2, 1, 8, 2)
    k = torch.arange(2 * 4 * 2, dtype=torch.float32).view(2, 1, 4, 2)
    k_all, _ = cache.update(torch.arange(4), k, k)
    k_all, _ = cache.update(torch.tensor([4]), -torch.ones(2, 1, 1, 2), -torch.ones(2, 1, 1, 2))
    assert k_all.shape == (2, 1, 8, 2), f"update must return the whole buffers, got {tuple(k_all.shape)}"
    assert torch.equal(k_all[:, :, :4], k) and torch.equal(k_all[:, :, 4], -torch.ones(2, 1, 2))
    k_all, _ = cache.update(torch.tensor([[6], [2]]), torch.full((2, 1, 1, 2), 7.0), torch.full((2, 1, 1, 2), 7.0))
    assert k_all[0, 0, 6].eq(7).all() and k_all[1, 0, 2].eq(7).all(), "pos (B, T): row b writes at pos[b]"
    assert not k_all[0, 0, 2].eq(7).any() and not k_all[1, 0, 6].eq(7).any(), "a row wrote into the other row"
    print("Part 1 ok")


try:
    check_part1()
except NotImplementedError:
    print("Part 1: not written yet")

# %% [markdown]
# ## Part 2 — attention against the cache, and chunked prefill (`attend`)
#
# With the cache, the queries of the new tokens attend to the cached keys. The new tokens may be
# one (a decoding step), the whole prompt (a prefill), or a **chunk** of the prompt: long prompts
# are prefilled a few hundred or thousand tokens at a time, which bounds the memory of the score
# matrix and lets a server interleave one request's prefill with other requests' decoding steps.
#
# A chunk of `Lq` queries at positions `q_pos = [s, ..., s + Lq - 1]` attends to `kv_len = s + Lq`
# keys. Query `i` sits at absolute position `s + i`: it may see keys `0 .. s + i`. In the
# `(Lq, kv_len)` score matrix that is a lower triangle aligned to the **bottom-right** corner. The
# square causal mask (`torch.tril(torch.ones(Lq, kv_len))`) is aligned to the **top-left**, and it is
# right only when the chunk starts at 0:
#
# ```
# chunk of 3 queries at positions 4, 5, 6; kv_len = 7           ■ = may attend, · = masked
#
#   right (bottom-right):  key j → 0 1 2 3 4 5 6      wrong (top-left, tril):  0 1 2 3 4 5 6
#   query at position 4            ■ ■ ■ ■ ■ · ·                                ■ · · · · · ·
#   query at position 5            ■ ■ ■ ■ ■ ■ ·                                ■ ■ · · · · ·
#   query at position 6            ■ ■ ■ ■ ■ ■ ■                                ■ ■ ■ · · · ·
# ```
#
# (`F.scaled_dot_product_attention(..., is_causal=True)` uses the top-left alignment when
# `Lq ≠ Lk`: a classic bug in chunked prefill.) With absolute positions the rule needs no
# corners at all: **key `j` is visible to the query at position `p` iff `j ≤ p`**, and also
# `j < kv_len` (the slots after `kv_len` hold nothing yet: zeros, or stale keys of something
# else). Build the mask from `q_pos` and `kv_len`, which may differ per row (`(B, Lq)` and `(B,)`).
#
# Then the usual: scores $QK^\top/\sqrt{D}$, masked entries set to $-\infty$, softmax (in float32
# for half-precision inputs), times $V$. For GQA, group the query heads by the key/value head they
# read, `q.reshape(B, Hkv, G, Lq, D)`, and broadcast `k[:, :, None]` against it: no copy of the
# cache per query head (`repeat_interleave` works too, at the cost of a copy).
#
# Slicing `k[:, :, :kv_len.max()]` before the matmul saves computing scores for empty slots.

# %% [solution id=attend include=../../reference/kv_cache/attention.py::attend]

# %% [markdown]
# Self-check of Part 2: prefilling a prompt in chunks of 1, 3 and 5 must give the logits of one
# full pass (full recompute, no cache).

# %%
def check_part2():
    model = GPT(GPTConfig(), seed=0)
    idx = torch.randint(0, 96, (2, 13), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full = model(idx)  # (2, 13, vocab): recompute, plain causal attention
        for chunk in (1, 3, 5):
            caches = [KVCache(2, model.config.n_kv_head, 16, model.config.head_dim) for _ in range(model.config.n_layer)]
            pieces = [model(idx[:, s:s + chunk], pos=torch.arange(s, min(s + chunk, 13)), caches=caches,
                            kv_len=min(s + chunk, 13)) for s in range(0, 13, chunk)]
            error = (torch.cat(pieces, dim=1) - full).abs().max().item()
            print(f"chunks of {chunk}: max |logits - full recompute| = {error:.1e}", "ok" if error < 1e-4 else "WRONG")


try:
    check_part2()
except NotImplementedError:
    print("Part 2: not written yet (Part 1 is needed too)")

# %% [markdown]
# ## Part 3 — batched greedy decoding of prompts of different lengths (`generate`)
#
# A server decodes many requests at once: one forward pass for the whole batch costs about the
# same as for one sequence when decoding is bound by reading weights (or, on a small model, by
# launching kernels). The prompts have different lengths, so the batch must be padded. We pad on
# the **right** and give every row its **own length and positions**:
#
# ```
#                 position →  0  1  2  3  4  5  6  7
# prefill    row 0 (len 3):   a  b  c  _  _              _ = padding, written to the cache too
#            row 1 (len 5):   d  e  f  g  h
# step 1     row 0 writes x0 at position 3 (over the padding), row 1 writes y0 at position 5
# step 2     row 0 writes x1 at position 4,                    row 1 writes y1 at position 6
# ```
#
# Why the padding is never attended:
# - in the prefill, the padding of row 0 sits **after** its prompt: causality already hides it from
#   the prompt's queries (what the padding's own queries compute is never used);
# - the first new token of row 0 comes from the logits at **its** last prompt position (2), not
#   from the last column of the batch (4, padding);
# - at every step, row `b` writes its new token at position `lengths[b]`, overwriting the next
#   padding slot, with `pos` of shape `(B, 1)` and `kv_len = lengths + 1` of shape `(B,)`: the
#   stale padding slots beyond are masked.
#
# The tempting alternative, appending every row's new token at the same column after the padded
# prompts, puts padding **between** a prompt and its continuation and shifts the rotary positions:
# the tokens come out wrong. (Left padding with an extra padding mask also works; it needs
# per-row positions starting at the first real token, and `attend` would need that mask.)
#
# `generate(model, prompts, max_new_tokens, use_cache=True, return_logits=False)`:
# 1. right-pad the prompts into a `(B, L)` tensor on the model's device; make one `KVCache` per
#    layer, of `L + max_new_tokens` slots, in the model's dtype (`model.tok_emb.weight.dtype`);
# 2. prefill: `model(tokens, pos=torch.arange(L), caches=caches, kv_len=L)`;
# 3. loop: take the `argmax` of each row's logits, write it at the row's position, advance the
#    lengths, and run the model on the `B` new tokens with `pos` of shape `(B, 1)` (each row's
#    own position) and `kv_len = lengths` of shape `(B,)`;
# 4. with `use_cache=False`, run the whole (padded) sequences through the model at every step
#    instead, and read each row's logits at its last real position: the oracle.
#
# Return one list of Python ints per prompt, and with `return_logits` also the float32 logits
# each token was chosen from, stacked to `(B, max_new_tokens, vocab)`.

# %% [solution id=generate include=../../reference/kv_cache/generate.py::generate]

# %% [markdown]
# Self-check of Part 3: the batch must decode exactly as each prompt does alone, by full recompute
# without any padding.

# %%
def recompute_alone(model, prompt, n):
    sequence = torch.tensor([prompt])
    with torch.no_grad():
        for _ in range(n):
            sequence = torch.cat([sequence, model(sequence)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return sequence[0, len(prompt):].tolist()


def check_part3():
    model = GPT(GPTConfig(), seed=0)
    prompts = [[5, 17, 3], [42] * 9, [7], [1, 2, 3, 4, 5, 6]]
    tokens, logits = generate(model, prompts, 8, return_logits=True)
    for prompt, row in zip(prompts, tokens):
        expected = recompute_alone(model, prompt, 8)
        print(f"prompt of {len(prompt)}: {row}", "ok" if row == expected else f"WRONG, expected {expected}")
    _, expected_logits = generate(model, prompts, 8, use_cache=False, return_logits=True)
    print(f"max |logits - recompute| = {(logits - expected_logits).abs().max().item():.1e}")


try:
    check_part3()
except NotImplementedError:
    print("Part 3: not written yet (Parts 1 and 2 are needed too)")

# %% [markdown]
# **Time per token against context length.** With the cache, a decoding step's cost barely
# depends on how long the context is; recompute grows linearly with it. The cell below measures
# both on this CPU with a somewhat larger model (a few seconds): the time of a decoding step,
# without the prefill, is (time to generate 1 + n tokens − time to generate 1) / n. It then plots
# the figures measured on an NVIDIA H200 with the reference solution (`PERF.md`; there the
# prefill is included, spread over 32 new tokens).

# %%
def step_time(model, context, n_new=8, use_cache=True):
    """Seconds per decoding step after a prompt of `context` tokens, prefill excluded."""
    prompt = torch.randint(0, model.config.vocab_size, (context,), generator=torch.Generator().manual_seed(0)).tolist()
    timings = []
    for n in (1, 1 + n_new):
        best = float("inf")
        for _ in range(3):  # the fastest of three: other programs on the machine only add time
            start = time.perf_counter()
            generate(model, [prompt], n, use_cache=use_cache)
            best = min(best, time.perf_counter() - start)
        timings.append(best)
    return (timings[1] - timings[0]) / n_new


contexts = [64, 128, 256, 512]
cpu_cached, cpu_recompute = [], []
try:
    bigger = GPT(GPTConfig(n_layer=4, n_embd=256, n_head=8, n_kv_head=2, vocab_size=512), seed=0)
    for context in contexts:
        cpu_cached.append(step_time(bigger, context) * 1e3)
        cpu_recompute.append(step_time(bigger, context, use_cache=False) * 1e3)
        print(f"context {context:4d}: cached {cpu_cached[-1]:6.2f} ms/step, recompute {cpu_recompute[-1]:6.2f} ms/step")
except NotImplementedError:
    print("write Parts 1 to 3 first")

# H200, reference solution, 32 new tokens, 4 layers x 1024, fp32 (PERF.md)
h200_contexts = [512, 1024, 2048, 4096]
h200_cached = [3.69, 3.64, 3.55, 4.14]
h200_recompute = [2.67, 4.17, 7.08, 14.73]
if plt is not None:
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    if cpu_cached:
        axes[0].plot(contexts, cpu_cached, "o-", label="KV cache")
        axes[0].plot(contexts, cpu_recompute, "s-", label="full recompute")
    axes[0].set_title("this CPU (4 layers x 256): one decoding step")
    axes[0].set_ylabel("ms per step")
    axes[1].plot(h200_contexts, h200_cached, "o-", label="KV cache")
    axes[1].plot(h200_contexts, h200_recompute, "s-", label="full recompute")
    axes[1].set_title("NVIDIA H200 (4 layers x 1024, fp32)")
    axes[1].set_ylabel("ms per generated token")
    for axis in axes:
        axis.set_xlabel("context (tokens)")
        axis.legend()
    plt.tight_layout()
    plt.show()

# %% [markdown]
# ## Part 4 — a paged KV cache (`paged`)
#
# A static cache reserves `max_len` slots for every sequence. A server does not know in advance
# how long a response will be, so it must reserve the maximum, and most of that memory holds
# nothing: the vLLM paper measured 60–80 % of KV-cache memory wasted this way. **Paging** fixes it
# the way an operating system does: the memory is one pool of small fixed-size **blocks**
# (e.g. 16 positions), a sequence takes a block only when it needs one, and a **block table** maps
# its logical blocks to physical ones:
#
# ```
# block_size = 4                    pool of blocks (physical)
#                                   ┌────────┬────────┬────────┬────────┬────────┬────────┐
# seq 0, 9 positions                │ 0      │ 1      │ 2      │ 3      │ 4      │ 5      │
#   table [0, 1, 3]                 │ s0 0-3 │ s0 4-7 │ s1 0-3 │ s0 8   │ s1 4   │ free   │
# seq 1, 5 positions                └────────┴────────┴────────┴────────┴────────┴────────┘
#   table [2, 4]
#
# position p of a sequence  →  block table[p // block_size], slot p % block_size
# ```
#
# (These tables come from appending 6 positions to sequence 0, then 3 to sequence 1, 3 to
# sequence 0 and 2 to sequence 1: blocks are taken in the order they are first needed.) When a
# request finishes, `free` returns its blocks to the pool, and the next request reuses them: the
# only waste is the unfilled tail of each sequence's last block. Blocks can also be shared between
# sequences with a common prefix (not needed here).
#
# The allocator: keep the free block ids in a min-heap (`heapq`), and always hand out the
# **lowest-numbered** free block, so block tables are deterministic. A sequence of length `n`
# holds exactly `ceil(n / block_size)` blocks: mind the lengths that are exact multiples of
# `block_size` (a sequence of 8 positions in blocks of 4 holds 2 blocks, not 3). Before taking any
# block, check that enough are free; if not, raise `RuntimeError` and change nothing.
#
# `paged_attention(q, cache, seq_ids)` is one decoding step for a batch of sequences: the newest
# query of each sequence attends to all of that sequence's positions, read **through its block
# table**. Gather the blocks of every sequence (`cache.k_blocks[table]`, padding short tables
# with any block id), lay them out as `(B, Hkv, n_blocks * block_size, D)`, and mask every slot
# at or past the sequence's length: a reused block still holds the keys of the sequence that had
# it before, and a padded table entry points at someone else's block. (Real systems do this
# gather inside the attention kernel, reading the blocks in place.)

# %% [solution id=paged include=../../reference/kv_cache/paged.py::PagedKVCache,paged_attention]

# %% [markdown]
# Self-check of Part 4: the block tables of the picture above, freeing and reuse, and attention
# through the tables against plain attention over each sequence's own keys.

# %%
def check_part4():
    generator = torch.Generator().manual_seed(0)
    cache = PagedKVCache(num_blocks=6, block_size=4, n_kv_heads=2, head_dim=8)
    keys, values = {0: [], 1: []}, {0: [], 1: []}
    for seq_id in (0, 1):
        cache.add_sequence(seq_id)
    for seq_id, n in [(0, 6), (1, 3), (0, 3), (1, 2)]:
        k, v = torch.randn(2, n, 8, generator=generator), torch.randn(2, n, 8, generator=generator)
        cache.append(seq_id, k, v)
        keys[seq_id].append(k)
        values[seq_id].append(v)
    print("tables:", cache.block_table(0), cache.block_table(1), "(expected [0, 1, 3] [2, 4])")
    q = torch.randn(2, 4, 8, generator=generator)
    out = paged_attention(q, cache, [0, 1])
    for b in (0, 1):
        k = torch.cat(keys[b], dim=1).repeat_interleave(2, dim=0)  # (4, L, 8): query head h reads kv head h // 2
        v = torch.cat(values[b], dim=1).repeat_interleave(2, dim=0)
        expected = (torch.softmax(q[b, :, None] @ k.transpose(-1, -2) / math.sqrt(8), dim=-1) @ v)[:, 0]
        print(f"sequence {b}: max |paged - dense| = {(out[b] - expected).abs().max().item():.1e}")
    cache.free(0)
    print("free blocks after freeing sequence 0:", cache.num_free_blocks(), "(expected 4)")
    cache.add_sequence(2)
    cache.append(2, torch.randn(2, 5, 8), torch.randn(2, 5, 8))
    print("sequence 2 reuses:", cache.block_table(2), "(expected [0, 1])")


try:
    check_part4()
except NotImplementedError:
    print("Part 4: not written yet")

# %% [markdown]
# How much memory does paging save? A small simulation, no attention needed: 64 requests whose
# final lengths are spread between 16 and 2048 tokens. A static cache reserves 2048 slots for each;
# the paged cache holds `ceil(length / 16)` blocks of 16.

# %%
lengths = torch.randint(16, 2049, (64,), generator=torch.Generator().manual_seed(0))
static_slots = 64 * 2048
paged_slots = int(((lengths + 15) // 16 * 16).sum())
used = int(lengths.sum())
print(f"positions actually used: {used}")
print(f"static cache: {static_slots} slots, {used / static_slots:.0%} of them used")
print(f"paged cache (blocks of 16): {paged_slots} slots, {used / paged_slots:.1%} of them used")

# %% [markdown]
# ## Part 5 — speed on the GPU (`decode_perf`)
#
# The grader times `generate(model, [prompt], 32)` on one 4096-token prompt against greedy
# decoding by full recompute (the whole sequence through the model at every step), alternately in
# the same run, on an NVIDIA H200, with the 4-layer, 1024-wide model in float32. It reports the
# milliseconds per generated token of both and scores the ratio: full credit at 2×, none at 1.2×.
# The reference reaches 3.4–3.55×.
#
# **Why not 4096×?** A decoding step does about 1/4096 of the arithmetic of recomputing 4096
# positions. But it still launches about 60 small GPU kernels per layer (norms, three projections,
# rotary embedding, the cache write, the masked softmax, the MLP), and each launch costs the CPU
# tens of microseconds. On the H200 a step takes about 3.7 ms whatever the context: it is bound by
# launching kernels, not by the GPU. (In bfloat16 this small model's *recompute* is launch-bound as
# well, so the measured gain there is nil: that would measure launch overhead, not your cache;
# hence float32, where recomputing 4096 positions is arithmetic-bound, as it is for a model of
# real size.) gpt-fast removes the launch overhead with `torch.compile` and CUDA graphs, which need
# exactly what Part 1 gives them: a cache whose shapes never change.
#
# What makes a solution slow here: Python loops over rows or heads inside `update` or `attend`,
# synchronizing with the GPU more than once per step (`.item()`, `int(tensor)`, `.tolist()` in a
# layer), rebuilding the caches or re-running the prompt at any step, copying the whole cache
# (`torch.cat`) at every step.

# %% [markdown]
# ## Self-check
#
# Run the public tests from a terminal: `dlgrade check notebook.ipynb`. The hidden tests go
# further — per-row positions in `update`, chunks starting anywhere, queries that see garbage past
# `kv_len`, grouped heads 1, 2, 3 and 4 to one, fp16 and bf16, prompts of a single token, 30 new
# tokens, `max_new_tokens = 0`, lengths that are exact multiples of the block size, running out of
# blocks, freed blocks that still hold old keys, a random workload of adds, appends and frees — so
# think about those cases too.
