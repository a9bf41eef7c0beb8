"""Each assignment's starter with only its first part answered: that part scores in full,
every other part zero, and the student reads one note per unanswered cell (grading runs the
notebook cell by cell, so an unanswered cell costs only the tests that need it).

The starter is cleared by nbgrader's own ClearSolutions; the first part's cells are copied
back from the instructor's source.ipynb. The seed is the gate's, so a session that also runs
the gate tests reuses their trusted runs."""

import json
from pathlib import Path

import nbformat
import pytest
from nbgrader.preprocessors import ClearSolutions

from autograder.assign import GATE_SEED
from autograder.grading import grade
from autograder.package import load_assignment

from tests.conftest import REPO

pytestmark = pytest.mark.slow

# The solution cells (grade ids) that make up each assignment's first part.
FIRST_PART_CELLS = {
    "allreduce": ("naive", ["naive"]),
    "backprop": ("linear", ["linear"]),
    "kv_cache": ("kv_cache", ["kv_cache"]),
    "lsq": ("quantize", ["lsq_quantize"]),
    "qlora": ("nf4", ["nf4_code", "quantize_nf4"]),
    "triton_kernels": ("softmax", ["softmax"]),
}


def grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def first_part_starter(package: Path, answered: list[str], target: Path) -> list[str]:
    """Writes the starter with `answered` filled in; returns the grade ids left unanswered."""
    source = nbformat.read(package / "source.ipynb", as_version=4)
    answers = {grade_id(cell): cell.source for cell in source.cells if grade_id(cell) in answered}
    assert sorted(answers) == sorted(answered), "the first part's cells are not in source.ipynb"
    starter, _ = ClearSolutions().preprocess(nbformat.from_dict(json.loads(json.dumps(source))), {})
    unanswered = []
    for cell in starter.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            if grade_id(cell) in answers:
                cell.source = answers[grade_id(cell)]
            else:
                unanswered.append(grade_id(cell))
    nbformat.write(starter, target)
    return unanswered


@pytest.mark.parametrize("slug", sorted(FIRST_PART_CELLS))
def test_first_part_alone_scores_its_points_only(slug, tmp_path):
    package = REPO / "assignments" / slug
    part, cells = FIRST_PART_CELLS[slug]
    assert load_assignment(package).parts[0].name == part
    unanswered = first_part_starter(package, cells, tmp_path / "starter.ipynb")
    result = grade(package, tmp_path / "starter.ipynb", seed=GATE_SEED).to_dict()
    assert result["status"] == "graded", result["message"]
    scored = {p["name"]: (p["score"], p["max_score"]) for p in result["parts"]}
    first_score, first_max = scored.pop(part)
    failing = [f"{t['name']}: {t['message']}" for t in result["tests"] if t["part"] == part and t["status"] != "pass"]
    assert first_max > 0 and first_score == pytest.approx(first_max), failing
    assert {name: score for name, (score, _) in scored.items() if score} == {}
    notes = result["warnings"]
    assert len(notes) == len(unanswered), notes
    for cell in unanswered:
        assert sum(f"cell `{cell}` (In [" in note for note in notes) == 1, (cell, notes)
    assert not any(f"cell `{cell}` (" in note for cell in cells for note in notes), notes
