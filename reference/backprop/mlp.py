import math

import torch
from torch import nn

from .activations import GELUFunction
from .layernorm import LayerNormFunction
from .linear import LinearFunction


class MLPBlock(nn.Module):
    """The MLP sub-block of a pre-norm transformer (GPT-2):

        y = x + W₂ · gelu(W₁ · LayerNorm(x) + b₁) + b₂

    built only from the Functions above, so its backward is entirely hand-written.
    """

    def __init__(self, dim, hidden_dim=None, eps=1e-5):
        super().__init__()
        hidden_dim = hidden_dim or 4 * dim
        self.eps = eps
        self.ln_weight = nn.Parameter(torch.ones(dim))
        self.ln_bias = nn.Parameter(torch.zeros(dim))
        # nn.Linear's default initialisation: U(−1/√fan_in, 1/√fan_in)
        self.fc_weight = nn.Parameter(torch.empty(hidden_dim, dim).uniform_(-1, 1) / math.sqrt(dim))
        self.fc_bias = nn.Parameter(torch.empty(hidden_dim).uniform_(-1, 1) / math.sqrt(dim))
        self.proj_weight = nn.Parameter(torch.empty(dim, hidden_dim).uniform_(-1, 1) / math.sqrt(hidden_dim))
        self.proj_bias = nn.Parameter(torch.empty(dim).uniform_(-1, 1) / math.sqrt(hidden_dim))

    def forward(self, x):
        ### BEGIN SOLUTION
        h = LayerNormFunction.apply(x, self.ln_weight, self.ln_bias, self.eps)  # (..., dim)
        h = LinearFunction.apply(h, self.fc_weight, self.fc_bias)  # (..., hidden)
        h = GELUFunction.apply(h)
        h = LinearFunction.apply(h, self.proj_weight, self.proj_bias)  # (..., dim)
        return x + h
        ### END SOLUTION
