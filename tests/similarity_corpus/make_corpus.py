"""Build the similarity test corpus: for each assignment, the reference's solution cells, an
independent solution (independent/<slug>.py, written by hand), and disguised copies of the
reference, each disguise a transformation a copier applies by hand or with a tool.

    python tests/similarity_corpus/make_corpus.py      # rewrites tests/similarity_corpus/<slug>/

Files named copy_* are copies of the reference; every other pair in a folder is independent
work, except reference ↔ copy_*. The output is committed, so `dlgrade similarity` can be run on
it directly; the test checks that it is up to date.
"""

from __future__ import annotations

import ast
import io
import json
import re
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from nbgrader.preprocessors import ClearSolutions  # noqa: E402

from autograder.notebook import nbgrader_meta  # noqa: E402
from autograder.release import release_notebook  # noqa: E402

CORPUS = Path(__file__).resolve().parent
SLUGS = ("backprop", "kv_cache")
_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
_SECTION = re.compile(r"^# == (\w+) / (\d+)$")


def _cell_text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def reference_cells(notebook: dict) -> dict[str, str]:
    """The solution cells as a student who wrote the reference would hand them in (no markers)."""
    return {nbgrader_meta(cell)["grade_id"]: "\n".join(line for line in _cell_text(cell).splitlines()
                                                       if not _MARKER.match(line))
            for cell in notebook["cells"] if nbgrader_meta(cell).get("solution")}


def independent_cells(notebook: dict, slug: str) -> dict[str, str]:
    """The released stubs, each replaced by the matching section of independent/<slug>.py."""
    bodies: dict[tuple[str, int], list[str]] = {}
    current = None
    for line in (CORPUS / "independent" / f"{slug}.py").read_text().splitlines():
        found = _SECTION.match(line)
        if found:
            current = (found.group(1), int(found.group(2)))
            bodies[current] = []
        elif current:
            bodies[current].append(line)
    cells = {}
    stub_first = ClearSolutions().code_stub["python"].splitlines()[0].strip()
    for cell in release_notebook(notebook)["cells"]:
        meta = nbgrader_meta(cell)
        if not meta.get("solution"):
            continue
        out, number, skip = [], 0, False
        for line in _cell_text(cell).splitlines():
            if line.strip() == stub_first:
                number += 1
                indent = line[: len(line) - len(line.lstrip())]
                out.extend(indent + body if body else body for body in bodies[(meta["grade_id"], number)])
                skip = True  # the stub's second line
            elif skip:
                skip = False
            else:
                out.append(line)
        cells[meta["grade_id"]] = "\n".join(out)
    return cells


# -- disguises ---------------------------------------------------------------------------

def rename(text: str, salt: str) -> str:
    """Rename every argument, local and stored attribute (not the names the tests import)."""
    tree = ast.parse(text)
    keep = {node.name for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    keep |= {"self", "super"}
    names, attributes = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) or (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)):
            names.add(node.arg if isinstance(node, ast.arg) else node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            attributes.add(node.attr)
    new = {name: f"{salt}{index}_{name[:2]}" for index, name in enumerate(sorted(names - keep))}
    new_attr = {name: f"{salt}a{index}" for index, name in enumerate(sorted(attributes - keep))}
    lines = text.splitlines()
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    edits = []
    for position, tok in enumerate(tokens):
        if tok.type != tokenize.NAME:
            continue
        after_dot = position > 0 and tokens[position - 1].string == "."
        keyword_arg = position + 1 < len(tokens) and tokens[position + 1].string == "=" and \
            position > 0 and tokens[position - 1].string in ("(", ",") and tok.string not in names
        table = new_attr if after_dot else new
        if tok.string in table and not keyword_arg:
            edits.append((tok.start, tok.end, table[tok.string]))
    for (row, col), (_, end_col), replacement in sorted(edits, reverse=True):
        lines[row - 1] = lines[row - 1][:col] + replacement + lines[row - 1][end_col:]
    return "\n".join(lines)


def _chunks(lines: list[str], body: list[ast.stmt], stop: int) -> list[list[str]]:
    starts = [min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) for node in body]
    ends = starts[1:] + [stop]
    return [lines[start - 1:end - 1] for start, end in zip(starts, ends)]


def reorder(text: str) -> str:
    """Reverse the methods of every class and the definitions of the cell (imports stay first)."""
    lines = text.splitlines() + [""]
    tree = ast.parse(text)
    head = lines[: tree.body[0].lineno - 1]
    pieces = []
    for node, chunk in zip(tree.body, _chunks(lines, tree.body, len(lines) + 1)):
        if isinstance(node, ast.ClassDef) and len(node.body) > 1:
            first = node.body[0]
            is_doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            methods = node.body[1:] if is_doc else node.body
            offset = node.lineno - 1
            start_methods = min([methods[0].lineno] + [d.lineno for d in methods[0].decorator_list])
            top = chunk[: start_methods - 1 - offset]
            method_chunks = _chunks(lines, methods, node.end_lineno + 1)
            tail = chunk[node.end_lineno - offset:]
            method_chunks = [c if c[-1].strip() == "" else c + [""] for c in method_chunks]
            chunk = top + [line for c in reversed(method_chunks) for line in c] + tail
        pieces.append((isinstance(node, (ast.Import, ast.ImportFrom)), chunk))
    imports = [c for is_import, c in pieces if is_import]
    others = [c if c and c[-1].strip() == "" else c + [""] for is_import, c in pieces if not is_import]
    return "\n".join(head + [line for c in imports + list(reversed(others)) for line in c]).rstrip() + "\n"


def reformat(text: str) -> str:
    """What a formatter and a different taste do: unparse (quotes, parentheses, no comments,
    one statement a line) and indent by two spaces."""
    out = []
    for line in ast.unparse(ast.parse(text)).splitlines():
        stripped = line.lstrip(" ")
        out.append(" " * ((len(line) - len(stripped)) // 2) + stripped)
    return "\n".join(out) + "\n"


def recomment(text: str) -> str:
    """Drop every comment, then add different ones."""
    lines = text.splitlines()
    for tok in sorted((t for t in tokenize.generate_tokens(io.StringIO(text).readline)
                       if t.type == tokenize.COMMENT), key=lambda t: t.start, reverse=True):
        row, col = tok.start
        lines[row - 1] = lines[row - 1][:col].rstrip()
    out = []
    for number, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("return ") or stripped.startswith("for "):
            indent = line[: len(line) - len(stripped)]
            out.append(f"{indent}# note {number}: this step was tricky, checked it by hand")
        out.append(line)
    return "\n".join(out) + "\n"


_DEAD_HELPER = '''

def _scratch_helper(values, scale=2):
    total = 0
    for value in values:
        total += value * scale
    return total
'''


def add_dead_code(text: str) -> str:
    """An unused helper, and an unused counter and debugging branch at the top of every function."""
    tree = ast.parse(text)
    lines = text.splitlines()
    inserts = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            first = body[1] if len(body) > 1 and isinstance(body[0], ast.Expr) and \
                isinstance(body[0].value, ast.Constant) else body[0]
            indent = " " * first.col_offset
            inserts.append((first.lineno, [f"{indent}debug_steps = 0",
                                           f"{indent}if debug_steps > 10:",
                                           f"{indent}    print('debug', debug_steps)"]))
    for line_number, new in sorted(inserts, reverse=True):
        lines[line_number - 1:line_number - 1] = new
    return "\n".join(lines) + _DEAD_HELPER


DISGUISES = {
    "copy_renamed": lambda text: rename(text, "z"),
    "copy_reordered": reorder,
    "copy_reformatted": reformat,
    "copy_comments": recomment,
    "copy_deadcode": add_dead_code,
    "copy_everything": lambda text: recomment(reorder(reformat(rename(add_dead_code(text), "q")))),
}


def notebook_with(source: dict, cells: dict[str, str]) -> dict:
    notebook = release_notebook(source)
    for cell in notebook["cells"]:
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            cell["source"] = cells[meta["grade_id"]]
    return notebook


def corpus(slug: str) -> dict[str, dict]:
    """file name → notebook, for one assignment."""
    source = json.loads((ROOT / "assignments" / slug / "source.ipynb").read_text())
    reference = reference_cells(source)
    files = {"reference.ipynb": notebook_with(source, reference),
             "independent.ipynb": notebook_with(source, independent_cells(source, slug))}
    for name, disguise in DISGUISES.items():
        files[f"{name}.ipynb"] = notebook_with(source, {cell: disguise(text) for cell, text in reference.items()})
    return files


def main() -> None:
    for slug in SLUGS:
        folder = CORPUS / slug
        folder.mkdir(exist_ok=True)
        for name, notebook in corpus(slug).items():
            (folder / name).write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {folder}")


if __name__ == "__main__":
    main()
