# mutant: part=quant_linear
# mistake: the input quantizer is signed by default (a_signed=True), wasting half its codes on negatives a ReLU never makes
from reference_solution import *  # noqa: F401,F403
import reference_solution.layers as _layers


class QuantLinear(_layers.QuantLinear):
    def __init__(self, in_features, out_features, bias=True, w_bits=4, a_bits=4, per_channel=False, a_signed=True):
        super().__init__(in_features, out_features, bias=bias, w_bits=w_bits, a_bits=a_bits, per_channel=per_channel,
                         a_signed=a_signed)
