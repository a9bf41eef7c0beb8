"""Shared by the kv_cache tests (importable as `helpers`); released with the public tests.

Independent implementations the public tests assert against (plain attention from a mask
built position by position, greedy decoding by full recompute one prompt at a time),
seeded input builders, the tolerances, and the perf case, timed with the shared
`autograder.harness.perf.time_interleaved`. Nothing here decides a score: the values go to
`check`.
"""

from __future__ import annotations

import math

import torch
from autograder.harness.perf import skip_without_gpu, time_interleaved

# The CPU models are tiny: one thread is the fastest, and it does not fight other processes.
torch.set_num_threads(1)

# Logits (float32 out of the model) compared with the reference: fp32 within 1e-4; in half
# precision both sides round differently at every layer, so looser, and no token equality in bf16.
LOGITS_TOL = {
    torch.float32: dict(rtol=1.3e-6, atol=1e-4),
    torch.float16: dict(rtol=1e-3, atol=1e-2),
    torch.bfloat16: dict(rtol=1.6e-2, atol=6e-2),
}
# Attention outputs in their own dtype (fp32: assert_close's defaults).
OUT_TOL = {
    torch.float32: dict(rtol=1.3e-6, atol=1e-5),
    torch.float16: dict(rtol=1e-3, atol=1e-2),
    torch.bfloat16: dict(rtol=1.6e-2, atol=6e-2),
}


def small_config(impl, **overrides):
    """The model every CPU test decodes with: 2 layers, 4 query heads sharing 2 key/value heads."""
    return impl.GPTConfig(**{"vocab_size": 96, "n_layer": 2, "n_head": 4, "n_kv_head": 2, "n_embd": 64, **overrides})


def make_model(impl, seed, dtype=torch.float32, device="cpu", **overrides):
    return impl.GPT(small_config(impl, **overrides), seed=seed % 2**31).to(device=device, dtype=dtype)


def random_prompts(rng, lengths, vocab_size=96):
    """One list of token ids per length."""
    return [torch.randint(0, vocab_size, (n,), generator=rng).tolist() for n in lengths]


def randn(rng, *shape, dtype=torch.float32):
    """Normal samples drawn in float32 from the test's generator, then cast."""
    return torch.randn(*shape, generator=rng).to(dtype)


# --- independent references -----------------------------------------------------------------

def attention_reference(q, k, v, q_pos, kv_len):
    """Plain attention in float64, the mask built from positions: query i of row b sees key j
    iff j <= q_pos[b, i] and j < kv_len[b]. Key/value heads repeated for grouped queries.
    q (B, H, Lq, D); k, v (B, Hkv, Lk, D); q_pos (Lq,) or (B, Lq); kv_len int or (B,)."""
    B, H, Lq, D = q.shape
    Hkv, Lk = k.shape[1], k.shape[2]
    group = H // Hkv
    k = k.double().repeat_interleave(group, dim=1)  # head h reads key/value head h // group
    v = v.double().repeat_interleave(group, dim=1)
    q_pos = torch.as_tensor(q_pos).expand(B, Lq)
    kv_len = torch.as_tensor(kv_len).expand(B)
    out = torch.empty(B, H, Lq, D, dtype=torch.float64)
    for b in range(B):
        for i in range(Lq):
            seen = min(int(q_pos[b, i]) + 1, int(kv_len[b]), Lk)  # keys 0 .. seen-1
            scores = q[b, :, i, None].double() @ k[b, :, :seen].transpose(-1, -2) / math.sqrt(D)  # (H, 1, seen)
            out[b, :, i] = (torch.softmax(scores, dim=-1) @ v[b, :, :seen])[:, 0]  # (H, D)
    return out


@torch.no_grad()
def greedy_by_recompute(model, prompts, max_new_tokens):
    """Greedy decoding one prompt at a time, running the whole sequence through the model at
    every step (no cache, no padding). Returns (tokens, logits (B, max_new_tokens, vocab))."""
    device = model.tok_emb.weight.device
    all_tokens, all_logits = [], []
    for prompt in prompts:
        sequence = torch.tensor([prompt], dtype=torch.long, device=device)  # (1, T)
        step_logits = []
        for _ in range(max_new_tokens):
            logits = model(sequence)[0, -1]  # (vocab,): the last position only
            step_logits.append(logits)
            sequence = torch.cat([sequence, logits.argmax().view(1, 1)], dim=1)
        all_tokens.append(sequence[0, len(prompt):].tolist())
        all_logits.append(torch.stack(step_logits) if step_logits else torch.zeros(0, model.config.vocab_size))
    return all_tokens, torch.stack(all_logits)


def dense_attention_by_sequence(q, keys, values):
    """Reference for paged attention: q (B, H, D); keys[b], values[b] (Hkv, L_b, D), every
    position the sequence appended, in order. Returns (B, H, D) in float64."""
    outputs = []
    for b in range(q.shape[0]):
        k, v = keys[b], values[b]
        out = attention_reference(q[b:b + 1, :, None], k[None], v[None], [k.shape[1] - 1], k.shape[1])
        outputs.append(out[0, :, 0])
    return torch.stack(outputs)


# --- the perf case (hidden test_perf.py and bench/gpu_kv_cache.py call this) ------------------

PERF_MODEL = dict(vocab_size=4096, n_layer=4, n_head=16, n_kv_head=4, n_embd=1024)
PERF_CONTEXT = 4096     # prompt tokens
PERF_NEW_TOKENS = 32    # tokens generated per timed call
# float32: recomputing 4096 positions is then arithmetic-bound, as it is for a large model in
# bf16. This small model in bf16 is bound by kernel launches on both paths (PERF.md).
PERF_DTYPE = torch.float32


def decode_speed(impl, check, seed, *, dtype=PERF_DTYPE, context=PERF_CONTEXT, new_tokens=PERF_NEW_TOKENS,
                 model=PERF_MODEL, name="decode_4k", rounds=9):
    """Time per generated token of `impl.generate(use_cache=True)` on one prompt of `context`
    tokens, against greedy decoding by full recompute (`greedy_by_recompute`), timed
    alternately in the same run. Returns the figures (also given to check.perf)."""
    skip_without_gpu()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    config = impl.GPTConfig(**model)
    gpt = impl.GPT(config, seed=seed % 2**31).to(device="cuda", dtype=dtype)
    prompt = torch.randint(0, config.vocab_size, (context,), generator=torch.Generator().manual_seed(seed)).tolist()
    # cuDNN attention builds a plan for every new sequence length (tens of ms each on an H200);
    # the other backends need none, so the timings measure decoding, not planning.
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]):
        tokens, logits = impl.generate(gpt, [prompt], new_tokens, return_logits=True)
        if check is not None:
            check("first_step_logits", logits[:, 0], **LOGITS_TOL[dtype],
                  hint="the output is wrong at this size; the correctness tests say more")
            check.exact("new_tokens", len(tokens[0]), hint="generate returned the wrong number of tokens")
        medians, spread = time_interleaved({
            "student": lambda: impl.generate(gpt, [prompt], new_tokens),
            "baseline": lambda: greedy_by_recompute(gpt, [prompt], new_tokens),
        }, rounds=rounds, warmup=2, max_spread=0.1, attempts=3, device="cuda")
    student_s, baseline_s = medians["student"] / new_tokens, medians["baseline"] / new_tokens
    details = {"cached ms/token": student_s * 1e3, "recompute ms/token": baseline_s * 1e3,
               "context": float(context), "new tokens": float(new_tokens)}
    if check is not None:
        check.perf(name, student_s=student_s, baseline_s=baseline_s, spread=spread, details=details)
    return dict(details, ratio=baseline_s / student_s, spread=spread, tokens=tokens)
