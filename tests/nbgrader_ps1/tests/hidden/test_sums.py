"""nbgrader's grade cells `correct_sum_of_squares`, `sum_of_squares_uses_squares`, and the
free-form answer cell (graded here by what the source notebook's answer computes)."""

import pytest


@pytest.mark.part("sum_of_squares")
def test_correct_sum_of_squares(impl, check):
    for n in (1, 2, 10, 11):
        check.exact(f"sum_of_squares({n})", impl.sum_of_squares(n))


@pytest.mark.part("sum_of_squares")
def test_sum_of_squares_uses_squares(impl, check, monkeypatch):
    monkeypatch.setattr(impl, "squares", lambda n: [7] * n)
    check.exact("sum_of_squares(3) with squares giving sevens", impl.sum_of_squares(3),
                hint="sum_of_squares should call squares")


@pytest.mark.part("application")
def test_pyramidal_number(impl, check):
    for n in (1, 4, 12):
        check.exact(f"pyramidal_number({n})", impl.pyramidal_number(n))
