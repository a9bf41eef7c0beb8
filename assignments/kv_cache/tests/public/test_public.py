"""Public tests: run them with `dlgrade check notebook.ipynb`. Each compares your code with an
independent implementation in tests/helpers.py (a mask built position by position, decoding
by full recompute), so a failure here says what differs. The hidden tests check the same
functions on many more cases (other shapes, dtypes, chunk sizes, block layouts)."""

import pytest
import torch

import helpers


@pytest.mark.part("kv_cache")
def test_kv_cache_prefill_then_decode(impl, rng, check):
    batch, n_kv_heads, max_len, head_dim = 2, 2, 12, 8
    cache = impl.KVCache(batch, n_kv_heads, max_len, head_dim, torch.float32)
    expected_k = torch.zeros(batch, n_kv_heads, max_len, head_dim)
    expected_v = torch.zeros(batch, n_kv_heads, max_len, head_dim)
    for pos in [torch.arange(5), torch.tensor([5]), torch.tensor([6])]:  # a prompt of 5, then 2 steps
        k = helpers.randn(rng, batch, n_kv_heads, len(pos), head_dim)
        v = helpers.randn(rng, batch, n_kv_heads, len(pos), head_dim)
        k_all, v_all = cache.update(pos, k, v)
        expected_k[:, :, pos], expected_v[:, :, pos] = k, v
    assert tuple(k_all.shape) == (batch, n_kv_heads, max_len, head_dim), (
        f"update returned shape {tuple(k_all.shape)}: return the whole static buffers, "
        "(batch, n_kv_heads, max_len, head_dim)")
    torch.testing.assert_close(k_all[:, :, :7], expected_k[:, :, :7], msg="keys: slot p must hold the key of position p")
    torch.testing.assert_close(v_all[:, :, :7], expected_v[:, :, :7], msg="values: slot p must hold the value of position p")
    check.exact("keys_written", k_all[:, :, :7])
    check.exact("values_written", v_all[:, :, :7])


@pytest.mark.part("attend")
def test_attend_chunk_of_queries(impl, rng, check):
    # A chunk of 4 queries at positions 6..9 against a cache holding 10 keys (16 slots).
    q = helpers.randn(rng, 2, 4, 4, 16)
    k, v = helpers.randn(rng, 2, 2, 16, 16), helpers.randn(rng, 2, 2, 16, 16)
    q_pos = torch.arange(6, 10)
    out = impl.attend(q, k, v, q_pos, 10)
    expected = helpers.attention_reference(q, k, v, q_pos, 10).float()
    torch.testing.assert_close(out, expected, msg=(
        "query i of the chunk sits at position q_pos[i] = 6 + i: it sees keys 0..6+i "
        "(the causal mask aligned bottom-right), and head h reads key/value head h // 2"))
    check("out", out)


@pytest.mark.part("generate")
def test_generate_ragged_batch(impl, rng, seed, check):
    model = helpers.make_model(impl, seed)
    prompts = helpers.random_prompts(rng, [5, 1, 9])
    tokens, logits = impl.generate(model, prompts, 6, return_logits=True)
    expected_tokens, expected_logits = helpers.greedy_by_recompute(model, prompts, 6)
    assert tokens == expected_tokens, (
        f"tokens {tokens}, full recompute gives {expected_tokens}: check that each row takes its "
        "next token from its own last prompt position, decodes at its own positions, and never attends padding")
    torch.testing.assert_close(logits, expected_logits, **helpers.LOGITS_TOL[torch.float32])
    check.exact("tokens", torch.tensor(tokens))
    check("logits", logits, **helpers.LOGITS_TOL[torch.float32])


@pytest.mark.part("paged")
def test_paged_two_sequences(impl, rng, check):
    block_size, n_kv_heads, head_dim = 4, 2, 8
    cache = impl.PagedKVCache(8, block_size, n_kv_heads, head_dim, torch.float32)
    keys, values = {0: [], 1: []}, {0: [], 1: []}
    for seq_id in (0, 1):
        cache.add_sequence(seq_id)
    # Interleaved appends: 6 positions of sequence 0, 3 of 1, 3 of 0, 2 of 1.
    for seq_id, n in [(0, 6), (1, 3), (0, 3), (1, 2)]:
        k, v = helpers.randn(rng, n_kv_heads, n, head_dim), helpers.randn(rng, n_kv_heads, n, head_dim)
        cache.append(seq_id, k, v)
        keys[seq_id].append(k)
        values[seq_id].append(v)
    tables = [cache.block_table(0), cache.block_table(1)]
    assert tables == [[0, 1, 3], [2, 4]], (
        f"block tables {tables}: a sequence takes a block when its first position in it is appended, "
        "always the lowest-numbered free block")
    q = helpers.randn(rng, 2, 4, head_dim)
    out = impl.paged_attention(q, cache, [0, 1])
    expected = helpers.dense_attention_by_sequence(q, [torch.cat(keys[s], dim=1) for s in (0, 1)],
                                                   [torch.cat(values[s], dim=1) for s in (0, 1)]).float()
    torch.testing.assert_close(out, expected, msg="each query attends to every position of its own sequence, and only those")
    check.exact("block_tables", torch.tensor(tables[0] + tables[1]))
    check("out", out)
