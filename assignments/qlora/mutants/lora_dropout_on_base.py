# mutant: part=lora
# mistake: applies dropout to the input of the whole layer, so the frozen path is dropped too
from reference_solution import *  # noqa: F401,F403
import reference_solution
import torch.nn.functional as F


class LoRALinear(reference_solution.LoRALinear):
    def forward(self, x):
        x = self.dropout(x)
        out = self.base(x)
        if self.merged:
            return out
        return out + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scaling
