"""nbgrader's grade cells `correct_squares` and `squares_invalid_input`."""

import pytest

from helpers import outcome


@pytest.mark.part("squares")
def test_correct_squares(impl, check):
    for n in (1, 2, 10, 11):
        check.exact(f"squares({n})", impl.squares(n))


@pytest.mark.part("squares")
def test_squares_invalid_input(impl, check):
    for n in (0, -4):
        check.exact(f"squares({n})", outcome(impl.squares, n), hint="n below 1 must raise ValueError")
