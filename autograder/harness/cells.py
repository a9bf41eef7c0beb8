"""A notebook submission, run cell by cell inside the sandbox.

The grader writes each code cell of the submission to a file of its own and a manifest
(`cells.json`) listing them in notebook order. Each cell is compiled with its own file name
(Triton's @jit reads kernel source back from that file, and tracebacks name it) and run in
one shared module namespace, the module the tests see as `impl`. A cell that raises is
recorded and the next one runs, so one unanswered cell costs only the tests that need it.

What this module records is informational: the outside turns it into feedback and never into
points. It runs inside the sandbox and imports only the standard library.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import traceback
import types
from collections.abc import Callable
from pathlib import Path

MANIFEST_NAME = "cells.json"
CELL_LOG_FILE = "cells.jsonl"
MAX_MESSAGE_CHARS = 300
NOT_ANSWERED = "you have not answered it yet"

# Path of each cell file loaded in this process → (grade id, label "cell `relu` (In [7])").
_CELLS: dict[str, tuple[str, str]] = {}


class CellTimeout(BaseException):
    """A cell's top-level code ran past its limit (BaseException: `except Exception` in the
    cell cannot swallow it)."""


def cell_label(grade_id: str, index: int | None) -> str:
    """How a cell is named to a student: its grade id and the prompt Jupyter shows for it."""
    return f"cell `{grade_id}` (In [{index}])" if index else f"cell `{grade_id}`"


def describe_cell_failure(label: str, status: str, error: str = "", message: str = "", line: int | None = None,
                          timeout_s: float | None = None) -> str:
    """One sentence about a cell that did not run to its end, for the student."""
    where = f"{label} line {line}" if line else label
    if status == "timeout":
        limit = f" within {timeout_s:g} s" if timeout_s else ""
        return f"{where} did not finish{limit}; long work belongs in a function the tests call"
    if status == "unfinished":
        return f"{label} was still running when the grading run was stopped"
    if error == "NotImplementedError":
        return f"{label} raised NotImplementedError ({NOT_ANSWERED})"
    text = f"{error}: {message}" if message else error
    return f"{where} raised {text}"[:MAX_MESSAGE_CHARS + 100]


def is_manifest(path: Path) -> bool:
    return Path(path).name == MANIFEST_NAME


def read_manifest(path: Path) -> list[dict]:
    """[{"file", "grade_id", "index", "label"}] in notebook order."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)["cells"]


def load_cells(manifest: Path, module_name: str, *, timeout_s: float | None = None,
               on_event: Callable[[dict], None] | None = None) -> types.ModuleType:
    """Run the cells the manifest lists into one new module, registered as `module_name`."""
    manifest = Path(manifest).resolve()
    module = types.ModuleType(module_name)
    module.__file__ = str(manifest)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up by name
    for cell in read_manifest(manifest):
        path = manifest.parent / cell["file"]
        _CELLS[str(path)] = (cell["grade_id"], cell["label"])
        if on_event:
            on_event({"cell": cell["grade_id"], "status": "started"})
        event = {"cell": cell["grade_id"], **_run_cell(path, module, timeout_s)}
        if on_event:
            on_event(event)
    return module


def _run_cell(path: Path, module: types.ModuleType, timeout_s: float | None) -> dict:
    alarm = bool(timeout_s) and threading.current_thread() is threading.main_thread()
    previous = None
    try:
        code = compile(path.read_text(encoding="utf-8"), str(path), "exec")
        if alarm:
            previous = signal.signal(signal.SIGALRM, _raise_cell_timeout)
            signal.setitimer(signal.ITIMER_REAL, timeout_s)
        exec(code, module.__dict__)  # noqa: S102 - the submission, in the sandbox, from its own file
    except CellTimeout as error:
        return {"status": "timeout", "line": _line_in(error, path), "timeout_s": timeout_s}
    except BaseException as error:  # noqa: BLE001 - sys.exit in a cell must not end the run
        return {"status": "raised", "error": type(error).__name__, "message": str(error)[:MAX_MESSAGE_CHARS],
                "line": _line_in(error, path)}
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
    return {"status": "ok"}


def _raise_cell_timeout(signum, frame):
    raise CellTimeout("the cell ran past its time limit")


def _line_in(error: BaseException, path: Path) -> int | None:
    if isinstance(error, SyntaxError) and error.filename == str(path):
        return error.lineno
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__) if frame.filename == str(path)]
    return lines[-1] if lines else None


def raised_in(error: BaseException) -> dict | None:
    """Where in the submission's cells `error` was raised: the innermost frame that is in a
    cell file, as {"cell", "label", "line"}; None when no cell is on the traceback."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        cell = _CELLS.get(frame.filename) or _CELLS.get(os.path.realpath(frame.filename))
        if cell:
            return {"cell": cell[0], "label": cell[1], "line": frame.lineno}
    return None


def location_text(error: BaseException) -> str:
    """" (at cell `relu` (In [7]) line 3)", or "" outside the cells."""
    where = raised_in(error)
    return f" (at {where['label']} line {where['line']})" if where else ""


class CellLog:
    """Appends cell events, one JSON line each, to the run's output folder."""

    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / CELL_LOG_FILE

    def __call__(self, event: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(event) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
