# mutant: part=qlora
# mistake: keeps a reference to base.weight and re-quantizes it at every call, so the layer follows
# later changes of the original weight instead of owning its 4-bit copy
from reference_solution import *  # noqa: F401,F403
import reference_solution
import torch


class QLoRALinear(reference_solution.QLoRALinear):
    def __init__(self, base, r, alpha, blocksize=64, double_quant=True):
        super().__init__(base, r, alpha, blocksize, double_quant)
        self.kept_base_weight = [base.weight]  # in a list: not registered as a parameter

    def dequantized_weight(self, dtype=torch.float32):
        packed, absmax = quantize_nf4(self.kept_base_weight[0].detach(), self.blocksize)
        self.packed_weight = packed
        if self.double_quant:
            self.absmax_q, self.absmax_scale, self.absmax_offset = double_quantize(absmax)
        else:
            self.absmax = absmax
        return super().dequantized_weight(dtype)
