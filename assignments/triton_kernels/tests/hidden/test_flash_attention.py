import pytest
import torch

import helpers

pytestmark = pytest.mark.part("flash_attention")

# out is fp16/bf16: two correct kernels round P and the output differently, by about one unit
# in the last place of values of order 1. lse is fp32 but sums fp16 products in any order.
OUT_TOL = {torch.float16: dict(rtol=2e-3, atol=2e-3), torch.bfloat16: dict(rtol=1.6e-2, atol=1.6e-2)}
LSE_TOL = dict(rtol=1e-4, atol=1e-4)


def qkv(rng, device, batch, heads, n_queries, n_keys, head_dim, dtype=torch.float16, scale=1.0):
    q = helpers.randn(rng, batch, heads, n_queries, head_dim, dtype=dtype, device=device, scale=scale)
    k = helpers.randn(rng, batch, heads, n_keys, head_dim, dtype=dtype, device=device, scale=scale)
    v = helpers.randn(rng, batch, heads, n_keys, head_dim, dtype=dtype, device=device)
    return q, k, v


def check_attention(check, result, dtype=torch.float16, hint=None):
    out, lse = result
    check.exact("lse_dtype", str(lse.dtype), hint="lse is float32")
    check("out", out, **OUT_TOL[dtype], hint=hint)
    check("lse", lse, **LSE_TOL, hint=hint or "lse = log(sum_j exp(sm_scale * q . k_j)), natural log, per query")


# (B, H, Nq, Nk, D): every head size, Nq and Nk off the block sizes, Nq != Nk both ways.
FULL_SHAPES = [(1, 1, 16, 16, 16), (2, 3, 40, 40, 32), (1, 2, 100, 100, 64), (1, 1, 17, 33, 128),
               (2, 1, 64, 150, 64), (1, 2, 77, 29, 32)]
if helpers.ON_GPU:
    FULL_SHAPES += [(2, 4, 1000, 1000, 64), (1, 2, 333, 2049, 128)]


@pytest.mark.parametrize("shape", FULL_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_attention_shapes(impl, rng, check, device, shape):
    q, k, v = qkv(rng, device, *shape)
    check_attention(check, impl.flash_attention(q, k, v),
                    hint="Nq or Nk not a multiple of the block: mask queries on load/store and keys in the scores")


# (B, H, Nq, Nk, D): square, Nq < Nk (bottom-right alignment), a single query (decoding).
CAUSAL_SHAPES = [(1, 2, 64, 64, 32), (2, 1, 50, 50, 64), (1, 2, 30, 100, 32), (1, 1, 1, 50, 64), (1, 1, 47, 80, 16)]
if helpers.ON_GPU:
    CAUSAL_SHAPES += [(2, 4, 1000, 1000, 64), (1, 2, 300, 1500, 128)]


@pytest.mark.weight(2)
@pytest.mark.parametrize("shape", CAUSAL_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_attention_causal(impl, rng, check, device, shape):
    q, k, v = qkv(rng, device, *shape)
    check_attention(check, impl.flash_attention(q, k, v, causal=True),
                    hint="causal, aligned bottom-right: query i sees keys j <= i + Nk - Nq")


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_attention_explicit_scale(impl, rng, check, device, causal):
    q, k, v = qkv(rng, device, 1, 2, 40, 56, 32)
    check_attention(check, impl.flash_attention(q, k, v, causal=causal, sm_scale=0.3),
                    hint="use the sm_scale argument when it is given (1/sqrt(D) only when it is None)")


@pytest.mark.weight(2)
def test_attention_large_logits(impl, rng, check, device):
    # Logits of several hundred: exp overflows unless the running maximum is subtracted.
    q, k, v = qkv(rng, device, 1, 2, 32, 96, 64, scale=6.0)
    check_attention(check, impl.flash_attention(q, k, v),
                    hint="subtract the running row maximum before exp, and rescale acc and the sum when it grows")


@pytest.mark.weight(2)
def test_attention_many_key_blocks(impl, rng, check, device):
    # Many key blocks per query block: the online-softmax rescaling runs many times.
    q, k, v = qkv(rng, device, 1, 1, 16, 300, 32, scale=2.0)
    check_attention(check, impl.flash_attention(q, k, v),
                    hint="when the row maximum grows, multiply acc and the running sum by exp(old_max - new_max)")


@pytest.mark.weight(2)
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_attention_non_contiguous(impl, rng, check, device, causal):
    # (B, N, H, D) tensors viewed as (B, H, N, D), as a model's projections produce them.
    q = helpers.randn(rng, 2, 36, 3, 32, dtype=torch.float16, device=device).transpose(1, 2)
    k = helpers.randn(rng, 2, 52, 3, 32, dtype=torch.float16, device=device).transpose(1, 2)
    v = helpers.randn(rng, 2, 52, 3, 32, dtype=torch.float16, device=device).transpose(1, 2)
    check_attention(check, impl.flash_attention(q, k, v, causal=causal),
                    hint="use each tensor's four strides; q, k and v may be non-contiguous views")


@pytest.mark.parametrize("dtype", helpers.HALF_DTYPES, ids=helpers.dtype_id)
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_attention_dtypes(impl, rng, check, device, dtype, causal):
    shape = (1, 2, 50, 70, 64) if device == "cpu" else (2, 2, 200, 260, 64)
    q, k, v = qkv(rng, device, *shape, dtype=dtype)
    out, lse = impl.flash_attention(q, k, v, causal=causal)
    check.exact("dtype", str(out.dtype), hint="out keeps the inputs' dtype")
    check_attention(check, (out, lse), dtype=dtype)


def test_attention_output_shapes(impl, rng, check, device):
    q, k, v = qkv(rng, device, 2, 3, 20, 44, 16)
    out, lse = impl.flash_attention(q, k, v)
    check.exact("shapes", [list(out.shape), list(lse.shape)], hint="out is (B, H, Nq, D) and lse is (B, H, Nq)")
    check_attention(check, (out, lse))


def test_attention_launches_a_triton_kernel(impl, rng, check, device):
    q, k, v = qkv(rng, device, 1, 1, 16, 16, 16)
    with helpers.count_triton_launches() as counter:
        impl.flash_attention(q, k, v)
    check.bound("triton_kernel_launches", counter["launches"], lower=1,
                hint="flash_attention must launch a Triton kernel; SDPA is not allowed")
