"""Upload → submission cells, in named steps: read, validate, take the cells, sanitize,
compile.

The submission is the notebook's exported (provided) cells, taken from the *bundle's* source
notebook, and its solution cells, taken from the student's upload, in the source notebook's
order; they run cell by cell (`autograder.cells`). Nothing else a student wrote reaches the
grader. A `.py` upload is taken as is, one module. Every rejection is a `SubmissionRejected`
whose message a student can act on, naming the cell as Jupyter shows it.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

from autograder.cells import CodeCell
from autograder.errors import SubmissionRejected
from autograder.harness.cells import cell_label

MODULE_FILENAME = "submission.py"
_MAGIC = re.compile(r"^\s*(%%?|!)")


@dataclasses.dataclass(frozen=True)
class SourceCell:
    grade_id: str
    kind: str  # "solution" or "provided"
    source: str


@dataclasses.dataclass
class Converted:
    source: str  # the module text: the cells one after another (what the static scan reads)
    warnings: list[str]
    student_lines: dict[int, str]  # module line → "cell `q1` (In [4]) line 3" for student code
    cells: list[CodeCell] = dataclasses.field(default_factory=list)  # empty for a .py upload


def nbgrader_meta(cell: dict) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def source_cells(notebook: dict) -> list[SourceCell]:
    """The cells of the instructor's notebook that make up a submission module."""
    cells = []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        meta = nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if meta.get("solution"):
            cells.append(SourceCell(grade_id, "solution", _text(cell)))
        elif cell.get("metadata", {}).get("dlgrade", {}).get("export"):
            cells.append(SourceCell(grade_id, "provided", _text(cell)))
    return cells


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def read_notebook(data: bytes, *, max_bytes: int, name: str = "the notebook") -> dict:
    """Parse and validate an uploaded notebook's structure."""
    if len(data) > max_bytes:
        raise SubmissionRejected(
            f"{name} is {len(data) / 2**20:.1f} MiB, over the {max_bytes / 2**20:.1f} MiB limit. "
            "Clear the outputs (Kernel → Restart & Clear Output) and upload again."
        )
    try:
        notebook = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SubmissionRejected(
            f"{name} is not valid JSON ({error}). Upload the .ipynb file saved by Jupyter, not a copy or a PDF."
        ) from error
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list) or "nbformat" not in notebook:
        raise SubmissionRejected(f"{name} is JSON but not a Jupyter notebook (no 'cells' or 'nbformat'). "
                                 "Upload the released .ipynb with your solutions filled in.")
    if notebook.get("nbformat") != 4:
        raise SubmissionRejected(f"{name} uses notebook format {notebook.get('nbformat')}; save it with Jupyter "
                                 "(format 4) and upload again.")
    _validate_with_nbformat(notebook, name)
    return notebook


def _validate_with_nbformat(notebook: dict, name: str) -> None:
    try:
        import nbformat
    except ImportError:  # grading .py files needs no nbformat (e.g. on the GPU hosts)
        return
    try:
        nbformat.validate(nbformat.from_dict(notebook))
    except nbformat.ValidationError as error:
        message = str(error).splitlines()[0]
        raise SubmissionRejected(f"{name} is not a valid notebook: {message}. Open it in Jupyter, save, "
                                 "and upload again.") from error


def strip_magics(source: str, where: str, warnings: list[str]) -> str:
    """IPython magics and shell escapes are not Python: drop them, with a warning."""
    lines = []
    for number, line in enumerate(source.splitlines(), 1):
        if _MAGIC.match(line):
            warnings.append(f"{where} line {number}: removed '{line.strip()[:60]}' (magics and shell commands "
                            "do not run in grading)")
            indent = line[: len(line) - len(line.lstrip())]
            lines.append(f"{indent}pass  # removed: {line.strip()[:60]}")
        else:
            lines.append(line)
    return "\n".join(lines)


def solution_texts(upload: dict) -> dict[str, list[str]]:
    """grade_id → the text of every solution cell in the upload that carries it."""
    found: dict[str, list[str]] = {}
    for cell in upload.get("cells", []):
        meta = nbgrader_meta(cell)
        if cell.get("cell_type") == "code" and meta.get("solution") and meta.get("grade_id"):
            found.setdefault(meta["grade_id"], []).append(_text(cell))
    return found


def notebook_to_module(upload: dict, source_notebook: dict) -> Converted:
    """Assemble the submission module from the upload's solution cells and the source
    notebook's provided cells."""
    expected = source_cells(source_notebook)
    solution_ids = [cell.grade_id for cell in expected if cell.kind == "solution"]
    found = solution_texts(upload)
    prompts = _prompts(source_notebook) | _prompts(upload)  # the upload's numbering wins
    for grade_id in solution_ids:
        if grade_id not in found:
            raise SubmissionRejected(
                f"Solution cell '{grade_id}' is missing from your notebook (deleted, or its metadata lost by "
                "copying it into a new cell). Restore it from the released notebook and paste your code back."
            )
        if len(found[grade_id]) > 1:
            raise SubmissionRejected(
                f"Solution cell '{grade_id}' appears {len(found[grade_id])} times (a copied cell keeps its "
                "metadata). Delete the extra copies so exactly one remains."
            )
    unknown = sorted(set(found) - set(solution_ids))

    warnings: list[str] = []
    if unknown:
        warnings.append(f"ignored solution cells not in this assignment: {', '.join(unknown)}")
    pieces: list[str] = []
    cells: list[CodeCell] = []
    student_lines: dict[int, str] = {}
    line = 1  # where the next piece starts in the module text
    for cell in expected:
        where = cell_label(cell.grade_id, prompts.get(cell.grade_id))
        header = f"# ---- {'your' if cell.kind == 'solution' else 'provided'} {where} ----"
        if cell.kind == "solution":
            text = strip_magics(found[cell.grade_id][0], where, warnings)
            _check_syntax(text, where)
            for offset in range(text.count("\n") + 1):
                student_lines[line + 1 + offset] = f"{where} line {offset + 1}"
        else:
            text = strip_magics(cell.source, where, [])
        cells.append(CodeCell(cell.grade_id, cell.kind, prompts.get(cell.grade_id), text))
        pieces.append(f"{header}\n{text}\n")
        line += pieces[-1].count("\n") + 1  # the pieces are joined with a blank line
    return Converted("\n".join(pieces), warnings, student_lines, cells)


def _prompts(notebook: dict) -> dict[str, int]:
    """grade id → the In [n] prompt the cell gets when the notebook is run from the top."""
    prompts: dict[str, int] = {}
    code_cells = [cell for cell in notebook.get("cells", []) if cell.get("cell_type") == "code"]
    for number, cell in enumerate(code_cells, 1):
        grade_id = nbgrader_meta(cell).get("grade_id")
        if isinstance(grade_id, str):
            prompts.setdefault(grade_id, number)
    return prompts


def _check_syntax(text: str, where: str) -> None:
    try:
        ast.parse(text)
    except SyntaxError as error:
        raise SubmissionRejected(
            f"Syntax error in {where} line {error.lineno}: {error.msg}. "
            f"{('Code: ' + error.text.strip()) if error.text else ''}".strip()
        ) from error


def python_upload_to_module(data: bytes, *, max_bytes: int) -> Converted:
    if len(data) > max_bytes:
        raise SubmissionRejected(f"the file is {len(data) / 2**20:.1f} MiB, over the "
                                 f"{max_bytes / 2**20:.1f} MiB limit.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SubmissionRejected("the .py file is not UTF-8 text. Save it as UTF-8 and upload again.") from error
    try:
        ast.parse(text)
    except SyntaxError as error:
        raise SubmissionRejected(f"Syntax error on line {error.lineno}: {error.msg}.") from error
    return Converted(text, [], {number: f"line {number}" for number in range(1, text.count("\n") + 2)})


def convert_upload(path: Path, source_notebook_path: Path, *, max_bytes: int) -> Converted:
    """The one entry point: an uploaded file → the module text."""
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:  # before reading a 2 GB upload into memory
        raise SubmissionRejected(f"{path.name} is {size / 2**20:.1f} MiB, over the {max_bytes / 2**20:.1f} MiB "
                                 "limit. Clear the outputs (Kernel → Restart & Clear Output) and upload again.")
    data = path.read_bytes()
    if path.suffix == ".py":
        return python_upload_to_module(data, max_bytes=max_bytes)
    if path.suffix != ".ipynb":
        raise SubmissionRejected(f"{path.name}: upload the .ipynb notebook (or a .py module), not a "
                                 f"'{path.suffix or 'file without extension'}'.")
    upload = read_notebook(data, max_bytes=max_bytes, name=path.name)
    source = json.loads(Path(source_notebook_path).read_text(encoding="utf-8"))
    return notebook_to_module(upload, source)
