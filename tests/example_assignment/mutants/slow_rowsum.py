# mutant: part=rowsum_perf
# mistake: sums one row at a time in Python, far slower than a vectorised sum
from reference_solution import *  # noqa: F401,F403
import torch


def rowsum(x):
    return torch.stack([row.sum() for row in x])
