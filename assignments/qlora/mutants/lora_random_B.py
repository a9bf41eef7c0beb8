# mutant: part=lora
# mistake: initialises B randomly like A, so the adapted model does not start at the pretrained one
from reference_solution import *  # noqa: F401,F403
import math

import reference_solution
import torch.nn as nn


class LoRALinear(reference_solution.LoRALinear):
    def __init__(self, base, r, alpha, dropout=0.0):
        super().__init__(base, r, alpha, dropout)
        nn.init.kaiming_uniform_(self.lora_B, a=math.sqrt(5))
