# mutant: part=lora
# mistake: scales the update by alpha instead of alpha / r
from reference_solution import *  # noqa: F401,F403
import reference_solution


class LoRALinear(reference_solution.LoRALinear):
    def __init__(self, base, r, alpha, dropout=0.0):
        super().__init__(base, r, alpha, dropout)
        self.scaling = alpha
