# mutant: part=softmax
# mistake: always normalises over the last dimension, ignoring `dim`
from reference_solution import *  # noqa: F401,F403


def softmax(x, dim=-1):
    shifted = x - x.amax(dim=-1, keepdim=True)
    exps = shifted.exp()
    return exps / exps.sum(dim=-1, keepdim=True)
