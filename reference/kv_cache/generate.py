"""Batched greedy decoding with a KV cache, for prompts of different lengths."""

from __future__ import annotations

import torch

from .cache import KVCache


@torch.no_grad()
def generate(model, prompts: list[list[int]], max_new_tokens: int, use_cache: bool = True,
             return_logits: bool = False):
    """Greedy decoding of every prompt (a list of token ids, at least one) in one batch.

    Returns the `max_new_tokens` new tokens of each prompt (a list of lists of int); with
    `return_logits`, also the logits each new token was chosen from, (B, max_new_tokens, vocab)
    float32. With `use_cache=False`, every step recomputes the whole sequences (the oracle).

    Layout: prompts are right-padded into one (B, L) batch, and every row keeps its own
    length. Row b's new token goes to position lengths[b], in the token buffer and in the
    cache, so its keys stay contiguous from 0 and its padding is never attended: in the
    prefill, causality hides the padding after the prompt; later, each step overwrites the
    next padding slot, and kv_len = lengths hides the rest.
    """
    ### BEGIN SOLUTION
    device = model.tok_emb.weight.device
    B = len(prompts)
    lengths = torch.tensor([len(prompt) for prompt in prompts], device=device)  # (B,)
    L = int(lengths.max())
    tokens = torch.zeros(B, L + max_new_tokens, dtype=torch.long, device=device)  # right-padded with 0
    for row, prompt in enumerate(prompts):
        tokens[row, :len(prompt)] = torch.tensor(prompt, dtype=torch.long)
    rows = torch.arange(B, device=device)

    if use_cache:
        config = model.config
        caches = [KVCache(B, config.n_kv_head, L + max_new_tokens, config.head_dim,
                          dtype=model.tok_emb.weight.dtype, device=device) for _ in range(config.n_layer)]
        # Prefill: all prompts at positions 0..L-1 in one pass.
        logits = model(tokens[:, :L], pos=torch.arange(L, device=device), caches=caches, kv_len=L)
    else:
        logits = model(tokens[:, :L])
    step_logits = logits[rows, lengths - 1]  # (B, vocab): each row's last real token, not column L-1

    chosen = []
    for step in range(max_new_tokens):
        chosen.append(step_logits)
        next_token = step_logits.argmax(dim=-1)  # (B,)
        tokens[rows, lengths] = next_token
        lengths = lengths + 1
        if step == max_new_tokens - 1:
            break
        if use_cache:
            pos = (lengths - 1)[:, None]  # (B, 1): every row at its own position
            step_logits = model(next_token[:, None], pos=pos, caches=caches, kv_len=lengths)[:, -1]
        else:
            step_logits = model(tokens[:, :int(lengths.max())])[rows, lengths - 1]

    new_tokens = [tokens[row, len(prompt):len(prompt) + max_new_tokens].tolist() for row, prompt in enumerate(prompts)]
    if not return_logits:
        return new_tokens
    vocab = model.config.vocab_size
    logits_out = torch.stack(chosen, dim=1) if chosen else torch.zeros(B, 0, vocab, device=device)
    return new_tokens, logits_out
    ### END SOLUTION
