# mutant: part=quantizer
# mistake: creates s as a new nn.Parameter on the first forward, so an optimizer built earlier never trains it
import math

import torch
import torch.nn as nn

from reference_solution import *  # noqa: F401,F403
from reference_solution import LSQQuantizer as _Reference


class LSQQuantizer(_Reference):
    @torch.no_grad()
    def initialize(self, v):
        if self.per_channel:
            channel_dim = self.channel_dim % v.dim()
            other_dims = [d for d in range(v.dim()) if d != channel_dim]
            mean_abs = v.abs().mean(dim=other_dims, keepdim=True)
        else:
            mean_abs = v.abs().mean()
        self.s = nn.Parameter(2 * mean_abs / math.sqrt(self.qp))
        self.initialized.fill_(True)
