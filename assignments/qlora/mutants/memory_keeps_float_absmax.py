# mutant: part=memory
# mistake: with double quantization, also keeps the float32 absmax it was computed from
from reference_solution import *  # noqa: F401,F403
import reference_solution


class QLoRALinear(reference_solution.QLoRALinear):
    def __init__(self, base, r, alpha, blocksize=64, double_quant=True):
        super().__init__(base, r, alpha, blocksize, double_quant)
        if double_quant:
            _, absmax = quantize_nf4(base.weight.detach(), blocksize)
            self.register_buffer("absmax_float", absmax)
