"""Build `source.ipynb` from a readable, diffable `notebook.py` (percent format).

Cells start with a `# %%` line:

    # %% [markdown]          a markdown cell; its lines are comments ("# " is stripped)
    # %% [solution id=q1]    a solution cell (nbgrader grade_id q1)
    # %% [provided id=imp]   provided code exported into the submission module
    # %%                     a plain code cell (demos, plots, local checks)

A code cell may take its source from a file instead of repeating it, so that the reference
package stays the one copy of the solution:

    # %% [solution id=q1 include=../../reference/x/layers.py]                  the whole file
    # %% [solution id=q1 include=../../reference/x/layers.py::Linear,relu]    named top-level
                                                                              definitions
Paths are relative to `notebook.py`. Keep `### BEGIN SOLUTION` / `### END SOLUTION` inside
the included code so the release can clear it.

`dlgrade assign` refuses a package whose `source.ipynb` differs from its `notebook.py`.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import nbformat

_HEADER = re.compile(r"^# %%(?:\s*\[(?P<kind>markdown|solution|provided|code)(?:\s+id=(?P<id>[\w-]+))?"
                     r"(?:\s+include=(?P<include>\S+))?\])?\s*$")


def parse_cells(text: str) -> list[dict]:
    cells: list[dict] = []
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            cells.append({"kind": header["kind"] or "code", "id": header["id"], "include": header["include"],
                          "lines": []})
        elif cells:
            cells[-1]["lines"].append(line)
    return cells


def _markdown_text(lines: list[str]) -> str:
    out = []
    for line in lines:
        if line.startswith("# "):
            out.append(line[2:])
        elif line.startswith("#"):
            out.append(line[1:])
        else:
            out.append(line)
    return "\n".join(out).strip("\n")


_MODULE_ONLY_IMPORT = re.compile(r"^(from \.\S* import .*|from __future__ import .*)$")


def _end_with_trailing_comments(lines: list[str], node: ast.AST) -> int:
    """The definition's last line, past comment lines indented into its body (a trailing
    `### END SOLUTION` belongs to the function, though the parser ends it one line sooner)."""
    indent = len(lines[node.lineno - 1]) - len(lines[node.lineno - 1].lstrip())
    end = node.end_lineno
    while end < len(lines):
        line = lines[end]
        stripped = line.lstrip()
        if stripped.startswith("#") and len(line) - len(stripped) > indent:
            end += 1
        elif not stripped and end + 1 < len(lines) and lines[end + 1].lstrip().startswith("#") and (
                len(lines[end + 1]) - len(lines[end + 1].lstrip()) > indent):
            end += 1
        else:
            break
    return end


def included_source(spec: str, base: Path) -> str:
    """The text an `include=` names: a whole file, or `file::Name,Other` top-level
    definitions of it (with their decorators), in the file's order."""
    path_text, _, names = spec.partition("::")
    path = (base / path_text).resolve()
    if not path.is_file():
        raise ValueError(f"include={spec}: no file {path}")
    text = path.read_text(encoding="utf-8")
    if not names:
        # One notebook is one module: imports between the reference's own files and
        # `from __future__` lines (only legal at a file's top) do not belong in a cell.
        kept = [line for line in text.splitlines() if not _MODULE_ONLY_IMPORT.match(line)]
        return "\n".join(kept).strip("\n")
    wanted = names.split(",")
    lines = text.splitlines()
    pieces, found = [], set()
    for node in ast.parse(text).body:
        name = getattr(node, "name", None)
        if name is None and isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
        if name in wanted:
            start = min([node.lineno] + [decorator.lineno for decorator in getattr(node, "decorator_list", [])])
            pieces.append("\n".join(lines[start - 1:_end_with_trailing_comments(lines, node)]))
            found.add(name)
    missing = [name for name in wanted if name not in found]
    if missing:
        raise ValueError(f"include={spec}: {path.name} has no top-level {', '.join(missing)}")
    return "\n\n\n".join(pieces)


def build_notebook(text: str, slug: str, base: Path | None = None) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    notebook.metadata["dlgrade"] = {"assignment": slug}
    for cell in parse_cells(text):
        source = "\n".join(cell["lines"]).strip("\n")
        if cell["include"]:
            if source.strip():
                raise ValueError(f"cell {cell['id']!r}: an include= cell holds no code of its own")
            source = included_source(cell["include"], base or Path.cwd())
        if cell["kind"] == "markdown":
            notebook.cells.append(nbformat.v4.new_markdown_cell(_markdown_text(cell["lines"])))
            continue
        code = nbformat.v4.new_code_cell(source)
        if cell["kind"] == "solution":
            code.metadata["nbgrader"] = {"grade_id": cell["id"], "solution": True, "grade": False, "locked": False,
                                      "schema_version": 3}
        elif cell["kind"] == "provided":
            code.metadata["nbgrader"] = {"grade_id": cell["id"], "solution": False, "grade": False, "locked": True,
                                      "schema_version": 3}
            code.metadata["dlgrade"] = {"export": True}
        notebook.cells.append(code)
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"  # stable ids: rebuilding gives the same file
    return notebook


def build_file(source: Path, target: Path, slug: str) -> None:
    notebook = build_notebook(source.read_text(encoding="utf-8"), slug, base=source.parent)
    target.write_text(nbformat.writes(notebook) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python -m autograder.notebook_build notebook.py source.ipynb SLUG")
    build_file(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
