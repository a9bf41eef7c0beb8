"""bench/gpu_worker_e2e.py turns a mutant into the notebook a student would upload."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

from e2e_submissions import mutant_notebook, package_dir


def test_the_mutant_lands_in_the_solution_cell_it_redefines_without_the_reference_import():
    folder = package_dir(REPO, "example")
    book = mutant_notebook(folder / "source.ipynb", folder / "mutants" / "no_max_shift.py")
    changed = [cell for cell in book["cells"] if "# --- mutant no_max_shift" in "".join(cell["source"])]
    assert [cell["metadata"]["nbgrader"]["grade_id"] for cell in changed] == ["softmax"]
    source = "".join(changed[0]["source"])
    assert "reference_solution" not in source
    assert source.index("# --- mutant") < source.rindex("def softmax")  # the mutant's definition comes last
