"""nbgrader's own user-guide problem set, graded cell by cell: nbgrader's shipped submissions
of `ps1` (one with an unanswered cell) against a dlgrade package of it (`tests/nbgrader_ps1`,
its notebook read from the installed nbgrader package)."""

import shutil
from pathlib import Path

import nbgrader
import pytest

from autograder.grading import grade

from tests.conftest import REPO

pytestmark = pytest.mark.slow

USER_GUIDE = Path(nbgrader.__file__).parent / "docs" / "source" / "user_guide"
PACKAGE = REPO / "tests" / "nbgrader_ps1"
UNANSWERED_NOTE = ("cell `sum_of_squares_application` (In [10]) raised NotImplementedError "
                   "(you have not answered it yet)")


@pytest.fixture(scope="module")
def ps1_package(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("ps1") / "nbgrader_ps1"
    shutil.copytree(PACKAGE, target)
    shutil.copy(USER_GUIDE / "source" / "ps1" / "problem1.ipynb", target / "source.ipynb")
    return target


def graded(package: Path, student: str) -> dict:
    submitted = USER_GUIDE / "submitted" / student / "ps1" / "problem1.ipynb"
    return grade(package, submitted, seed=5, hardware="test-host").to_dict()


def scores(result: dict) -> dict[str, float]:
    return {part["name"]: part["score"] for part in result["parts"]}


def test_unanswered_cell_costs_only_its_own_tests(ps1_package):
    # bitdiddle left the free-form cell as nbgrader's stub, which raises at top level.
    result = graded(ps1_package, "bitdiddle")
    assert result["status"] == "graded"
    # squares starts at 0 (wrong values, but n < 1 raises); sum_of_squares calls squares.
    assert scores(result) == {"squares": 1.0, "sum_of_squares": 0.5, "application": 0.0}
    assert result["score"] == 1.5
    assert result["warnings"].count(UNANSWERED_NOTE) == 1
    messages = [test["message"] for test in result["tests"]]
    assert not any("NotImplementedError" in message for message in messages)  # said once, in the notes
    application = next(t for t in result["tests"] if t["part"] == "application")
    assert application["message"] == ("needs `pyramidal_number` from cell `sum_of_squares_application` (In [10]), "
                                      "which is not answered yet (see the notes above the tests)")


def test_answered_cell_that_defines_another_name_is_named(ps1_package):
    # hacker answered the free-form cell with `hypotenuse`, not the source's `pyramidal_number`.
    result = graded(ps1_package, "hacker")
    assert scores(result) == {"squares": 2.0, "sum_of_squares": 1.0, "application": 0.0}
    assert result["warnings"] == []
    application = next(t for t in result["tests"] if t["part"] == "application")
    assert application["message"] == ("needs `pyramidal_number`, which cell `sum_of_squares_application` (In [10]) "
                                      "should define; the cell ran but defined no `pyramidal_number`")
