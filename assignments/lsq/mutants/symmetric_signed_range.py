# mutant: part=quantizer
# mistake: a symmetric signed range [-(2^(b-1)-1), 2^(b-1)-1], one code short of two's complement
from reference_solution import *  # noqa: F401,F403
from reference_solution import LSQQuantizer as _Reference


class LSQQuantizer(_Reference):
    def __init__(self, bits, signed, per_channel=False, channel_dim=0, batch_dim=None):
        super().__init__(bits, signed, per_channel, channel_dim, batch_dim)
        if signed:
            self.qn = 2 ** (bits - 1) - 1
