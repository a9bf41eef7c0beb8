# mutant: part=softmax
# mistake: computes the softmax with torch operations (max, exp, sum) on the host instead of launching a Triton kernel
from reference_solution import *  # noqa: F401,F403
import torch


def softmax(x):
    shifted = x.float() - x.float().amax(dim=-1, keepdim=True)
    numerator = shifted.exp()
    return (numerator / numerator.sum(dim=-1, keepdim=True)).to(x.dtype)
