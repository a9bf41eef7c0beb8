# mutant: part=double_quant
# mistake: one scale for the whole absmax vector instead of one per block of 256
from reference_solution import *  # noqa: F401,F403
import math

import torch


def double_quantize(absmax, blocksize=256):
    absmax = absmax.reshape(-1).float()
    offset = absmax.mean()
    centered = absmax - offset
    scale = centered.abs().max() / 127
    q = torch.round(centered / scale) if scale > 0 else torch.zeros_like(centered)
    scales = scale.expand(math.ceil(absmax.numel() / blocksize)).clone()
    return q.to(torch.int8), scales, offset
