# mutant: part=nf4
# mistake: scales every block by the absmax of the whole tensor instead of its own
from reference_solution import *  # noqa: F401,F403
import math

import torch
import torch.nn.functional as F


def quantize_nf4(w, blocksize=64):
    flat = w.detach().reshape(-1).float()
    n = flat.numel()
    scale = flat.abs().max()
    normalized = flat / scale if scale > 0 else flat
    midpoints = (NF4_CODE[:-1] + NF4_CODE[1:]) / 2
    codes = torch.searchsorted(midpoints, normalized).to(torch.uint8)
    if n % 2:
        codes = F.pad(codes, (0, 1))
    pairs = codes.view(-1, 2)
    absmax = scale.expand(math.ceil(n / blocksize)).clone()
    return (pairs[:, 0] << 4) | pairs[:, 1], absmax
