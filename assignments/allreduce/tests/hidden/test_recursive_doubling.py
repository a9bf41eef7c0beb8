"""Hidden tests of `recursive_doubling_all_reduce`: world sizes 1, 2, 3, 5 and 8; n from 1 (fewer elements than
ranks) to 10^6; sum and avg; float32, float64, int64 and int32; 0-d, 2-D, 3-D, transposed and
strided tensors. Each test starts one world and runs every case in it."""

import pytest

import helpers
import rule_jobs

pytestmark = pytest.mark.part("recursive_doubling")
FUNCTION, ALGORITHM = "recursive_doubling_all_reduce", "recursive_doubling"


@pytest.mark.weight(2)
@pytest.mark.parametrize("world_size", helpers.WORLD_SIZES, ids=lambda w: f"world={w}")
def test_recursive_doubling_sizes(impl, seed, check, world_size):
    helpers.all_reduce_test(impl, seed, check, FUNCTION, ALGORITHM, world_size, helpers.SIZE_CASES)


@pytest.mark.weight(2)
@pytest.mark.parametrize("world_size", [3, 8], ids=lambda w: f"world={w}")
def test_recursive_doubling_dtypes_shapes_and_views(impl, seed, check, world_size):
    helpers.all_reduce_test(impl, seed, check, FUNCTION, ALGORITHM, world_size, helpers.DTYPE_AND_LAYOUT_CASES)


def test_recursive_doubling_integer_avg_refused(impl, seed, check):
    rule_jobs.integer_avg_test(impl, seed, check, FUNCTION)
