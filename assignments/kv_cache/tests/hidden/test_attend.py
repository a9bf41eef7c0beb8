"""attend on its own (shapes, positions, grouped heads, dtypes) and inside the model: chunked
prefill and decoding through a simple cache owned by the test, so only attend is graded here."""

import pytest
import torch

import helpers

pytestmark = pytest.mark.part("attend")

BOTTOM_RIGHT = ("query i sits at absolute position q_pos[i]: it sees keys 0..q_pos[i] (the causal mask aligned "
                "to the bottom-right corner), not keys 0..i")


class DenseCache:
    """A plain static cache (the test's own), so that these tests grade attend alone."""

    def __init__(self, batch, n_kv_heads, max_len, head_dim, dtype):
        self.k = torch.zeros(batch, n_kv_heads, max_len, head_dim, dtype=dtype)
        self.v = torch.zeros(batch, n_kv_heads, max_len, head_dim, dtype=dtype)

    def update(self, pos, k, v):
        for row in range(k.shape[0]):
            row_pos = pos if pos.dim() == 1 else pos[row]
            self.k[row, :, row_pos], self.v[row, :, row_pos] = k[row], v[row]
        return self.k, self.v


def _caches(model, batch, max_len):
    c = model.config
    dtype = model.tok_emb.weight.dtype
    return [DenseCache(batch, c.n_kv_head, max_len, c.head_dim, dtype) for _ in range(c.n_layer)]


def _qkv(rng, B, H, Hkv, Lq, Lk, D, dtype=torch.float32):
    return (helpers.randn(rng, B, H, Lq, D, dtype=dtype), helpers.randn(rng, B, Hkv, Lk, D, dtype=dtype),
            helpers.randn(rng, B, Hkv, Lk, D, dtype=dtype))


def test_square_prefill(impl, rng, check):
    q, k, v = _qkv(rng, 2, 4, 2, 9, 9, 16)
    check("out", impl.attend(q, k, v, torch.arange(9), 9), hint="Lq = kv_len: the plain causal mask")


@pytest.mark.weight(2)
@pytest.mark.parametrize("start,chunk", [(6, 4), (1, 7), (12, 3)])
def test_chunk_against_cache(impl, rng, check, start, chunk):
    q, k, v = _qkv(rng, 2, 4, 2, chunk, 20, 16)
    out = impl.attend(q, k, v, torch.arange(start, start + chunk), start + chunk)
    check("out", out, hint=BOTTOM_RIGHT)


def test_single_query_decode(impl, rng, check):
    q, k, v = _qkv(rng, 3, 4, 2, 1, 24, 8)
    check("out", impl.attend(q, k, v, torch.tensor([16]), 17),
          hint="a decoding query at position kv_len - 1 sees all kv_len keys, and none of the slots after them")


def test_slots_past_kv_len_ignored(impl, rng, check):
    # The buffer holds 32 slots; the ones past kv_len are large garbage that must not leak in.
    q, k, v = _qkv(rng, 2, 4, 4, 3, 32, 8)
    k[:, :, 11:] *= 50
    v[:, :, 11:] += 1000
    check("out", impl.attend(q, k, v, torch.arange(8, 11), 11),
          hint="only the first kv_len slots hold keys: mask (or slice away) every slot from kv_len on")


@pytest.mark.weight(2)
def test_kv_len_hides_keys_causality_would_show(impl, rng, check):
    # Queries at positions 9..12 over kv_len 6 (and per row 4 and 7): causality alone would let
    # them see slots 6..12, which hold large garbage; kv_len must hide them.
    q, k, v = _qkv(rng, 2, 4, 2, 4, 16, 8)
    k[:, :, 4:] *= 5
    v[:, :, 4:] += 100
    check("out_int_kv_len", impl.attend(q, k, v, torch.arange(9, 13), 6),
          hint="query i sees key j only if j <= q_pos[i] AND j < kv_len, even where q_pos is past kv_len")
    q_pos = torch.tensor([[9, 10, 11, 12], [6, 7, 8, 9]])
    check("out_per_row_kv_len", impl.attend(q, k, v, q_pos, torch.tensor([4, 7])),
          hint="query i of row b sees key j only if j <= q_pos[b, i] AND j < kv_len[b]")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
def test_half_precision_large_scores(impl, rng, check, dtype):
    # Scores up to ~40: exp of them overflows float16 (past 11.1); a float32 softmax does not.
    q, k, v = _qkv(rng, 2, 4, 2, 4, 12, 16, dtype=dtype)
    q = q * 10
    out = impl.attend(q, k, v, torch.arange(8, 12), 12)
    check.exact("dtype", str(out.dtype), hint="return the output in q's dtype")
    check("out", out.float(), **helpers.OUT_TOL[dtype], hint="compute the softmax in float32 (scores.float())")


@pytest.mark.parametrize("H,Hkv", [(4, 4), (8, 2), (6, 3), (4, 1)], ids=["mha", "gqa4", "gqa2", "mqa"])
def test_grouped_query_heads(impl, rng, check, H, Hkv):
    q, k, v = _qkv(rng, 2, H, Hkv, 3, 10, 8)
    check("out", impl.attend(q, k, v, torch.arange(5, 8), 8),
          hint="query head h reads key/value head h // (H // Hkv): consecutive query heads share one "
               "(repeat_interleave, not repeat)")


@pytest.mark.weight(2)
def test_per_row_positions(impl, rng, check):
    # Three sequences of lengths 4, 9 and 1 decode one token each: q_pos (B, 1), kv_len (B,).
    q, k, v = _qkv(rng, 3, 4, 2, 1, 12, 8)
    lengths = torch.tensor([5, 10, 2])
    out = impl.attend(q, k, v, (lengths - 1)[:, None], lengths)
    check("out", out, hint="q_pos (B, Lq) and kv_len (B,) hold one row per sequence: mask each row with its own")


def test_per_row_chunks(impl, rng, check):
    q, k, v = _qkv(rng, 2, 4, 2, 3, 12, 8)
    q_pos = torch.tensor([[2, 3, 4], [7, 8, 9]])
    check("out", impl.attend(q, k, v, q_pos, torch.tensor([5, 10])), hint=BOTTOM_RIGHT)


def test_noncontiguous_query(impl, rng, check):
    q = helpers.randn(rng, 2, 5, 4, 8).transpose(1, 2)  # (B, H, Lq, D) as a view, like the model's
    k, v = helpers.randn(rng, 2, 2, 9, 8), helpers.randn(rng, 2, 2, 9, 8)
    check("out", impl.attend(q, k, v, torch.arange(4, 9), 9), hint="q may be a non-contiguous view: use reshape, not view")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
def test_half_precision(impl, rng, check, dtype):
    q, k, v = _qkv(rng, 2, 4, 2, 4, 12, 16, dtype=dtype)
    out = impl.attend(q, k, v, torch.arange(6, 10), 10)
    check.exact("dtype", str(out.dtype), hint="return the output in q's dtype")
    check("out", out.float(), **helpers.OUT_TOL[dtype], hint="compute the softmax in float32")


def test_head_dim_scale(impl, rng, check):
    q, k, v = _qkv(rng, 1, 2, 2, 2, 6, 64)
    check("out", impl.attend(q, k, v, torch.arange(4, 6), 6), hint="scale the scores by 1 / sqrt(head_dim)")


# --- inside the model -------------------------------------------------------------------------

@pytest.mark.weight(3)
@pytest.mark.parametrize("chunk", [1, 4, 5])
def test_chunked_prefill_logits(impl, rng, seed, check, chunk):
    model = helpers.make_model(impl, seed)
    idx = torch.tensor(helpers.random_prompts(rng, [13, 13]))  # (2, 13)
    caches = _caches(model, 2, 16)
    logits = []
    with torch.no_grad():
        for start in range(0, 13, chunk):
            end = min(start + chunk, 13)
            logits.append(model(idx[:, start:end], pos=torch.arange(start, end), caches=caches, kv_len=end))
    check("logits", torch.cat(logits, dim=1), **helpers.LOGITS_TOL[torch.float32],
          hint="prefilling a prompt chunk by chunk must give the logits of one full pass: " + BOTTOM_RIGHT)


@pytest.mark.weight(2)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=["fp32", "fp16", "bf16"])
def test_teacher_forced_decode(impl, rng, seed, check, dtype):
    # Prefill 7 tokens, then feed 8 given tokens one at a time: logits at every step.
    model = helpers.make_model(impl, seed, dtype=dtype)
    idx = torch.tensor(helpers.random_prompts(rng, [15]))  # (1, 15)
    caches = _caches(model, 1, 15)
    with torch.no_grad():
        logits = [model(idx[:, :7], pos=torch.arange(7), caches=caches, kv_len=7)]
        for p in range(7, 15):
            logits.append(model(idx[:, p:p + 1], pos=torch.tensor([p]), caches=caches, kv_len=p + 1))
    check("logits", torch.cat(logits, dim=1), **helpers.LOGITS_TOL[dtype],
          hint="decoding one token at a time must give the logits of full recompute")


@pytest.mark.weight(2)
def test_ragged_batch_decode(impl, rng, seed, check):
    # Right-padded prompts of lengths 3, 8, 5 prefilled together, then two per-row steps.
    model = helpers.make_model(impl, seed)
    lengths = torch.tensor([3, 8, 5])
    idx = torch.tensor(helpers.random_prompts(rng, [10, 10, 10]))  # (3, 10): columns past a length are padding
    caches = _caches(model, 3, 10)
    rows = torch.arange(3)
    with torch.no_grad():
        logits = [model(idx[:, :8], pos=torch.arange(8), caches=caches, kv_len=8)[rows, lengths - 1]]
        for _ in range(2):
            logits.append(model(idx[rows, lengths][:, None], pos=lengths[:, None], caches=caches,
                                kv_len=lengths + 1)[:, 0])
            lengths = lengths + 1
    check("logits", torch.stack(logits, dim=1), **helpers.LOGITS_TOL[torch.float32],
          hint="each row decodes at its own position q_pos[b] and sees only its own first kv_len[b] slots")
