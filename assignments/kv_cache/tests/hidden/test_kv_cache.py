"""KVCache.update on its own: what lands in which slot, for shared and per-row positions."""

import pytest
import torch

import helpers

pytestmark = pytest.mark.part("kv_cache")

WHERE = "slot p of row b must hold the key/value written for row b at position p"


def _kv(rng, *shape, dtype=torch.float32):
    return helpers.randn(rng, *shape, dtype=dtype), helpers.randn(rng, *shape, dtype=dtype)


@pytest.mark.weight(2)
def test_prefill_then_decode_steps(impl, rng, check):
    cache = impl.KVCache(3, 2, 20, 8, torch.float32)
    positions = [torch.arange(6)] + [torch.tensor([p]) for p in range(6, 12)]
    for pos in positions:
        k, v = _kv(rng, 3, 2, len(pos), 8)
        k_all, v_all = cache.update(pos, k, v)
    check.exact("shape", list(k_all.shape), hint="return the whole buffers: (batch, n_kv_heads, max_len, head_dim)")
    check.exact("keys", k_all[:, :, :12], hint=WHERE)
    check.exact("values", v_all[:, :, :12], hint=WHERE)


def test_static_buffers(impl, rng, check):
    cache = impl.KVCache(2, 2, 16, 4, torch.float32)
    pointers, shapes = set(), set()
    for pos in [torch.arange(4), torch.tensor([4]), torch.tensor([5]), torch.arange(6, 9)]:
        k, v = _kv(rng, 2, 2, len(pos), 4)
        k_all, v_all = cache.update(pos, k, v)
        pointers.add((k_all.data_ptr(), v_all.data_ptr()))
        shapes.add((tuple(k_all.shape), tuple(v_all.shape)))
    check.exact("distinct_buffers_and_shapes_returned", [len(pointers), len(shapes)],
                hint="allocate the buffers once, at full size, in __init__, write into them in place and "
                     "return them: no torch.cat, no new tensor per step")
    check.exact("keys", k_all, hint="slot p holds position p")
    check.exact("values", v_all, hint="slot p holds position p")


@pytest.mark.weight(2)
def test_per_row_positions(impl, rng, check):
    # Each row writes a chunk of 3 at its own offset (prompts of different lengths).
    cache = impl.KVCache(3, 2, 16, 8, torch.float32)
    base_k, base_v = _kv(rng, 3, 2, 16, 8)
    cache.update(torch.arange(16), base_k, base_v)  # every slot filled first: a write to the wrong row shows
    pos = torch.tensor([[0, 1, 2], [4, 5, 6], [10, 11, 12]])
    k, v = _kv(rng, 3, 2, 3, 8)
    k_all, v_all = cache.update(pos, k, v)
    hint = "with pos of shape (B, T), row b writes its T keys at pos[b]: other rows and other slots stay as they were"
    check.exact("keys", k_all, hint=hint)
    check.exact("values", v_all, hint=hint)


def test_per_row_single_step(impl, rng, check):
    cache = impl.KVCache(4, 1, 10, 4, torch.float32)
    base_k, base_v = _kv(rng, 4, 1, 10, 4)
    cache.update(torch.arange(10), base_k, base_v)
    k, v = _kv(rng, 4, 1, 1, 4)
    k_all, v_all = cache.update(torch.tensor([[3], [0], [9], [5]]), k, v)  # one decode step, four lengths
    check.exact("keys", k_all, hint="pos (B, 1): each row writes its one new key at its own position")
    check.exact("values", v_all)


def test_positions_out_of_order(impl, rng, check):
    cache = impl.KVCache(2, 2, 12, 4, torch.float32)
    pos = torch.tensor([7, 2, 10, 0])
    k, v = _kv(rng, 2, 2, 4, 4)
    k_all, v_all = cache.update(pos, k, v)
    check.exact("keys", k_all[:, :, pos], hint="the t-th key goes to slot pos[t], whatever the order of pos")
    check.exact("values", v_all[:, :, pos])


def test_overwrite(impl, rng, check):
    cache = impl.KVCache(2, 2, 8, 4, torch.float32)
    k, v = _kv(rng, 2, 2, 6, 4)
    cache.update(torch.arange(6), k, v)
    k2, v2 = _kv(rng, 2, 2, 2, 4)
    k_all, v_all = cache.update(torch.tensor([2, 3]), k2, v2)
    hint = "writing a position again replaces what its slot held; the other slots keep theirs"
    check.exact("keys", k_all[:, :, :6], hint=hint)
    check.exact("values", v_all[:, :, :6], hint=hint)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
def test_half_precision(impl, rng, check, dtype):
    cache = impl.KVCache(2, 2, 10, 8, dtype)
    for pos in [torch.arange(4), torch.tensor([4])]:
        k, v = _kv(rng, 2, 2, len(pos), 8, dtype=dtype)
        k_all, v_all = cache.update(pos, k, v)
    hint = "keep the cache in the dtype it was built with"
    check.exact("keys", k_all[:, :, :5], hint=hint)
    check.exact("values", v_all[:, :, :5], hint=hint)


def test_noncontiguous_inputs(impl, rng, check):
    # As in the model: k and v come out of a view(B, T, H, D).transpose(1, 2).
    cache = impl.KVCache(2, 3, 12, 8, torch.float32)
    k = helpers.randn(rng, 2, 5, 3, 8).transpose(1, 2)
    v = helpers.randn(rng, 2, 5, 3, 8).transpose(1, 2)
    k_all, v_all = cache.update(torch.arange(3, 8), k, v)
    check.exact("keys", k_all[:, :, 3:8], hint="k and v may be non-contiguous views")
    check.exact("values", v_all[:, :, 3:8])


def test_fills_to_max_len(impl, rng, check):
    cache = impl.KVCache(1, 2, 9, 4, torch.float32)
    k, v = _kv(rng, 1, 2, 5, 4)
    cache.update(torch.arange(5), k, v)
    for p in range(5, 9):
        k, v = _kv(rng, 1, 2, 1, 4)
        k_all, v_all = cache.update(torch.tensor([p]), k, v)
    check.exact("keys", k_all, hint="the last position, max_len - 1, is a slot like any other")
    check.exact("values", v_all)


def test_separate_caches_per_layer(impl, rng, check):
    first, second = impl.KVCache(2, 2, 6, 4, torch.float32), impl.KVCache(2, 2, 6, 4, torch.float32)
    k1, v1 = _kv(rng, 2, 2, 3, 4)
    k2, v2 = _kv(rng, 2, 2, 3, 4)
    first.update(torch.arange(3), k1, v1)
    k_all, v_all = second.update(torch.arange(3), k2, v2)
    check.exact("second_keys", k_all[:, :, :3], hint="each KVCache owns its buffers: no class-level or shared storage")
    k_all, v_all = first.update(torch.tensor([3]), *_kv(rng, 2, 2, 1, 4))
    check.exact("first_keys", k_all[:, :, :3])
