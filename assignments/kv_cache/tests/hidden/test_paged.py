"""PagedKVCache and paged_attention: block tables, the allocator (lowest free block first),
freeing and reuse, running out, and attention that reads each sequence through its table."""

import random

import pytest
import torch

import helpers

pytestmark = pytest.mark.part("paged")

ALLOCATE = ("a sequence takes a new block exactly when its first position in that block is appended "
            "(ceil(length / block_size) blocks in all), the lowest-numbered free block first")
OWN_KEYS = "each query attends to the positions of its own sequence only: 0 .. seq_len - 1, read through its block table"


class Recorder:
    """A PagedKVCache under test, plus what every sequence appended (for dense attention)."""

    def __init__(self, impl, rng, num_blocks, block_size, n_kv_heads=2, head_dim=8, dtype=torch.float32):
        self.cache = impl.PagedKVCache(num_blocks, block_size, n_kv_heads, head_dim, dtype)
        self.rng, self.shape, self.dtype = rng, (n_kv_heads, head_dim), dtype
        self.keys, self.values = {}, {}

    def add(self, seq_id):
        self.cache.add_sequence(seq_id)
        self.keys[seq_id], self.values[seq_id] = [], []

    def append(self, seq_id, n):
        k = helpers.randn(self.rng, self.shape[0], n, self.shape[1], dtype=self.dtype)
        v = helpers.randn(self.rng, self.shape[0], n, self.shape[1], dtype=self.dtype)
        self.cache.append(seq_id, k, v)
        self.keys[seq_id].append(k)
        self.values[seq_id].append(v)

    def free(self, seq_id):
        self.cache.free(seq_id)
        del self.keys[seq_id], self.values[seq_id]

    def attention(self, impl, seq_ids, n_heads=4):
        q = helpers.randn(self.rng, len(seq_ids), n_heads, self.shape[1], dtype=self.dtype)
        return impl.paged_attention(q, self.cache, seq_ids)

    def tables(self, seq_ids):
        return [self.cache.block_table(s) for s in seq_ids]


@pytest.mark.weight(2)
@pytest.mark.parametrize("n", [7, 8, 9, 16], ids=["7", "8=2x4", "9", "16=4x4"])
def test_block_count_at_boundaries(impl, rng, check, n):
    recorder = Recorder(impl, rng, 8, 4)
    recorder.add(0)
    recorder.append(0, n)
    check.exact("block_table", recorder.cache.block_table(0), hint=ALLOCATE)
    check.exact("seq_len", recorder.cache.seq_len(0))
    check.exact("free_blocks", recorder.cache.num_free_blocks(), hint=ALLOCATE)
    check("out", recorder.attention(impl, [0]), hint=OWN_KEYS)


@pytest.mark.weight(2)
def test_one_token_at_a_time(impl, rng, check):
    recorder = Recorder(impl, rng, 6, 3)
    recorder.add(5)
    free_counts = []
    for _ in range(10):
        recorder.append(5, 1)
        free_counts.append(recorder.cache.num_free_blocks())
    check.exact("free_blocks_after_each_append", free_counts, hint=ALLOCATE)
    check("out", recorder.attention(impl, [5]), hint=OWN_KEYS)


@pytest.mark.weight(2)
def test_interleaved_sequences(impl, rng, check):
    recorder = Recorder(impl, rng, 12, 4)
    for seq_id in (10, 20, 30):
        recorder.add(seq_id)
    for seq_id, n in [(10, 3), (20, 5), (10, 2), (30, 4), (20, 3), (10, 4), (30, 1)]:
        recorder.append(seq_id, n)
    check.exact("block_tables", recorder.tables([10, 20, 30]), hint=ALLOCATE)
    check("out", recorder.attention(impl, [10, 20, 30]), hint=OWN_KEYS)


@pytest.mark.weight(2)
def test_free_and_reuse(impl, rng, check):
    recorder = Recorder(impl, rng, 10, 4)
    for seq_id in (0, 1, 2):
        recorder.add(seq_id)
        recorder.append(seq_id, 6)  # 2 blocks each: 0-1, 2-3, 4-5
    recorder.free(1)
    check.exact("free_after_free", recorder.cache.num_free_blocks(), hint="free returns every block of the sequence to the pool")
    recorder.add(3)
    recorder.append(3, 9)  # takes the freed 2, 3 first, then 6
    check.exact("reused_table", recorder.cache.block_table(3), hint="freed blocks are handed out again, lowest first")
    # Sequence 3 now reads blocks that held sequence 1's keys: none of those may leak.
    check("out", recorder.attention(impl, [0, 3, 2]), hint=OWN_KEYS)


@pytest.mark.weight(2)
def test_stale_keys_in_a_reused_block(impl, rng, check):
    recorder = Recorder(impl, rng, 4, 8)
    recorder.add(0)
    recorder.append(0, 16)  # blocks 0 and 1 full
    recorder.free(0)
    recorder.add(1)
    recorder.append(1, 3)   # block 0 again: slots 3..7 still hold sequence 0's keys
    recorder.add(2)
    recorder.append(2, 9)   # block 1 then 2: block 1's slots hold stale keys too
    check.exact("block_tables", recorder.tables([1, 2]), hint=ALLOCATE)
    check("out", recorder.attention(impl, [1, 2]),
          hint="a reused block still holds the keys of the sequence that had it: attend to the first seq_len positions only")


def _append_error(recorder, seq_id, n):
    """The name of the exception `append` raised ("none" when it did not)."""
    try:
        recorder.append(seq_id, n)
    except Exception as error:  # noqa: BLE001 - which exception is what the test records
        return type(error).__name__
    return "none"


def test_out_of_blocks(impl, rng, check):
    recorder = Recorder(impl, rng, 3, 4)
    recorder.add(0)
    recorder.append(0, 10)  # 3 blocks: the pool is empty
    recorder.add(1)
    check.exact("error_on_empty_pool", _append_error(recorder, 1, 1),
                hint="appending with no free block left must raise RuntimeError")
    try:
        recorder.cache.append(0, *[helpers.randn(rng, 2, 3, 8)] * 2)  # 13 positions need a fourth block
        error = "none"
    except Exception as raised:  # noqa: BLE001
        error = type(raised).__name__
    check.exact("error_when_growing", error)
    check.exact("unchanged", [recorder.cache.seq_len(0), recorder.cache.seq_len(1), recorder.cache.block_table(0),
                              recorder.cache.num_free_blocks()],
                hint="a failed append changes nothing: check for enough free blocks before taking any")
    recorder.append(0, 2)  # 12 positions still fit in the three blocks
    check("out", recorder.attention(impl, [0]), hint=OWN_KEYS)


@pytest.mark.weight(2)
def test_pool_runs_dry_mid_append(impl, rng, check):
    """The pool has some free blocks, but fewer than the append needs: it takes none of them."""
    recorder = Recorder(impl, rng, 5, 4)
    recorder.add(0)
    recorder.append(0, 6)  # 2 blocks; 3 left
    recorder.add(1)
    recorder.append(1, 1)  # 1 block; 2 left
    check.exact("error", _append_error(recorder, 1, 12),
                hint="13 positions need 4 blocks, 2 more than the 2 free: raise RuntimeError")
    hint = "a failed append changes nothing: count the blocks it needs before taking any"
    check.exact("after_failed_append", [recorder.cache.seq_len(1), len(recorder.cache.block_table(1)),
                                        recorder.cache.num_free_blocks()], hint=hint)
    recorder.add(2)
    recorder.append(2, 8)  # the 2 free blocks are still there to take
    check.exact("lengths", [recorder.cache.seq_len(s) for s in (0, 1, 2)], hint=hint)
    check("out", recorder.attention(impl, [0, 1, 2]), hint=OWN_KEYS)


def test_whole_pool(impl, rng, check):
    recorder = Recorder(impl, rng, 5, 2)
    recorder.add(0)
    recorder.append(0, 10)
    check.exact("block_table", recorder.cache.block_table(0))
    check.exact("free_blocks", recorder.cache.num_free_blocks())
    check("out", recorder.attention(impl, [0]))


def test_block_size_one(impl, rng, check):
    recorder = Recorder(impl, rng, 9, 1)
    for seq_id in (0, 1):
        recorder.add(seq_id)
    for seq_id, n in [(0, 3), (1, 2), (0, 1), (1, 2)]:
        recorder.append(seq_id, n)
    check.exact("block_tables", recorder.tables([0, 1]), hint=ALLOCATE)
    check("out", recorder.attention(impl, [1, 0]), hint=OWN_KEYS)


@pytest.mark.weight(3)
def test_random_workload(impl, rng, seed, check):
    # A random sequence of adds, appends and frees over a small pool, then attention over all
    # live sequences; block tables end up shuffled and non-contiguous.
    chooser = random.Random(seed)
    recorder = Recorder(impl, rng, 24, 4)
    live, next_id = [], 0
    for _ in range(40):
        action = chooser.random()
        if action < 0.25 or not live:
            while live and recorder.cache.num_free_blocks() < 2:  # a new sequence takes at most 2 blocks
                recorder.free(live.pop(0))
            recorder.add(next_id)
            recorder.append(next_id, chooser.randint(1, 6))
            live.append(next_id)
            next_id += 1
        elif action < 0.85:
            seq_id = chooser.choice(live)
            n = chooser.randint(1, 5)
            if recorder.cache.num_free_blocks() * 4 >= n + 4:  # stay clear of running out
                recorder.append(seq_id, n)
        else:
            seq_id = chooser.choice(live)
            recorder.free(seq_id)
            live.remove(seq_id)
        if len(live) > 5:
            recorder.free(live.pop(0))
    if not live:
        recorder.add(next_id)
        recorder.append(next_id, 3)
        live.append(next_id)
    check.exact("block_tables", recorder.tables(live), hint=ALLOCATE)
    check.exact("lengths", [recorder.cache.seq_len(s) for s in live])
    check.exact("free_blocks", recorder.cache.num_free_blocks())
    check("out", recorder.attention(impl, live), hint=OWN_KEYS)


@pytest.mark.parametrize("H,Hkv", [(8, 2), (3, 3), (4, 1)], ids=["gqa4", "mha", "mqa"])
def test_grouped_query_heads(impl, rng, check, H, Hkv):
    recorder = Recorder(impl, rng, 8, 4, n_kv_heads=Hkv)
    for seq_id, n in [(0, 5), (1, 9)]:
        recorder.add(seq_id)
        recorder.append(seq_id, n)
    check("out", recorder.attention(impl, [0, 1], n_heads=H),
          hint="query head h reads key/value head h // (H // Hkv)")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
def test_half_precision(impl, rng, check, dtype):
    recorder = Recorder(impl, rng, 8, 4, dtype=dtype)
    for seq_id, n in [(0, 6), (1, 11)]:
        recorder.add(seq_id)
        recorder.append(seq_id, n)
    out = recorder.attention(impl, [0, 1])
    check.exact("dtype", str(out.dtype), hint="return the output in q's dtype")
    check("out", out.float(), **helpers.OUT_TOL[dtype])


def test_same_sequence_twice_in_batch(impl, rng, check):
    recorder = Recorder(impl, rng, 6, 4)
    recorder.add(7)
    recorder.append(7, 5)
    recorder.add(8)
    recorder.append(8, 2)
    check("out", recorder.attention(impl, [7, 8, 7]), hint="seq_ids may name a sequence more than once")
