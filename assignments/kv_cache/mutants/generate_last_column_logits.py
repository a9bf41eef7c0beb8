# mutant: part=generate
# mistake: takes every row's first new token from the last column of the padded prefill (padding, for shorter prompts)
import torch

from reference_solution import *  # noqa: F401,F403


@torch.no_grad()
def generate(model, prompts, max_new_tokens, use_cache=True, return_logits=False):
    device = model.tok_emb.weight.device
    B = len(prompts)
    lengths = torch.tensor([len(p) for p in prompts])
    L = int(lengths.max())
    tokens = torch.zeros(B, L + max_new_tokens, dtype=torch.long)
    for row, prompt in enumerate(prompts):
        tokens[row, :len(prompt)] = torch.tensor(prompt)
    rows = torch.arange(B)
    config = model.config
    caches = [KVCache(B, config.n_kv_head, L + max_new_tokens, config.head_dim, dtype=model.tok_emb.weight.dtype,
                      device=device) for _ in range(config.n_layer)]
    if use_cache:
        step_logits = model(tokens[:, :L], pos=torch.arange(L), caches=caches, kv_len=L)[:, -1]
    else:
        step_logits = model(tokens[:, :L])[:, -1]
    chosen = []
    for step in range(max_new_tokens):
        chosen.append(step_logits)
        next_token = step_logits.argmax(-1)
        tokens[rows, lengths] = next_token
        lengths = lengths + 1
        if step == max_new_tokens - 1:
            break
        if use_cache:
            step_logits = model(next_token[:, None], pos=(lengths - 1)[:, None], caches=caches, kv_len=lengths)[:, -1]
        else:
            step_logits = model(tokens[:, :int(lengths.max())])[rows, lengths - 1]
    new = [tokens[row, len(p):len(p) + max_new_tokens].tolist() for row, p in enumerate(prompts)]
    if not return_logits:
        return new
    return new, torch.stack(chosen, 1) if chosen else torch.zeros(B, 0, config.vocab_size)
