# mutant: part=softmax
# mistake: exp without subtracting the row maximum overflows on large logits
from reference_solution import *  # noqa: F401,F403


def softmax(x, dim=-1):
    exps = x.exp()
    return exps / exps.sum(dim=dim, keepdim=True)
