# mutant: part=nf4
# mistake: packs the first code of each pair into the low nibble instead of the high one
from reference_solution import *  # noqa: F401,F403
import reference_solution


def quantize_nf4(w, blocksize=64):
    packed, absmax = reference_solution.quantize_nf4(w, blocksize)
    high, low = packed >> 4, packed & 0x0F
    return (low << 4) | high, absmax


def dequantize_nf4(packed, absmax, shape, blocksize=64):
    return reference_solution.dequantize_nf4((packed << 4) | (packed >> 4), absmax, shape, blocksize)
