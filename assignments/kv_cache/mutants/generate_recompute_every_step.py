# mutant: part=decode_perf
# mistake: use_cache=True refills fresh caches with the whole sequence at every step: right tokens, no speed-up
import torch

from reference_solution import *  # noqa: F401,F403


@torch.no_grad()
def generate(model, prompts, max_new_tokens, use_cache=True, return_logits=False):
    device = model.tok_emb.weight.device
    B = len(prompts)
    lengths = torch.tensor([len(p) for p in prompts], device=device)
    L = int(lengths.max())
    tokens = torch.zeros(B, L + max_new_tokens, dtype=torch.long, device=device)
    for row, prompt in enumerate(prompts):
        tokens[row, :len(prompt)] = torch.tensor(prompt)
    rows = torch.arange(B, device=device)
    config = model.config
    chosen = []
    for step in range(max_new_tokens):
        T = int(lengths.max())
        caches = [KVCache(B, config.n_kv_head, T, config.head_dim, dtype=model.tok_emb.weight.dtype, device=device)
                  for _ in range(config.n_layer)]
        step_logits = model(tokens[:, :T], pos=torch.arange(T, device=device), caches=caches, kv_len=T)[rows, lengths - 1]
        chosen.append(step_logits)
        tokens[rows, lengths] = step_logits.argmax(-1)
        lengths = lengths + 1
    new = [tokens[row, len(p):len(p) + max_new_tokens].tolist() for row, p in enumerate(prompts)]
    if not return_logits:
        return new
    return new, torch.stack(chosen, 1) if chosen else torch.zeros(B, 0, config.vocab_size, device=device)
