"""The release against nbgrader itself: nbgrader's own example notebooks, as shipped in its
package, cleared by `nbgrader generate_assignment` (the oracle, in a temporary course folder)
and by dlgrade; and the leak check on releases that do leak."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import nbgrader
import pytest

from autograder.package import load_assignment
from autograder.release import NotebookRefused, build_release, clear_notebook, find_leaks, pack

from tests.conftest import EXAMPLE

NBGRADER = Path(nbgrader.__file__).parent
USER_GUIDE = NBGRADER / "docs" / "source" / "user_guide"
EXAMPLES = sorted(
    [*USER_GUIDE.glob("source/ps1/*.ipynb"), *USER_GUIDE.glob("release/ps1/*.ipynb"),
     *USER_GUIDE.glob("submitted/*/ps1/*.ipynb"), *NBGRADER.glob("tests/*/files/*.ipynb")])
AUTOTESTS = USER_GUIDE / "autotests.yml"


def example_id(path: Path) -> str:
    return path.relative_to(NBGRADER).as_posix()


# nbgrader's GenerateAssignment converter, the one `nbgrader generate_assignment` runs, called
# through nbgrader's own API once per assignment in one process (a process per notebook takes
# minutes): one refusal makes the command abort all assignments after it.
ORACLE = """
import json, sys
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config
config = Config()
config.CourseDirectory.root = sys.argv[1]
api = NbGraderAPI(CourseDirectory(config=config), config=config)
answers = {}
for assignment in sys.argv[2:]:
    result = api.generate_assignment(assignment, force=True, create=True)
    answers[assignment] = {"success": result["success"], "log": result.get("log", "") + result.get("error", "")}
print(json.dumps(answers))
"""


@pytest.fixture(scope="module")
def oracle(tmp_path_factory) -> dict[Path, tuple[str | None, str]]:
    """Every example through nbgrader's generate_assignment in a temporary course folder, each
    notebook its own assignment: path → (released text or None, nbgrader's log)."""
    course = tmp_path_factory.mktemp("course")
    shutil.copy(AUTOTESTS, course / "autotests.yml")
    names = {}
    for number, path in enumerate(EXAMPLES):
        names[path] = f"a{number}"
        (course / "source" / names[path]).mkdir(parents=True)
        shutil.copy(path, course / "source" / names[path] / path.name)
    path_with_venv = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # nbgrader runs alembic
    run = subprocess.run([sys.executable, "-c", ORACLE, str(course), *names.values()], capture_output=True,
                         text=True, cwd=course, timeout=1200, env={**os.environ, "PATH": path_with_venv})
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    answers = {}
    for path, assignment in names.items():
        released = course / "release" / assignment / path.name
        ok = results[assignment]["success"] and released.is_file()
        answers[path] = (released.read_text(encoding="utf-8") if ok else None, results[assignment]["log"])
    return answers


def dlgrade_release(path: Path, tmp_path: Path) -> str:
    """dlgrade's release of one example, next to a copy of the autotest templates nbgrader reads."""
    shutil.copy(path, tmp_path / path.name)
    shutil.copy(AUTOTESTS, tmp_path / "autotests.yml")
    return clear_notebook(tmp_path / path.name)


def nbgrader_reason(log: str) -> str:
    """The reason nbgrader gives: the message of the exception it logged, or its schema notice."""
    if "old version" in log:
        return "an old version of the nbgrader metadata format"
    if "newer version" in log:
        return "a newer version of the nbgrader metadata format"
    before_summary = log.split("There was an error processing assignment '")[0]
    raised = re.findall(r"^\s*(?:\w+\.)*\w*(?:Error|Exception)(?:: (.+))?$", before_summary, re.M)
    assert raised, log
    if raised[-1]:
        return raised[-1].strip()
    # a bare `raise Exception`: the reason is the error nbgrader logged just before it
    logged = re.findall(r"^\[ERROR\] (.+?)(?: Cell contents are:.*)?$", before_summary, re.M)
    return [line for line in logged if not line.startswith(("There was an error", "Traceback"))][-1].strip()


def test_the_examples_cover_the_user_guide_and_the_test_files():
    names = [example_id(path) for path in EXAMPLES]
    assert any("user_guide/source/ps1/problem1" in name for name in names)
    assert any("user_guide/submitted/hacker/ps1" in name for name in names)
    assert sum("/files/" in name for name in names) > 40


@pytest.mark.parametrize("path", EXAMPLES, ids=example_id)
def test_release_equals_nbgrader_generate_assignment(path, oracle, tmp_path):
    expected, log = oracle[path]
    if expected is None:
        with pytest.raises(NotebookRefused) as refused:
            dlgrade_release(path, tmp_path)
        assert nbgrader_reason(log) in str(refused.value)
        return
    released = nbformat.reads(dlgrade_release(path, tmp_path), as_version=4)
    wanted = nbformat.reads(expected, as_version=4)
    assert released.metadata == wanted.metadata
    assert len(released.cells) == len(wanted.cells)
    for index, (ours, theirs) in enumerate(zip(released.cells, wanted.cells)):
        for key in ("cell_type", "source", "metadata", "outputs", "execution_count"):
            assert ours.get(key) == theirs.get(key), f"cell {index + 1}: {key} differs"
    leaks = find_leaks(path, pack([(path.name, expected.encode())]))
    assert leaks == []


def test_refusals_name_the_cell_and_nbgraders_reason(tmp_path):
    notebook = nbformat.read(EXAMPLE / "source.ipynb", as_version=4)
    add = next(cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade_id") == "add")
    index = notebook.cells.index(add) + 1
    cases = {
        "no end solution statement found": add.source.replace("### END SOLUTION", ""),
        "encountered nested begin solution statements": add.source.replace(
            "### END SOLUTION", "### BEGIN SOLUTION\n    ### END SOLUTION"),
    }
    for reason, source in cases.items():
        broken = nbformat.from_dict(notebook)
        broken.cells[index - 1].source = source
        nbformat.write(broken, tmp_path / "broken.ipynb")
        with pytest.raises(NotebookRefused, match=rf"cell {index} \('add'\): nbgrader refuses it: {reason}"):
            clear_notebook(tmp_path / "broken.ipynb")
    duplicate = nbformat.from_dict(notebook)
    second = next(cell for cell in duplicate.cells if cell.metadata.get("nbgrader", {}).get("grade_id") == "softmax")
    second.metadata.nbgrader.grade_id = "add"
    nbformat.write(duplicate, tmp_path / "duplicate.ipynb")
    with pytest.raises(NotebookRefused, match=r"Duplicate grade id: add, also cell"):
        clear_notebook(tmp_path / "duplicate.ipynb")


def test_the_release_is_deterministic_and_holds_the_public_tests():
    assignment = load_assignment(EXAMPLE)
    first, second = build_release(assignment), build_release(assignment)
    assert first.archive == second.archive and first.digest == second.digest
    assert first.solution_ids == ("add", "softmax", "rowsum")
    assert "return a + b" not in first.notebook_text and "raise NotImplementedError()" in first.notebook_text
    assert find_leaks(assignment.notebook_path, first.archive) == []


def test_a_solution_line_in_the_release_is_a_leak():
    assignment = load_assignment(EXAMPLE)
    release = build_release(assignment)
    leaked = release.notebook_text.replace("raise NotImplementedError()", "return a + b", 1)
    problems = find_leaks(assignment.notebook_path, pack([(release.notebook_name, leaked.encode())]))
    assert len(problems) == 1 and "cell" in problems[0] and "'add'" in problems[0] and "return a + b" in problems[0]


def test_a_solution_block_copied_into_a_public_test_is_a_leak():
    assignment = load_assignment(EXAMPLE)
    release = build_release(assignment)
    source = nbformat.read(assignment.notebook_path, as_version=4)
    softmax = next(c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "softmax").source
    block = softmax.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
    members = [(release.notebook_name, release.notebook_text.encode()),
               ("example/tests/public/test_copy.py", f"def expected(x):\n{block}\n".encode())]
    problems = find_leaks(assignment.notebook_path, pack(members))
    assert any("'softmax'" in problem for problem in problems), problems
