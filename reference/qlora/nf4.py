"""4-bit NormalFloat (NF4), the data type of QLoRA (Dettmers et al., 2023, section 3).

Pretrained weights are close to normally distributed. A 4-bit code whose 16 values are
quantiles of N(0, 1) puts the same share of a normal block's values into each bin, which is
what an information-theoretically optimal code for that distribution does. Each block of
`blocksize` consecutive weights is scaled into [-1, 1] by its absolute maximum (`absmax`), each
value is replaced by the index of the nearest code value, and two 4-bit indices share a byte.
"""

import math

import torch
import torch.nn.functional as F

def nf4_code(offset: float = 0.9677083) -> torch.Tensor:
    """The 16 NF4 values, ascending, in [-1, 1] with an exact zero.

    The outermost probability is `offset` = 1 - (1/30 + 1/32) / 2 (rounded as bitsandbytes
    has it): the average of the half-steps of a 15- and a 16-point grid. The quantile of 1
    itself would be infinite.

    Asymmetric so that zero is exactly representable: 8 positive quantiles from a grid of 9
    probabilities in [offset, 1/2] (the last, 1/2, is the zero and is dropped), 7 negative from
    a grid of 8, then 0, all divided by the largest so the ends are exactly -1 and 1. Computed
    in float64, stored in float32, as bitsandbytes does.
    """
    positive = torch.special.ndtri(torch.linspace(offset, 0.5, 9, dtype=torch.float64)[:-1])  # (8,)
    negative = -torch.special.ndtri(torch.linspace(offset, 0.5, 8, dtype=torch.float64)[:-1])  # (7,)
    values = torch.cat([negative, torch.zeros(1, dtype=torch.float64), positive]).sort().values  # (16,)
    return (values / values.abs().max()).to(torch.float32)


NF4_CODE = nf4_code()


def quantize_nf4(w: torch.Tensor, blocksize: int = 64):
    """NF4-quantize `w` block by block.

    Returns `packed` (uint8, `ceil(numel / 2)` bytes: the first of each pair of codes in the
    high nibble, a zero low nibble after an odd count) and `absmax` (float32, one per block of
    `blocksize` consecutive values of the row-major flattened `w`, the last block possibly
    short). A block of zeros has absmax 0 and codes 7 (the code of 0.0).
    """
    ### BEGIN SOLUTION
    if blocksize <= 0:
        raise ValueError(f"blocksize must be positive, got {blocksize}")
    flat = w.detach().reshape(-1).to(torch.float32)  # (n,) in row-major order
    n = flat.numel()
    n_blocks = math.ceil(n / blocksize)
    blocks = F.pad(flat, (0, n_blocks * blocksize - n)).view(n_blocks, blocksize)  # padding never raises the max
    absmax = blocks.abs().amax(dim=1)  # (n_blocks,)
    divisor = torch.where(absmax > 0, absmax, torch.ones_like(absmax))
    normalized = (blocks / divisor[:, None]).reshape(-1)[:n]  # (n,) in [-1, 1]

    code = NF4_CODE.to(flat.device)
    midpoints = (code[:-1] + code[1:]) / 2  # (15,) the decision boundaries, float32
    # The number of midpoints strictly below x is the index of the nearest code value; a value
    # exactly on a midpoint has that midpoint not counted, so it takes the lower code.
    codes = torch.searchsorted(midpoints, normalized).to(torch.uint8)  # (n,) in 0..15

    if n % 2:
        codes = F.pad(codes, (0, 1))  # the last low nibble stays 0
    pairs = codes.view(-1, 2)  # (ceil(n/2), 2)
    packed = (pairs[:, 0] << 4) | pairs[:, 1]  # first code in the high nibble
    return packed, absmax
    ### END SOLUTION


def dequantize_nf4(packed: torch.Tensor, absmax: torch.Tensor, shape, blocksize: int = 64) -> torch.Tensor:
    """Inverse of `quantize_nf4`: float32 tensor of `shape`, `NF4_CODE[code] * absmax[block]`."""
    ### BEGIN SOLUTION
    shape = tuple(shape)
    n = math.prod(shape)
    n_blocks = absmax.numel()
    if packed.numel() != math.ceil(n / 2) or n_blocks != math.ceil(n / blocksize):
        raise ValueError(
            f"{packed.numel()} packed bytes and {n_blocks} absmax values do not fit shape {shape} "
            f"with blocksize {blocksize}"
        )
    codes = torch.stack((packed >> 4, packed & 0x0F), dim=1).reshape(-1)  # (2 * n_bytes,) uint8
    codes = F.pad(codes[:n], (0, n_blocks * blocksize - n))  # (n_blocks * blocksize,)
    # index_select takes int32 indices: half the bytes of int64 for a transient the size of W.
    values = NF4_CODE.to(packed.device).index_select(0, codes.to(torch.int32))
    values = values.view(n_blocks, blocksize).mul_(absmax.to(torch.float32)[:, None])  # (n_blocks, blocksize)
    return values.view(-1)[:n].view(shape)
    ### END SOLUTION
