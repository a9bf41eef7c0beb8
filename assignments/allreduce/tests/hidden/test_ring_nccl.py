"""The ring on CUDA tensors with NCCL, one GPU per rank: the code path of multi-GPU workers.
Skipped (not measured) where fewer GPUs than ranks are visible, e.g. on every CPU worker."""

import pytest
import torch

import helpers

pytestmark = pytest.mark.part("ring_nccl")
NCCL_CASES = [helpers.case(1), helpers.case(1000), helpers.case(10**6), helpers.case(1000, op="avg"),
              helpers.case((17, 13), layout="transposed")]


@pytest.mark.parametrize("world_size", [2, 4, 8], ids=lambda w: f"world={w}")
def test_ring_nccl(impl, seed, check, world_size):
    if not torch.cuda.is_available() or torch.cuda.device_count() < world_size:
        pytest.skip(f"needs {world_size} CUDA GPUs, found {torch.cuda.device_count()}: "
                    "the NCCL path is graded on multi-GPU workers only")
    helpers.all_reduce_test(impl, seed, check, "ring_all_reduce", "ring", world_size, NCCL_CASES, backend="nccl")
