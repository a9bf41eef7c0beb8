# mutant: part=attend
# mistake: expands key/value heads with repeat instead of repeat_interleave: query head h reads kv head h % Hkv
import math

import torch

import reference_solution.model as _model
from reference_solution import *  # noqa: F401,F403


def attend(q, k, v, q_pos, kv_len):
    B, H, Lq, D = q.shape
    Hkv = k.shape[1]
    kv_len = torch.as_tensor(kv_len).expand(B)
    n_keys = int(kv_len.max())
    k = k[:, :, :n_keys].repeat(1, H // Hkv, 1, 1)
    v = v[:, :, :n_keys].repeat(1, H // Hkv, 1, 1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(D)
    key_pos = torch.arange(n_keys)
    visible = (key_pos <= q_pos.expand(B, Lq)[:, :, None]) & (key_pos < kv_len[:, None, None])
    scores = scores.masked_fill(~visible[:, None], float("-inf"))
    return torch.softmax(scores.float(), dim=-1).to(v.dtype) @ v


_model.attend = attend  # the provided model calls attend by name, as in the notebook
