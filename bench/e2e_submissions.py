"""What bench/gpu_worker_e2e.py uploads: a package's folder, and a mutant turned into the
notebook a student would upload (the instructor's filled notebook with the mutant's code
appended to the solution cell it redefines). A mutant imports the reference as
`reference_solution`, which a student's upload cannot: those references become the notebook's
own names, which the cells before define."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

REFERENCE_IMPORT = re.compile(r"^\s*(from reference_solution import .*|import reference_solution.*)$", re.MULTILINE)


def package_dir(repo: Path, slug: str) -> Path:
    """assignments/<slug>, or the engine's example assignment for `example`."""
    folder = repo / "assignments" / slug
    if (folder / "assignment.toml").is_file():
        return folder
    if slug == "example":
        return repo / "tests" / "example_assignment"
    raise SystemExit(f"no package {slug}")


def defined_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def as_student_code(mutant_source: str) -> str:
    code = REFERENCE_IMPORT.sub("", mutant_source)
    return re.sub(r"\breference_solution\.", "", code)


def mutant_notebook(notebook: Path, mutant: Path) -> dict:
    """The filled notebook with the mutant's code at the end of the last solution cell that
    defines one of the names the mutant defines (later definitions win, as in the module)."""
    book = json.loads(notebook.read_text(encoding="utf-8"))
    code = as_student_code(mutant.read_text(encoding="utf-8"))
    wanted = defined_names(code)
    solutions = [cell for cell in book["cells"]
                 if cell["cell_type"] == "code" and cell["metadata"].get("nbgrader", {}).get("solution")]
    if not solutions:
        raise SystemExit(f"{notebook} has no solution cells")
    matching = [cell for cell in solutions if defined_names("".join(cell["source"])) & wanted]
    cell = (matching or solutions)[-1]
    source = "".join(cell["source"])
    cell["source"] = source.rstrip("\n") + f"\n\n# --- mutant {mutant.stem}\n" + code
    return book
