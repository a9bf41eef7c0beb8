"""A submission that returns constant zeros of the right shapes scores zero on every part of
every assignment: no test passes on values a wrong solution happens to share with the reference
(an all-zero gradient, a bool that is always True, a count that is always 0).

Each `tests/zeros_submissions/<slug>.py` is appended to its assignment's cleared starter module,
so the provided cells come from the bundle as for a real upload."""

import json
from pathlib import Path

import pytest

from autograder.assign import GATE_SEED
from autograder.grading import grade
from autograder.notebook import convert_upload
from autograder.release import release_notebook
from autograder.package import load_assignment

from tests.conftest import REPO

ZEROS = REPO / "tests" / "zeros_submissions"
SLUGS = sorted(path.stem for path in ZEROS.glob("*.py"))


def test_every_assignment_has_a_zeros_submission():
    packages = sorted(path.name for path in (REPO / "assignments").glob("*") if (path / "assignment.toml").is_file())
    assert SLUGS == packages


def zeros_module(slug: str, work: Path) -> Path:
    assignment = load_assignment(REPO / "assignments" / slug)
    starter = work / "starter.ipynb"
    starter.write_text(json.dumps(release_notebook(json.loads(assignment.notebook_path.read_text()))))
    source = convert_upload(starter, assignment.notebook_path, max_bytes=assignment.max_upload_bytes).source
    module = work / "zeros.py"
    module.write_text(source + "\n\n# --- constant zeros in place of every solution ---\n"
                      + (ZEROS / f"{slug}.py").read_text())
    return module


@pytest.mark.slow
@pytest.mark.parametrize("slug", SLUGS)
def test_zeros_score_zero(slug, tmp_path):
    result = grade(REPO / "assignments" / slug, zeros_module(slug, tmp_path), seed=GATE_SEED).to_dict()
    assert result["status"] == "graded", result["message"]
    scored = {part["name"]: part["score"] for part in result["parts"] if part["score"] > 0}
    passing = [test["name"] for test in result["tests"] if test["status"] == "pass"]
    assert not scored, f"zeros score on {scored}; passing tests: {passing}"
