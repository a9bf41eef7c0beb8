# mutant: part=attend
# mistake: the mask is causal only (key j <= q_pos); kv_len is ignored, so a query past kv_len sees empty slots
import math

import torch

import reference_solution.model as _model
from reference_solution import *  # noqa: F401,F403


def attend(q, k, v, q_pos, kv_len):
    B, H, Lq, D = q.shape
    Hkv, n_keys = k.shape[1], k.shape[2]
    q = q.reshape(B, Hkv, H // Hkv, Lq, D)
    scores = q @ k[:, :, None].transpose(-2, -1) / math.sqrt(D)
    key_pos = torch.arange(n_keys, device=q.device)
    visible = key_pos <= q_pos.expand(B, Lq)[:, :, None]
    scores = scores.masked_fill(~visible[:, None, None], float("-inf"))
    weights = torch.softmax(scores.float(), dim=-1).to(v.dtype)
    return (weights @ v[:, :, None]).reshape(B, H, Lq, D)


_model.attend = attend  # the provided model calls attend by name, as in the notebook
