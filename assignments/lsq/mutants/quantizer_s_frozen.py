# mutant: part=quantizer
# mistake: s is an nn.Parameter with requires_grad=False, so no optimizer ever moves it
from reference_solution import *  # noqa: F401,F403
import reference_solution.quantize as _quantize


class LSQQuantizer(_quantize.LSQQuantizer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.s.requires_grad_(False)
