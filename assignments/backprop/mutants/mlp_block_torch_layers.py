# mutant: part=mlp_block
# mistake: builds the block from torch's own F.layer_norm / F.linear / F.gelu instead of the
#          hand-written Functions, so autograd computes its backward
from reference_solution import *  # noqa: F401,F403
import torch.nn.functional as F

from reference_solution import MLPBlock as _Reference


class MLPBlock(_Reference):
    def forward(self, x):
        h = F.layer_norm(x, x.shape[-1:], self.ln_weight, self.ln_bias, self.eps)
        h = F.gelu(F.linear(h, self.fc_weight, self.fc_bias))
        return x + F.linear(h, self.proj_weight, self.proj_bias)
