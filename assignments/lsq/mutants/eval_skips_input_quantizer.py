# mutant: part=quant_linear
# mistake: in eval mode the input is not quantized (another path than the one trained)
import torch.nn.functional as F

from reference_solution import *  # noqa: F401,F403
from reference_solution import QuantLinear as _Reference


class QuantLinear(_Reference):
    def forward(self, x):
        if self.training and self.input_quantizer is not None:
            x = self.input_quantizer(x)
        w_hat = self.weight_quantizer(self.weight) if self.weight_quantizer is not None else self.weight
        return F.linear(x, w_hat, self.bias)
