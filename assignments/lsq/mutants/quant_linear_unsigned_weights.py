# mutant: part=quant_linear
# mistake: the weight quantizer is unsigned, so every negative weight is clipped to 0
from reference_solution import *  # noqa: F401,F403
import reference_solution.layers as _layers


class QuantLinear(_layers.QuantLinear):
    def __init__(self, in_features, out_features, bias=True, w_bits=4, a_bits=4, per_channel=False, a_signed=False):
        super().__init__(in_features, out_features, bias=bias, w_bits=w_bits, a_bits=a_bits, per_channel=per_channel,
                         a_signed=a_signed)
        if w_bits:
            self.weight_quantizer = _layers.LSQQuantizer(w_bits, signed=False, per_channel=per_channel, channel_dim=0)
