# mutant: part=memory
# mistake: stores one code per byte (uint8, unpacked), 8 bits per weight instead of 4
from reference_solution import *  # noqa: F401,F403
import reference_solution
import torch


class QLoRALinear(reference_solution.QLoRALinear):
    def __init__(self, base, r, alpha, blocksize=64, double_quant=True):
        super().__init__(base, r, alpha, blocksize, double_quant)
        packed = self.packed_weight
        self.register_buffer("codes", torch.stack((packed >> 4, packed & 0x0F), dim=1).reshape(-1))
