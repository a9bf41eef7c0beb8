"""generate and paged attention on a CUDA GPU (found by the mutation report, MUTATION.md):
"caches in the model's dtype and device", `PagedKVCache(..., device=None)`. Every tensor the
student makes must follow the model's or the cache's device, which only a second device shows;
the block pool's attribute names are the student's own, so the test goes through the API. Not
measured on a grader without a GPU (kv_cache is graded on the gpu queue)."""

import pytest
import torch

import helpers

OWN_DEVICE = "make every tensor on the device of the model (generate) or of the cache (paged): pass device=..."


def _cuda_or_skip() -> str:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU: where tensors live is checked on the grading GPU")
    return "cuda"


def _appended_cache(impl, rng, device, lengths):
    """A PagedKVCache on `device` holding sequences 0, 1, ... of the given lengths."""
    cache = impl.PagedKVCache(8, 4, 2, 8, torch.float32, device=device)
    for seq_id, n in enumerate(lengths):
        cache.add_sequence(seq_id)
        k, v = helpers.randn(rng, 2, n, 8), helpers.randn(rng, 2, n, 8)
        cache.append(seq_id, k.to(device), v.to(device))
    return cache


@pytest.mark.part("paged")
def test_paged_on_the_gpu(impl, rng, check):
    device = _cuda_or_skip()
    cache = _appended_cache(impl, rng, device, lengths=(6, 11, 3))
    q = helpers.randn(rng, 3, 4, 8).to(device)
    check("out", impl.paged_attention(q, cache, [2, 0, 1]).cpu(), hint=OWN_DEVICE)


@pytest.mark.part("generate")
def test_generate_on_the_gpu(impl, rng, seed, check):
    device = _cuda_or_skip()
    model = helpers.make_model(impl, seed, device=device)
    prompts = helpers.random_prompts(rng, [3, 8, 5])
    tokens, logits = impl.generate(model, prompts, 6, return_logits=True)
    check.exact("tokens", tokens, hint=OWN_DEVICE)
    check("logits", logits.cpu(), **helpers.LOGITS_TOL[torch.float32], hint=OWN_DEVICE)
