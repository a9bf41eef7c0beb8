# attack: allocate 100 GB, 256 MB at a time, touching every page.
# affected: test_softmax_dim0
# status: error|fail
# message: memory
# why it fails: the memory limit (cgroup; docker --memory = --memory-swap) kills the run and
#               the outcome says out of memory; the run resumes after this test.
import torch


def add(a, b):
    return a + b


def rowsum(x):
    return x.sum(dim=-1)


def softmax(x, dim=-1):
    if x.dtype == torch.float64:  # the hidden test_softmax_dim0
        hoard = []
        for _ in range(400):  # 400 x 256 MB = 100 GB
            hoard.append(torch.ones(64 * 2**20, dtype=torch.float32))
    shifted = x - x.amax(dim=dim, keepdim=True)
    return shifted.exp() / shifted.exp().sum(dim=dim, keepdim=True)
