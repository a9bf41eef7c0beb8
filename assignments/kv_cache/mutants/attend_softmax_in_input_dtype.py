# mutant: part=attend
# mistake: the softmax runs in q's dtype (exp(scores) / sum, no float32): in float16 exp overflows past 11
import math

import torch

import reference_solution.model as _model
from reference_solution import *  # noqa: F401,F403


def attend(q, k, v, q_pos, kv_len):
    B, H, Lq, D = q.shape
    Hkv = k.shape[1]
    kv_len = torch.as_tensor(kv_len, device=q.device).expand(B)
    n_keys = int(kv_len.max())
    k, v = k[:, :, :n_keys], v[:, :, :n_keys]
    q = q.reshape(B, Hkv, H // Hkv, Lq, D)
    scores = q @ k[:, :, None].transpose(-2, -1) / math.sqrt(D)
    key_pos = torch.arange(n_keys, device=q.device)
    visible = (key_pos <= q_pos.expand(B, Lq)[:, :, None]) & (key_pos < kv_len[:, None, None])
    exps = scores.exp().masked_fill(~visible[:, None, None], 0.0)
    weights = exps / exps.sum(dim=-1, keepdim=True)
    return (weights @ v[:, :, None]).reshape(B, H, Lq, D)


_model.attend = attend  # the provided model calls attend by name, as in the notebook
