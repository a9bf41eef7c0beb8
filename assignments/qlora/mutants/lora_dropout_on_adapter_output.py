# mutant: part=lora
# mistake: applies dropout to the adapter's output (x A^T B^T) instead of its input x
from reference_solution import *  # noqa: F401,F403
import reference_solution
import torch.nn.functional as F


class LoRALinear(reference_solution.LoRALinear):
    def forward(self, x):
        out = self.base(x)
        if self.merged:
            return out
        return out + self.dropout(F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scaling)
