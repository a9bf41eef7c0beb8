# mutant: part=lora
# mistake: forgets to freeze the base layer, so the optimizer would update all of W
from reference_solution import *  # noqa: F401,F403
import reference_solution


class LoRALinear(reference_solution.LoRALinear):
    def __init__(self, base, r, alpha, dropout=0.0):
        super().__init__(base, r, alpha, dropout)
        for parameter in self.base.parameters():
            parameter.requires_grad_(True)
