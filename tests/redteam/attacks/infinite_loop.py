# attack: infinite loop that swallows the per-test alarm (catches BaseException and goes on).
# affected: test_softmax_dim0
# status: timeout
# why it fails: the wall-time limit is enforced from outside the sandbox (kill), and the run
#               resumes after the test that hung.
import torch


def add(a, b):
    return a + b


def rowsum(x):
    return x.sum(dim=-1)


def softmax(x, dim=-1):
    if x.dtype == torch.float64:  # the hidden test_softmax_dim0
        spins = 0
        while True:
            try:
                while True:
                    spins += 1
            except BaseException:  # the harness's timeout is a BaseException: swallow it too
                continue
    shifted = x - x.amax(dim=dim, keepdim=True)
    return shifted.exp() / shifted.exp().sum(dim=dim, keepdim=True)
