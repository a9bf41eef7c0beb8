"""The in-sandbox harness is all of the engine that runs inside the sandbox, and all that is
mounted there: it may import the standard library, numpy, pytest and torch, and itself, never
another `autograder` module (those are not in the sandbox, and hold what students must not see)."""

import ast
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[2] / "autograder" / "harness"


def imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


def test_harness_imports_nothing_else_of_autograder():
    files = sorted(HARNESS.glob("*.py"))
    assert files
    outside = {f"{path.name}: {name}" for path in files for name in imported_modules(path)
               if (name == "autograder" or name.startswith("autograder.")) and not name.startswith("autograder.harness")
               or name.startswith("..")}
    assert not outside, f"the harness imports engine modules that are not in the sandbox: {sorted(outside)}"
