"""Notebook cells: each runs from its own file into one module, a failing cell is logged and
the rest run, and every location a student sees names the cell as Jupyter shows it."""

import inspect
import json
import subprocess
import sys
import textwrap

import pytest

from autograder.cells import CellFeedback, CodeCell, read_cell_log, write_cells
from autograder.grading import _scan
from autograder.harness.cells import CELL_LOG_FILE, describe_cell_failure, load_cells, location_text
from autograder.notebook import convert_upload
from autograder.package import load_assignment

from tests.conftest import EXAMPLE, REPO

STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
RELU = "import math\n\ndef relu(x):\n    raise ValueError(f'bad {x}')\n"


def cells_of(*specs) -> list[CodeCell]:
    return [CodeCell(grade_id, kind, index, textwrap.dedent(source)) for grade_id, kind, index, source in specs]


def run_cells(tmp_path, cells, **options):
    events = []
    module = load_cells(write_cells(tmp_path / "submission", cells), "submission_under_test",
                        on_event=events.append, **options)
    return module, [event for event in events if event["status"] != "started"]


def test_a_raising_cell_is_logged_and_the_next_cells_still_run(tmp_path):
    module, events = run_cells(tmp_path, cells_of(
        ("imports", "provided", 1, "import math"),
        ("nf4_code", "solution", 4, "CONSTANT = 3\n" + STUB),
        ("later", "solution", 5, "def twice(x):\n    return 2 * x + CONSTANT\n")))
    assert [event["status"] for event in events] == ["ok", "raised", "ok"]
    assert events[1] == {"cell": "nf4_code", "status": "raised", "error": "NotImplementedError", "message": "",
                         "line": 3}
    assert module.twice(2) == 7 and module.math.pi > 3  # one namespace across cells
    # Each cell is a real file: inspect (and so Triton's @jit) reads a function's source back.
    assert inspect.getsource(module.twice).startswith("def twice(x):")
    assert module.twice.__code__.co_filename.endswith("cell_03_later.py")


def test_runtime_error_names_the_cell_and_its_line(tmp_path):
    module, _ = run_cells(tmp_path, cells_of(("relu", "solution", 7, RELU)))
    with pytest.raises(ValueError) as caught:
        module.relu(1)
    assert location_text(caught.value) == " (at cell `relu` (In [7]) line 4)"


def test_top_level_loop_times_out_and_names_the_cell(tmp_path):
    _, events = run_cells(tmp_path, cells_of(("spin", "solution", 2, "x = 0\nwhile True:\n    x += 1\n"),
                                             ("after", "solution", 3, "y = 1\n")), timeout_s=0.5)
    assert [event["status"] for event in events] == ["timeout", "ok"]
    assert events[0]["line"] in (2, 3)
    assert describe_cell_failure("cell `spin` (In [2])", "timeout", line=3, timeout_s=0.5) == (
        "cell `spin` (In [2]) line 3 did not finish within 0.5 s; long work belongs in a function the tests call")


def test_syntax_error_at_upload_names_the_cell(tmp_path):
    notebook = json.loads((EXAMPLE / "source.ipynb").read_text())
    cell = next(c for c in notebook["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "add")
    cell["source"] = "def add(a, b):\n    return a +\n"
    path = tmp_path / "upload.ipynb"
    path.write_text(json.dumps(notebook))
    from autograder.errors import SubmissionRejected

    with pytest.raises(SubmissionRejected, match=r"^Syntax error in cell `add` \(In \[2\]\) line 2: invalid syntax"):
        convert_upload(path, EXAMPLE / "source.ipynb", max_bytes=2**21)


def test_scan_finding_names_the_cell_not_the_module_line(tmp_path):
    notebook = json.loads((EXAMPLE / "source.ipynb").read_text())
    cell = next(c for c in notebook["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "softmax")
    cell["source"] = "def softmax(x, dim=-1):\n    return torch.softmax(x, dim)\n"
    path = tmp_path / "upload.ipynb"
    path.write_text(json.dumps(notebook))
    converted = convert_upload(path, EXAMPLE / "source.ipynb", max_bytes=2**21)
    scan = _scan(converted, load_assignment(EXAMPLE))
    finding = scan.forbidden_for("softmax")[0]
    assert scan.where[finding.line] == "cell `softmax` (In [3]) line 2"


def test_a_py_upload_keeps_its_file_line_numbers(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("import torch\n\n\ndef softmax(x, dim=-1):\n    return torch.softmax(x, dim)\n")
    converted = convert_upload(path, EXAMPLE / "source.ipynb", max_bytes=2**21)
    assert converted.cells == []
    scan = _scan(converted, load_assignment(EXAMPLE))
    assert scan.where[scan.forbidden_for("softmax")[0].line] == "line 5"


HARNESS_TESTS = '''
import pytest

@pytest.mark.part("a")
def test_raises_inside_a_cell(impl):
    impl.relu(1)

@pytest.mark.part("a")
@pytest.mark.timeout(1)
def test_hangs_inside_a_cell(impl):
    impl.spin()

@pytest.mark.part("a")
def test_needs_a_name_of_the_failed_cell(impl):
    impl.NF4_CODE
'''


def test_the_harness_records_where_a_test_failed_and_how_each_cell_ended(tmp_path):
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_cells.py").write_text(HARNESS_TESTS)
    cells = cells_of(("relu", "solution", 7, RELU), ("nf4_code", "solution", 8, STUB),
                     ("spin", "solution", 9, "def spin():\n    while True:\n        pass\n"))
    manifest = write_cells(tmp_path / "submission", cells)
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "autograder.harness.run", "--tests", str(tests), "--module", str(manifest),
                    "--mode", "student", "--out", str(out)], cwd=tmp_path, check=False, timeout=120,
                   env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    records = {json.loads(line)["nodeid"].split("::")[1]: json.loads(line)
               for line in (out / "records.jsonl").read_text().splitlines()}
    raised = records["test_raises_inside_a_cell"]
    assert raised["message"] == "ValueError: bad 1 (at cell `relu` (In [7]) line 4)"
    assert raised["raised_in"] == {"cell": "relu", "line": 4}
    hung = records["test_hangs_inside_a_cell"]
    assert hung["outcome"] == "timeout" and hung["raised_in"]["cell"] == "spin"
    assert hung["raised_in"]["line"] in (2, 3)

    feedback = CellFeedback.build(cells, {"nf4_code": "NF4_CODE = 1\n", "relu": RELU}, [out])
    assert feedback.outcomes["nf4_code"]["status"] == "raised"
    assert feedback.notes() == ["cell `nf4_code` (In [8]) raised NotImplementedError (you have not answered it yet)"]
    assert feedback.timeout_message(hung, 1) == (
        f"ran past its time limit (1 s) while running cell `spin` (In [9]) line {hung['raised_in']['line']}")
    assert feedback.failure_message(records["test_needs_a_name_of_the_failed_cell"]) == (
        "needs `NF4_CODE` from cell `nf4_code` (In [8]), which is not answered yet (see the notes above the tests)")
    assert feedback.failure_message(raised) is None  # not for want of a cell: the usual message stands


def test_a_forged_cell_log_cannot_hide_an_unanswered_cell(tmp_path):
    cells = cells_of(("add", "solution", 2, "def add(a, b):\n    return a + b\n"),
                     ("softmax", "solution", 3, "def softmax(x):\n    " + STUB.replace("\n", "\n    ") + "\n"))
    (tmp_path / CELL_LOG_FILE).write_text("\n".join([
        json.dumps({"cell": "softmax", "status": "ok"}),
        json.dumps({"cell": "someone_else", "status": "raised", "error": "X"}),  # not a cell: dropped
        "{not json",
    ]) + "\n")
    assert read_cell_log([tmp_path], cells) == {"softmax": {"cell": "softmax", "status": "ok", "error": "",
                                                            "message": "", "line": None, "timeout_s": None}}
    notes = CellFeedback.build(cells, {}, [tmp_path]).notes()
    assert notes == ["cell `softmax` (In [3]) is not answered yet: it still raises NotImplementedError where your "
                     "code goes"]


def test_an_oversized_cell_log_is_ignored(tmp_path):
    cells = cells_of(("add", "solution", 2, "x = 1\n"))
    (tmp_path / CELL_LOG_FILE).write_text(json.dumps({"cell": "add", "status": "raised", "error": "E"}) + "\n" +
                                          " " * (1 << 20))
    assert read_cell_log([tmp_path], cells) == {}


def test_a_cell_still_running_when_the_run_was_stopped_is_named(tmp_path):
    cells = cells_of(("add", "solution", 2, "x = 1\n"), ("spin", "solution", 3, "while True:\n    pass\n"))
    (tmp_path / CELL_LOG_FILE).write_text("\n".join(json.dumps(event) for event in [
        {"cell": "add", "status": "started"}, {"cell": "add", "status": "ok"}, {"cell": "spin", "status": "started"},
    ]) + "\n")
    notes = CellFeedback.build(cells, {}, [tmp_path / "no-log-here", tmp_path]).notes()
    assert notes == ["cell `spin` (In [3]) was still running when the grading run was stopped"]
