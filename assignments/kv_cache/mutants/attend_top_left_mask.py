# mutant: part=attend
# mistake: causal mask aligned top-left (query i of a chunk sees keys 0..i), right only when the chunk starts at 0
import math

import torch

import reference_solution.model as _model
from reference_solution import *  # noqa: F401,F403


def attend(q, k, v, q_pos, kv_len):
    B, H, Lq, D = q.shape
    Hkv = k.shape[1]
    n_keys = int(torch.as_tensor(kv_len).max())
    k = k[:, :, :n_keys].repeat_interleave(H // Hkv, dim=1)
    v = v[:, :, :n_keys].repeat_interleave(H // Hkv, dim=1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(D)
    mask = torch.ones(Lq, n_keys, dtype=torch.bool).tril()
    scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores.float(), dim=-1).to(v.dtype) @ v


_model.attend = attend  # the provided model calls attend by name, as in the notebook
