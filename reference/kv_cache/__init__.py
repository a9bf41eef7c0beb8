"""Reference solution of the kv_cache assignment: incremental decoding with a static KV cache,
chunked prefill, batched greedy generation and a paged cache."""

from .attention import attend
from .cache import KVCache
from .generate import generate
from .model import GPT, GPTConfig, apply_rope, rope_angles
from .paged import PagedKVCache, paged_attention

__all__ = ["GPT", "GPTConfig", "KVCache", "PagedKVCache", "apply_rope", "attend", "generate",
           "paged_attention", "rope_angles"]
