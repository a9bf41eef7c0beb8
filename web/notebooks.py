"""Check an upload at once, in the web process, with nbformat only (no execution, no engine).

Full conversion to a submission module happens in the worker; here the student learns within
a second that the file is not a notebook, or that a solution cell was deleted.
"""

from __future__ import annotations

import ast
import json

import nbformat
from nbformat.reader import NotJSONError


class UploadRejected(ValueError):
    """The message is shown to the student as is: say what to do next."""


def validate_upload(*, filename: str, data: bytes, slug: str, solution_ids: list[str], max_bytes: int) -> None:
    if not data:
        raise UploadRejected("The file is empty; upload the notebook you worked in.")
    if len(data) > max_bytes:
        raise UploadRejected(
            f"The file is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB. "
            "Clear the outputs (Kernel > Restart & Clear Output) and save before uploading."
        )
    lower = filename.lower()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UploadRejected("The file is not UTF-8 text; upload the .ipynb file itself, not a zip or PDF.") from None
    if lower.endswith(".py"):
        try:
            ast.parse(text, filename=filename)
        except SyntaxError as exc:
            raise UploadRejected(f"{filename} line {exc.lineno}: syntax error ({exc.msg}); fix it and upload again.") from None
        return
    if not lower.endswith(".ipynb"):
        raise UploadRejected("Upload a Jupyter notebook (.ipynb) or a Python module (.py).")
    try:
        notebook = _parse(text)
    except NotJSONError as exc:
        position = exc.__cause__ if isinstance(exc.__cause__, json.JSONDecodeError) else None
        where = f" (line {position.lineno}, column {position.colno})" if position else ""
        raise UploadRejected(
            f"The notebook is not valid JSON{where}; it may have been "
            "truncated. Re-download it from Jupyter (File > Download) and upload again."
        ) from None
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UploadRejected(f"The file is JSON but not a valid notebook ({first_line[:200]}).") from None
    declared = notebook.metadata.get("dlgrade", {}).get("assignment")
    if declared and declared != slug:
        raise UploadRejected(
            f"This notebook belongs to assignment '{declared}', not '{slug}'; upload it on that assignment's page."
        )
    present = {
        cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        for cell in notebook.cells
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution")
    }
    for grade_id in solution_ids:
        if grade_id not in present:
            raise UploadRejected(
                f"Notebook cell '{grade_id}' was deleted or its metadata was lost; restore it from the "
                "released notebook and copy your solution back into it."
            )


def _parse(text: str) -> nbformat.NotebookNode:
    """Parse and validate once: `nbformat.reads` would validate (and log) on its own, and a
    `json.loads` first would parse twice."""
    notebook = nbformat.convert(nbformat.reader.reads(text), 4)
    nbformat.validate(notebook)
    return notebook
