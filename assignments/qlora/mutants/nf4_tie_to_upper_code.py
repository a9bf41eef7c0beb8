# mutant: part=nf4
# mistake: a value exactly on a midpoint takes the upper code (searchsorted with right=True)
from reference_solution import *  # noqa: F401,F403
import math

import torch
import torch.nn.functional as F


def quantize_nf4(w, blocksize=64):
    flat = w.detach().reshape(-1).float()
    n = flat.numel()
    n_blocks = math.ceil(n / blocksize)
    blocks = F.pad(flat, (0, n_blocks * blocksize - n)).view(n_blocks, blocksize)
    absmax = blocks.abs().amax(dim=1)
    normalized = (blocks / torch.where(absmax > 0, absmax, torch.ones_like(absmax))[:, None]).reshape(-1)[:n]
    midpoints = (NF4_CODE[:-1] + NF4_CODE[1:]) / 2
    codes = torch.searchsorted(midpoints, normalized, right=True).to(torch.uint8)
    if n % 2:
        codes = F.pad(codes, (0, 1))
    pairs = codes.view(-1, 2)
    return (pairs[:, 0] << 4) | pairs[:, 1], absmax
