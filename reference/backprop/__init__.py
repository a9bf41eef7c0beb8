"""Reference solution of `backprop`: forward and backward passes written by hand.

Every layer is a `torch.autograd.Function` whose `backward` is plain tensor algebra; autograd
only chains the pieces together. One concept per file:

    linear.py         Y = X Wᵀ + b
    activations.py    ReLU, GELU (exact and tanh)
    cross_entropy.py  fused, stable log-softmax + negative log-likelihood
    layernorm.py      LayerNorm over the last dimension, saving one full-size tensor
    dropout.py        inverted dropout, mask drawn once
    adamw.py          AdamW with decoupled weight decay, step for step like torch.optim.AdamW
    mlp.py            pre-norm MLP block with a residual, built from the above
"""

from .activations import GELUFunction, ReLUFunction
from .adamw import AdamW
from .cross_entropy import CrossEntropyFunction
from .dropout import DropoutFunction
from .layernorm import LayerNormFunction
from .linear import LinearFunction
from .mlp import MLPBlock

__all__ = [
    "LinearFunction", "ReLUFunction", "GELUFunction", "CrossEntropyFunction", "LayerNormFunction",
    "DropoutFunction", "AdamW", "MLPBlock",
]
