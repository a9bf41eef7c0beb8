# mutant: part=qlora
# mistake: computes the adapter in the base weight's dtype and adds the base weight's bias as it
# is, so a bf16 input to a float32 layer comes out float32 instead of in the input's dtype
from reference_solution import *  # noqa: F401,F403
import reference_solution
import torch.nn.functional as F


class QLoRALinear(reference_solution.QLoRALinear):
    def forward(self, x):
        out = NF4Matmul.apply(x, self)
        if self.bias is not None:
            out = out + self.bias
        update = F.linear(F.linear(x.to(self.lora_A.dtype), self.lora_A), self.lora_B)
        return out + update * self.scaling
