# mutant: part=paged
# mistake: attends to every slot of every block in the table, not only the first seq_len positions
import math

import torch

from reference_solution import *  # noqa: F401,F403


def paged_attention(q, cache, seq_ids):
    B, H, D = q.shape
    Hkv = cache.k_blocks.shape[1]
    outputs = []
    for row, seq_id in enumerate(seq_ids):
        table = torch.tensor(cache.block_table(seq_id))
        k = cache.k_blocks[table].transpose(0, 1).reshape(Hkv, -1, D)  # (Hkv, n_blocks * block_size, D)
        v = cache.v_blocks[table].transpose(0, 1).reshape(Hkv, -1, D)
        k, v = k.repeat_interleave(H // Hkv, dim=0), v.repeat_interleave(H // Hkv, dim=0)
        scores = (q[row, :, None] @ k.transpose(-2, -1)) / math.sqrt(D)  # (H, 1, S)
        outputs.append((torch.softmax(scores.float(), dim=-1).to(v.dtype) @ v)[:, 0])
    return torch.stack(outputs)
