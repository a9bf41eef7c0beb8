# mutant: part=generate
# mistake: appends each new token to the caller's prompt lists (the prompts are modified in place)
import torch

from reference_solution import *  # noqa: F401,F403
from reference_solution import generate as reference_generate


@torch.no_grad()
def generate(model, prompts, max_new_tokens, use_cache=True, return_logits=False):
    result = reference_generate(model, prompts, max_new_tokens, use_cache=use_cache, return_logits=return_logits)
    new_tokens = result[0] if return_logits else result
    for prompt, tokens in zip(prompts, new_tokens):
        prompt.extend(tokens)
    return result
