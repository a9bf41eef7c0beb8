"""Notebook → submission module, and every rejection a student can act on."""

import json

import pytest

from autograder.errors import SubmissionRejected
from autograder.notebook import convert_upload

from tests.conftest import EXAMPLE

SOURCE = EXAMPLE / "source.ipynb"
MAX = 2 * 2**20


def source_notebook() -> dict:
    return json.loads(SOURCE.read_text())


def write(tmp_path, notebook, name="upload.ipynb") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(notebook) if not isinstance(notebook, str) else notebook)
    return path


def convert(path):
    return convert_upload(path, SOURCE, max_bytes=MAX)


def solution_cell(notebook, grade_id):
    return next(c for c in notebook["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def test_module_holds_provided_and_solution_cells_in_order(tmp_path):
    module = convert(write(tmp_path, source_notebook()))
    assert module.source.index("import torch") < module.source.index("def add") < module.source.index("def softmax")
    assert "print(softmax" not in module.source  # plain cells are not part of the module
    compile(module.source, "submission.py", "exec")


def test_provided_cells_come_from_the_bundle_not_the_upload(tmp_path):
    notebook = source_notebook()
    provided = solution_cell(notebook, "imports")
    provided["source"] = "import os\nos.system('echo pwned')\n"
    module = convert(write(tmp_path, notebook))
    assert "pwned" not in module.source and "import torch" in module.source


def test_magics_and_shell_escapes_are_removed_with_a_warning(tmp_path):
    notebook = source_notebook()
    cell = solution_cell(notebook, "add")
    cell["source"] = "%time x = 1\n!pip install cheat\ndef add(a, b):\n    return a + b\n"
    module = convert(write(tmp_path, notebook))
    assert "pip install" not in module.source.replace("# removed: !pip install cheat", "")
    assert len(module.warnings) == 2 and "cell `add` (In [2]) line 2" in module.warnings[1]
    compile(module.source, "submission.py", "exec")


def test_a_py_upload_is_taken_as_is(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("def add(a, b):\n    return a + b\n")
    assert convert(path).source == path.read_text()


@pytest.mark.parametrize("content, expected", [
    ("{not json", "not valid JSON"),
    (json.dumps({"hello": "world"}), "not a Jupyter notebook"),
    (json.dumps([1, 2, 3]), "not a Jupyter notebook"),
])
def test_broken_uploads_are_rejected_with_a_message(tmp_path, content, expected):
    with pytest.raises(SubmissionRejected, match=expected):
        convert(write(tmp_path, content))


def test_missing_solution_cell_is_named(tmp_path):
    notebook = source_notebook()
    notebook["cells"].remove(solution_cell(notebook, "softmax"))
    with pytest.raises(SubmissionRejected, match="'softmax' is missing.*Restore it"):
        convert(write(tmp_path, notebook))


def test_duplicated_solution_cell_is_named(tmp_path):
    notebook = source_notebook()
    notebook["cells"].append(json.loads(json.dumps(solution_cell(notebook, "add"))))
    notebook["cells"][-1]["id"] = "copy"
    with pytest.raises(SubmissionRejected, match="'add' appears 2 times"):
        convert(write(tmp_path, notebook))


def test_syntax_error_names_cell_and_line(tmp_path):
    notebook = source_notebook()
    solution_cell(notebook, "softmax")["source"] = "def softmax(x, dim=-1):\n    return (x\n"
    with pytest.raises(SubmissionRejected, match=r"Syntax error in cell `softmax` \(In \[3\]\) line 2: '\(' was never closed"):
        convert(write(tmp_path, notebook))


def test_oversized_upload_is_rejected_before_it_is_read(tmp_path):
    path = tmp_path / "huge.ipynb"
    with open(path, "wb") as handle:
        handle.truncate(2 * 1024**3)  # a sparse 2 GB file
    with pytest.raises(SubmissionRejected, match="over the 2.0 MiB limit"):
        convert(path)


def test_wrong_file_type_is_rejected(tmp_path):
    path = tmp_path / "answers.pdf"
    path.write_bytes(b"%PDF-1.4")
    with pytest.raises(SubmissionRejected, match="upload the .ipynb"):
        convert(path)


