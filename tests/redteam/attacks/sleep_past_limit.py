# attack: sleep past the time limit with the per-test alarm disabled (SIGALRM ignored, the
#         interval timer cleared), so only an outside clock can stop it.
# affected: test_softmax_dim0
# status: timeout
# flags: tamper
# why it fails: the worker kills the run at its wall-time limit from outside; the test scores
#               zero as a timeout and the run resumes after it. The static scan flags the
#               signal tampering for staff.
import signal
import time

import torch


def add(a, b):
    return a + b


def rowsum(x):
    return x.sum(dim=-1)


def softmax(x, dim=-1):
    if x.dtype == torch.float64:  # the hidden test_softmax_dim0
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        signal.setitimer(signal.ITIMER_REAL, 0)
        time.sleep(3600)
    shifted = x - x.amax(dim=dim, keepdim=True)
    return shifted.exp() / shifted.exp().sum(dim=dim, keepdim=True)
