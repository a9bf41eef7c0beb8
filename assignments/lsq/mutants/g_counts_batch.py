# mutant: part=quantizer
# mistake: N in g = 1/sqrt(N*qp) counts every element of an activation, batch included
import math

from reference_solution import *  # noqa: F401,F403
from reference_solution import LSQQuantizer as _Reference


class LSQQuantizer(_Reference):
    def grad_scale(self, v):
        return 1.0 / math.sqrt(v.numel() // self.s.numel() * self.qp)
