# attack: 10 GB to stdout: write to every pipe the process holds (the real stdout and stderr
#         behind pytest's capture), 1 MB at a time.
# affected: test_softmax_dim0
# status: timeout|error|fail
# why it fails: the output is capped (docker: one log file of bounded size; process backend:
#               the reader keeps only the tail) and the test's time limit ends the flood; the
#               host disk does not fill.
import os
import stat

import torch


def add(a, b):
    return a + b


def rowsum(x):
    return x.sum(dim=-1)


def _writable_pipes():
    pipes = []
    for fd in range(3, 64):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                pipes.append(fd)
        except OSError:
            pass
    return [1, 2] + pipes


def softmax(x, dim=-1):
    if x.dtype == torch.float64:  # the hidden test_softmax_dim0
        block = b"flood " * ((1 << 20) // 6) + b"\n"
        targets = _writable_pipes()
        for index in range(10 * 1024):  # 10 GB
            try:
                os.write(targets[index % len(targets)], block)
            except OSError:
                pass
    shifted = x - x.amax(dim=dim, keepdim=True)
    return shifted.exp() / shifted.exp().sum(dim=dim, keepdim=True)
