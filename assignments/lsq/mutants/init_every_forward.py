# mutant: part=quantizer
# mistake: re-initialises the step size from the data on every forward, discarding what was learned
from reference_solution import *  # noqa: F401,F403
from reference_solution import LSQQuantizer as _Reference


class LSQQuantizer(_Reference):
    def forward(self, v):
        self.initialize(v)
        return lsq_quantize(v, self.s, self.qn, self.qp, self.grad_scale(v))
