# mutant: part=attend
# mistake: masks every row with row 0's positions and kv_len, as if the batch decoded in lockstep
import math

import torch

import reference_solution.model as _model
from reference_solution import *  # noqa: F401,F403


def attend(q, k, v, q_pos, kv_len):
    B, H, Lq, D = q.shape
    Hkv = k.shape[1]
    kv_len = torch.as_tensor(kv_len).expand(B)
    n_keys = int(kv_len.max())
    q_pos, first_len = q_pos.expand(B, Lq)[0], kv_len[0]
    k = k[:, :, :n_keys].repeat_interleave(H // Hkv, dim=1)
    v = v[:, :, :n_keys].repeat_interleave(H // Hkv, dim=1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(D)
    key_pos = torch.arange(n_keys)
    visible = (key_pos <= q_pos[:, None]) & (key_pos < first_len)  # (Lq, n_keys), shared by all rows
    scores = scores.masked_fill(~visible, float("-inf"))
    return torch.softmax(scores.float(), dim=-1).to(v.dtype) @ v


_model.attend = attend  # the provided model calls attend by name, as in the notebook
