"""Hidden tests of `ring_all_reduce`: world sizes 1, 2, 3, 5 and 8; n from 1 (fewer elements than
ranks) to 10^6; sum and avg; float32, float64, int64 and int32; 2-D, 3-D, transposed and strided
tensors. Each test starts one world and runs every case in it."""

import pytest

import helpers

pytestmark = pytest.mark.part("ring")
FUNCTION, ALGORITHM = "ring_all_reduce", "ring"


@pytest.mark.weight(2)
@pytest.mark.parametrize("world_size", helpers.WORLD_SIZES, ids=lambda w: f"world={w}")
def test_ring_sizes(impl, seed, check, world_size):
    helpers.all_reduce_test(impl, seed, check, FUNCTION, ALGORITHM, world_size, helpers.SIZE_CASES)


@pytest.mark.parametrize("world_size", [3, 8], ids=lambda w: f"world={w}")
def test_ring_dtypes_and_avg(impl, seed, check, world_size):
    helpers.all_reduce_test(impl, seed, check, FUNCTION, ALGORITHM, world_size, helpers.DTYPE_CASES)


@pytest.mark.parametrize("world_size", [2, 5], ids=lambda w: f"world={w}")
def test_ring_shapes_and_views(impl, seed, check, world_size):
    helpers.all_reduce_test(impl, seed, check, FUNCTION, ALGORITHM, world_size, helpers.LAYOUT_CASES)


@pytest.mark.weight(2)
@pytest.mark.parametrize("world_size", [2, 4], ids=lambda w: f"world={w}")
def test_ring_nccl(impl, seed, check, world_size):
    """The same ring on CUDA tensors with NCCL, one GPU per rank (multi-GPU workers only)."""
    import torch

    if torch.cuda.device_count() < world_size:
        pytest.skip(f"needs {world_size} CUDA GPUs, found {torch.cuda.device_count()}: "
                    "the NCCL path is graded on multi-GPU workers only")
    cases = [helpers.case(1), helpers.case(1000), helpers.case(10**6), helpers.case(1000, op="avg")]
    helpers.all_reduce_test(impl, seed, check, FUNCTION, ALGORITHM, world_size, cases, backend="nccl")
