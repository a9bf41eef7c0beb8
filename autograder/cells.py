"""Notebook cells outside the sandbox: the files a submission runs from, the cell log a run
leaves behind, and the feedback that names cells.

The cell log is written inside the sandbox, so the student's code can forge it: it only ever
shapes messages (which cell failed, and how), never a score. Whether a cell is unanswered is
also read from the upload itself (nbgrader's stub is still in it), so a forged "every cell
ran" log cannot hide an unanswered cell either.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

from autograder.harness.cells import CELL_LOG_FILE, MANIFEST_NAME, MAX_MESSAGE_CHARS, cell_label, describe_cell_failure

# nbgrader's code stub (ClearSolutions' default), left where the student has not answered yet.
STUB_LINES = ("# YOUR CODE HERE", "raise NotImplementedError()")
MAX_LOG_BYTES = 1 << 20
_EVENT_STATUSES = {"started", "ok", "raised", "timeout"}
_MISSING_NAME = re.compile(r"(?:module 'submission' has no attribute|name) '(?P<name>\w+)'(?: is not defined)?")


@dataclasses.dataclass(frozen=True)
class CodeCell:
    grade_id: str
    kind: str  # "solution" (the student's) or "provided" (the instructor's)
    index: int | None  # the In [n] prompt Jupyter shows for it
    source: str

    @property
    def label(self) -> str:
        return cell_label(self.grade_id, self.index)

    @property
    def unanswered(self) -> bool:
        lines = [line.strip() for line in self.source.splitlines()]
        return self.kind == "solution" and any(
            tuple(lines[number:number + 2]) == STUB_LINES for number in range(len(lines) - 1))


def write_cells(folder: Path, cells: list[CodeCell]) -> Path:
    """One `.py` file per cell and the manifest the harness runs them from; returns the
    manifest's path."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for position, cell in enumerate(cells, 1):
        name = f"cell_{position:02d}_{re.sub(r'[^A-Za-z0-9_]', '_', cell.grade_id)[:60]}.py"
        (folder / name).write_text(cell.source + "\n", encoding="utf-8")
        entries.append({"file": name, "grade_id": cell.grade_id, "index": cell.index, "label": cell.label})
    manifest = folder / MANIFEST_NAME
    manifest.write_text(json.dumps({"cells": entries}, indent=1), encoding="utf-8")
    return manifest


def read_cell_log(out_dirs: list[Path], cells: list[CodeCell]) -> dict[str, dict]:
    """grade id → how the cell ended, from the first run that left a log: {"status": ok |
    raised | timeout | unfinished, "error", "message", "line", "timeout_s"}. Untrusted input:
    capped, unknown cells and malformed lines dropped."""
    known = {cell.grade_id for cell in cells}
    for out_dir in out_dirs:
        path = Path(out_dir) / CELL_LOG_FILE
        if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_LOG_BYTES:
            continue
        outcomes: dict[str, dict] = {}
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            event = _valid_event(line, known)
            if event is None:
                continue
            if event["status"] == "started":
                outcomes.setdefault(event["cell"], dict(event, status="unfinished"))
            elif outcomes.get(event["cell"], {}).get("status", "unfinished") == "unfinished":
                outcomes[event["cell"]] = event
        if outcomes:
            return outcomes
    return {}


def _valid_event(line: str, known: set[str]) -> dict | None:
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(event, dict) or event.get("cell") not in known or event.get("status") not in _EVENT_STATUSES:
        return None
    line_number = event.get("line")
    timeout_s = event.get("timeout_s")
    return {
        "cell": event["cell"],
        "status": event["status"],
        "error": str(event.get("error", ""))[:80],
        "message": str(event.get("message", ""))[:MAX_MESSAGE_CHARS],
        "line": line_number if isinstance(line_number, int) and not isinstance(line_number, bool) else None,
        "timeout_s": float(timeout_s) if isinstance(timeout_s, (int, float)) and not isinstance(timeout_s, bool)
        else None,
    }


def defined_names(source: str) -> set[str]:
    """Top-level names a cell's code binds (functions, classes, assignments, imports)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names if alias.name != "*")
    return names


@dataclasses.dataclass
class CellFeedback:
    """What the student is told about the cells of one graded notebook."""

    cells: list[CodeCell]
    outcomes: dict[str, dict]  # from the cell log (untrusted: messages only)
    owners: dict[str, str]  # top-level name → grade id of the instructor's cell that defines it

    @classmethod
    def build(cls, cells: list[CodeCell], instructor_sources: dict[str, str], out_dirs: list[Path]) -> "CellFeedback":
        owners: dict[str, str] = {}
        for grade_id, source in instructor_sources.items():
            for name in defined_names(source):
                owners.setdefault(name, grade_id)
        return cls(cells, read_cell_log(out_dirs, cells), owners)

    def _cell(self, grade_id: str | None) -> CodeCell | None:
        return next((cell for cell in self.cells if cell.grade_id == grade_id), None)

    def _failed(self, cell: CodeCell) -> bool:
        return self.outcomes.get(cell.grade_id, {}).get("status", "ok") != "ok"

    def notes(self) -> list[str]:
        """One line per cell that did not run to its end or is not answered, in notebook order."""
        notes = []
        for cell in self.cells:
            outcome = self.outcomes.get(cell.grade_id)
            if outcome and outcome["status"] != "ok":
                notes.append(describe_cell_failure(cell.label, outcome["status"], outcome["error"], outcome["message"],
                                                   outcome["line"], outcome["timeout_s"]))
            elif cell.unanswered:
                notes.append(f"{cell.label} is not answered yet: it still raises NotImplementedError where your "
                             "code goes")
        return notes

    def failure_message(self, record: dict) -> str | None:
        """The message of a test that failed for want of a cell, naming the cell; None when
        no cell is to blame (the usual failure message stands)."""
        first = record["message"].strip().splitlines()[0][:300] if record["message"].strip() else ""
        missing = _MISSING_NAME.search(first)
        owner = self._cell(self.owners.get(missing["name"])) if missing else None
        if owner is not None:
            name = missing["name"]
            if owner.unanswered or self._failed(owner):
                why = "is not answered yet" if owner.unanswered else "did not run to its end"
                return f"needs `{name}` from {owner.label}, which {why} (see the notes above the tests)"
            return f"needs `{name}`, which {owner.label} should define; the cell ran but defined no `{name}`"
        where = self._cell((record.get("raised_in") or {}).get("cell"))
        if where is not None and first.startswith("NotImplementedError") and where.unanswered:
            return f"{where.label} is not answered yet (see the notes above the tests)"
        return None

    def timeout_message(self, record: dict, limit_s) -> str:
        where = self._cell((record.get("raised_in") or {}).get("cell"))
        at = f" while running {where.label} line {record['raised_in']['line']}" if where else ""
        return f"ran past its time limit ({limit_s or '?'} s){at}"
