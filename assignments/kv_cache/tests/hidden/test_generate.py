"""generate: batched greedy decoding, compared with the reference's tokens and logits (which
equal full recompute). fp32: tokens exactly, logits within 1e-4. Half precision: the first
step's logits only, since a near-tie may legitimately pick another token later."""

import pytest
import torch

import helpers

pytestmark = pytest.mark.part("generate")

RAGGED = ("prompts of different lengths: take each row's first new token from its own last prompt position, "
          "decode every row at its own position (pos of shape (B, 1)) and never attend padding")


def _tokens_tensor(tokens, prompts, n):
    """The returned tokens as a (B, n) tensor, or a failure that says what the shape should be."""
    lengths = [len(row) for row in tokens] if isinstance(tokens, (list, tuple)) else None
    assert lengths == [n] * len(prompts), (
        f"generate must return one list of max_new_tokens={n} tokens per prompt (the new tokens only), "
        f"got {'lists of lengths ' + str(lengths) if lengths is not None else type(tokens).__name__}")
    return torch.tensor(tokens, dtype=torch.long).reshape(len(prompts), n)


def _generate(impl, model, prompts, n, check, hint, **kwargs):
    result = impl.generate(model, prompts, n, return_logits=True, **kwargs)
    assert isinstance(result, tuple) and len(result) == 2, "with return_logits=True, generate returns (tokens, logits)"
    tokens, logits = result
    check.exact("tokens", _tokens_tensor(tokens, prompts, n), hint=hint)
    check("logits", logits, **helpers.LOGITS_TOL[torch.float32], hint=hint)


@pytest.mark.weight(2)
def test_single_prompt(impl, rng, seed, check):
    model = helpers.make_model(impl, seed)
    _generate(impl, model, helpers.random_prompts(rng, [6]), 10, check,
              "one prompt: prefill it, then decode one token per step at positions 6, 7, ...")


@pytest.mark.weight(3)
@pytest.mark.parametrize("lengths", [[3, 11, 1, 7], [2, 9]], ids=["four", "two"])
def test_ragged_batch(impl, rng, seed, check, lengths):
    model = helpers.make_model(impl, seed)
    _generate(impl, model, helpers.random_prompts(rng, lengths), 8, check, RAGGED)


def test_equal_lengths(impl, rng, seed, check):
    model = helpers.make_model(impl, seed)
    _generate(impl, model, helpers.random_prompts(rng, [5, 5, 5]), 6, check, "three prompts of the same length")


def test_one_token_prompts(impl, rng, seed, check):
    model = helpers.make_model(impl, seed)
    _generate(impl, model, helpers.random_prompts(rng, [1, 1]), 7, check, "prompts of a single token")


@pytest.mark.weight(2)
def test_long_generation(impl, rng, seed, check):
    model = helpers.make_model(impl, seed)
    _generate(impl, model, helpers.random_prompts(rng, [2, 5]), 30, check,
              "many more new tokens than prompt tokens: size the cache for prompt + max_new_tokens")


def test_without_cache(impl, rng, seed, check):
    model = helpers.make_model(impl, seed)
    _generate(impl, model, helpers.random_prompts(rng, [4, 9, 2]), 5, check,
              "use_cache=False recomputes the whole sequences at every step: the same tokens and logits",
              use_cache=False)


def test_batch_equals_alone(impl, rng, seed, check):
    model = helpers.make_model(impl, seed)
    prompts = helpers.random_prompts(rng, [8, 3])
    together = _tokens_tensor(impl.generate(model, prompts, 6), prompts, 6)
    alone = _tokens_tensor(impl.generate(model, prompts[1:], 6), prompts[1:], 6)
    check.exact("short_prompt_in_batch", together[1],
                hint="a prompt batched with a longer one must decode exactly as it does alone: " + RAGGED)
    check.exact("short_prompt_alone", alone[0])


def test_one_new_token(impl, rng, seed, check):
    model = helpers.make_model(impl, seed)
    _generate(impl, model, helpers.random_prompts(rng, [4, 6]), 1, check,
              "max_new_tokens=1: the prefill's logits at each row's last prompt token")


def test_zero_new_tokens(impl, rng, seed, check):
    model = helpers.make_model(impl, seed)
    result = impl.generate(model, helpers.random_prompts(rng, [3, 5]), 0, return_logits=True)
    assert isinstance(result, tuple) and len(result) == 2, "with return_logits=True, generate returns (tokens, logits)"
    tokens, logits = result
    check.exact("tokens", tokens, hint="max_new_tokens=0: one empty list per prompt")
    check.exact("logits_shape", list(logits.shape), hint="max_new_tokens=0: logits of shape (B, 0, vocab_size)")
    check.exact("tokens_of_one_step", impl.generate(model, helpers.random_prompts(rng, [3, 5]), 1))


def test_return_types(impl, rng, seed, check):
    model = helpers.make_model(impl, seed)
    prompts = helpers.random_prompts(rng, [3, 4])
    copies = [list(p) for p in prompts]
    tokens = impl.generate(model, prompts, 3)
    rows = tokens if isinstance(tokens, list) else []
    check.exact("types_returned", [type(tokens).__name__, [type(row).__name__ for row in rows],
                                   sorted({type(t).__name__ for row in rows if isinstance(row, list) for t in row})],
                hint="return a list with one list of Python ints per prompt (Tensor.tolist())")
    check.exact("row_lengths", [len(row) for row in rows], hint="one token per step: max_new_tokens per prompt")
    check.exact("tokens", tokens)
    check.exact("prompts_after_generate", prompts, hint="do not modify the prompts you are given")


@pytest.mark.parametrize("n_kv_head", [1, 4], ids=["mqa", "mha"])
def test_other_head_layouts(impl, rng, seed, check, n_kv_head):
    model = helpers.make_model(impl, seed, n_kv_head=n_kv_head)
    _generate(impl, model, helpers.random_prompts(rng, [5, 2]), 5, check,
              "size the caches from model.config: n_kv_head key/value heads of head_dim each")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
def test_half_precision_first_step(impl, rng, seed, check, dtype):
    model = helpers.make_model(impl, seed, dtype=dtype)
    result = impl.generate(model, helpers.random_prompts(rng, [4, 7]), 3, return_logits=True)
    assert isinstance(result, tuple) and len(result) == 2, "with return_logits=True, generate returns (tokens, logits)"
    tokens, logits = result
    check.exact("logits_shape", list(logits.shape), hint="logits of shape (B, max_new_tokens, vocab_size)")
    check("first_step_logits", logits[:, 0], **helpers.LOGITS_TOL[dtype],
          hint="build the caches in the model's dtype (model.tok_emb.weight.dtype)")
