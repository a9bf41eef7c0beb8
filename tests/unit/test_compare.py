"""The comparator on hand-made values (no sandbox)."""

import numpy as np

from autograder.compare import compare_arrays, compare_values
from autograder.package import load_assignment
from autograder.records_io import ArrayValue

from tests.conftest import EXAMPLE

ASSIGNMENT = load_assignment(EXAMPLE)


def arrays(actual, expected, dtype="torch.float32", **options):
    options = {"rtol": None, "atol": None, "rel_fro": None, "exact": False, **options}
    return compare_arrays("out", ArrayValue(np.asarray(actual, np.float32), dtype),
                          ArrayValue(np.asarray(expected, np.float32), "torch.float32"), assignment=ASSIGNMENT,
                          **options)


def test_close_values_pass_and_far_values_fail_with_the_worst_index():
    assert arrays([1.0, 2.0], [1.0, 2.0 + 1e-7]).ok
    verdict = arrays([[1.0, 2.0], [3.0, 9.0]], [[1.0, 2.0], [3.0, 4.0]])
    assert not verdict.ok and "1 of 4 values differ" in verdict.message and "(1, 1)" in verdict.message
    assert "4.0" not in verdict.message  # expected values stay out of student messages


def test_dtype_shape_and_nan_are_reported_first():
    assert "dtype is torch.float64" in arrays([1.0], [1.0], dtype="torch.float64").message
    assert "shape is [2]" in arrays([1.0, 2.0], [[1.0, 2.0]]).message
    assert "NaN" in arrays([np.nan, 1.0], [0.5, 1.0]).message


def test_relative_frobenius_error():
    expected = np.ones(100, np.float32)
    actual = expected + 1e-4
    assert arrays(actual, expected, rel_fro=1e-3).ok
    assert not arrays(actual * 2, expected, rel_fro=1e-3).ok


def test_python_values():
    entry = {"kind": "close"}
    assert compare_values("n", 3, 3, entry, ASSIGNMENT).ok
    assert not compare_values("n", 3, 4, entry, ASSIGNMENT).ok
    assert not compare_values("flag", 1, True, entry, ASSIGNMENT).ok
    assert compare_values("x", 1.0 + 1e-9, 1.0, entry, ASSIGNMENT).ok
    assert not compare_values("xs", [1.0, 2.0], [1.0, 2.5], entry, ASSIGNMENT).ok
