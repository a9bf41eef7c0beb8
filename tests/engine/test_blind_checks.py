"""The gate refuses a check that records a bool no wrong solution records differently."""

import pytest

from autograder.assign import assign, blind_bool_checks

BOOL_TESTS = '''
import pytest
import torch


@pytest.mark.part("add")
def test_add_returns_a_tensor(impl, rng, check):
    a, b = torch.randn(4, generator=rng), torch.randn(4, generator=rng)
    check.exact("is_tensor", isinstance(impl.add(a, b), torch.Tensor))


@pytest.mark.part("softmax")
def test_softmax_dim0_verdict(impl, rng, check):
    x = torch.randn(5, 3, generator=rng)
    check.exact("columns_sum_to_one", bool(torch.allclose(impl.softmax(x, dim=0).sum(0), torch.ones(3))))
'''


def test_a_bool_no_run_records_differently_is_blind():
    trusted = {"t::same": True, "t::told": False, "t::unreached": True}
    others = [{"t::same": True, "t::told": True}, {"t::same": True}, {}]
    problems = blind_bool_checks(trusted, others)
    assert len(problems) == 2
    assert problems[0].startswith("t::same: records the bool True")
    assert problems[1].startswith("t::unreached: records the bool True")
    assert "cannot tell a wrong solution from a right one" in problems[0]


def test_no_bools_no_problems():
    assert blind_bool_checks({}, [{"t::x": True}]) == []


@pytest.mark.slow
def test_gate_refuses_the_example_with_a_blind_bool(example_package, tmp_path):
    (example_package / "tests" / "hidden" / "test_bools.py").write_text(BOOL_TESTS)
    report = assign(example_package, out_dir=tmp_path / "build", jobs=2)
    blind = [problem for problem in report.problems if "cannot tell" in problem]
    # Every mutant of "add" still returns a tensor and the starter never gets there: blind.
    assert len(blind) == 1 and blind[0].startswith("hidden/test_bools.py::test_add_returns_a_tensor::is_tensor:")
    # wrong_dim normalises the rows, so its columns do not sum to one: that bool tells.
    assert not any("columns_sum_to_one" in problem for problem in report.problems)
    assert not report.passed
    # Every graded run itself was fine: the refusal comes from the blind bool alone.
    assert all(entry.ok for entry in report.entries), report.format()


@pytest.mark.slow
def test_gate_passes_the_example_as_it_is(example_package, tmp_path):
    report = assign(example_package, out_dir=tmp_path / "build", jobs=2)
    assert report.passed, report.format()
