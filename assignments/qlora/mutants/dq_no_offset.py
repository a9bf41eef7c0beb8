# mutant: part=double_quant
# mistake: quantizes absmax without subtracting its mean, wasting the negative half of int8
from reference_solution import *  # noqa: F401,F403
import math

import torch
import torch.nn.functional as F


def double_quantize(absmax, blocksize=256):
    absmax = absmax.reshape(-1).float()
    n = absmax.numel()
    n_blocks = math.ceil(n / blocksize)
    blocks = F.pad(absmax, (0, n_blocks * blocksize - n)).view(n_blocks, blocksize)
    scale = blocks.abs().amax(dim=1) / 127
    q = torch.round(blocks / torch.where(scale > 0, scale, torch.ones_like(scale))[:, None])
    return q.reshape(-1)[:n].to(torch.int8), scale, torch.zeros(())
