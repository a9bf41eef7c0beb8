"""Double quantization: quantize the quantization constants (QLoRA, section 3).

With blocksize 64 each block of 4-bit weights carries a float32 absmax: 32 / 64 = 0.5 extra
bits per weight. Quantizing the absmax values themselves to 8 bits, in blocks of 256 with one
float32 scale per block, costs 8 / 64 + 32 / (64 * 256) = 0.127 bits per weight instead.

absmax values are all positive, so they are centred on their mean first (the `offset`) to use
both signs of the int8 range. The code here is plain symmetric int8 (q = round(x / scale),
scale = max|x| / 127); bitsandbytes uses its 8-bit "dynamic" float code instead, which spends
more codes near zero. Both land well under 1% relative error on absmax.
"""

import math

import torch
import torch.nn.functional as F


def double_quantize(absmax: torch.Tensor, blocksize: int = 256):
    """(q int8, scale float32 per block of `blocksize`, offset float32 0-dim)."""
    ### BEGIN SOLUTION
    absmax = absmax.reshape(-1).to(torch.float32)  # (n,)
    n = absmax.numel()
    offset = absmax.mean()  # 0-dim
    centered = absmax - offset  # (n,) both signs
    n_blocks = math.ceil(n / blocksize)
    blocks = F.pad(centered, (0, n_blocks * blocksize - n)).view(n_blocks, blocksize)  # (n_blocks, blocksize)
    scale = blocks.abs().amax(dim=1) / 127  # (n_blocks,)
    divisor = torch.where(scale > 0, scale, torch.ones_like(scale))  # a constant block: q = 0
    q = torch.round(blocks / divisor[:, None]).clamp_(-127, 127)  # round half to even
    return q.reshape(-1)[:n].to(torch.int8), scale, offset
    ### END SOLUTION


def double_dequantize(q: torch.Tensor, scale: torch.Tensor, offset, blocksize: int = 256) -> torch.Tensor:
    """absmax ≈ q * scale[block] + offset, float32 of q's length."""
    ### BEGIN SOLUTION
    n = q.numel()
    n_blocks = scale.numel()
    if n_blocks != math.ceil(n / blocksize):
        raise ValueError(f"{n_blocks} scales do not fit {n} values in blocks of {blocksize}")
    blocks = F.pad(q.reshape(-1).to(torch.float32), (0, n_blocks * blocksize - n)).view(n_blocks, blocksize)
    return (blocks * scale[:, None] + offset).reshape(-1)[:n]
    ### END SOLUTION
