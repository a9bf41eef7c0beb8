# mutant: part=qlora
# mistake: initialises lora_A with kaiming_uniform_'s default a = 0, not a = sqrt(5) as
# LoRALinear (and nn.Linear) do: A starts sqrt(6) times wider
from reference_solution import *  # noqa: F401,F403
import reference_solution
import torch
import torch.nn as nn


class QLoRALinear(reference_solution.QLoRALinear):
    def __init__(self, base, r, alpha, blocksize=64, double_quant=True):
        super().__init__(base, r, alpha, blocksize, double_quant)
        with torch.no_grad():
            nn.init.kaiming_uniform_(self.lora_A)
