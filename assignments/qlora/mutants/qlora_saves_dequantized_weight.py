# mutant: part=qlora
# mistake: a plain F.linear on the dequantized weight, which autograd keeps alive until backward
from reference_solution import *  # noqa: F401,F403
import reference_solution
import torch.nn.functional as F


class QLoRALinear(reference_solution.QLoRALinear):
    def forward(self, x):
        weight = self.dequantized_weight().to(x.dtype)
        out = F.linear(x, weight, None if self.bias is None else self.bias.to(x.dtype))
        return out + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scaling
