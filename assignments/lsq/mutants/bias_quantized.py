# mutant: part=quant_linear
# mistake: quantizes the bias with the weight's step size, as if it were part of the weight
import torch
import torch.nn.functional as F

from reference_solution import *  # noqa: F401,F403
from reference_solution import QuantLinear as _Reference


class QuantLinear(_Reference):
    def forward(self, x):
        x_hat = self.input_quantizer(x) if self.input_quantizer is not None else x
        if self.weight_quantizer is None:
            return F.linear(x_hat, self.weight, self.bias)
        w_hat = self.weight_quantizer(self.weight)
        bias = self.bias
        if bias is not None:
            q = self.weight_quantizer
            bias = torch.round(torch.clamp(bias / q.s, -q.qn, q.qp)) * q.s
        return F.linear(x_hat, w_hat, bias)
