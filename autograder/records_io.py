"""Reading what a harness run left in its output folder, outside the sandbox.

Everything in that folder may have been written by student code: sizes are capped before
anything is read, every line is validated, arrays are loaded with `allow_pickle=False` from
plain files inside the folder only. What does not pass is dropped and noted, never raised.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import numpy as np

from autograder.harness.records import ARRAYS_DIR, CURRENT_TEST_FILE, FINISHED_FILE, RECORDS_FILE
from autograder.sandbox.base import folder_bytes

_ARRAY_NAME = re.compile(rf"^{ARRAYS_DIR}/\d+\.npy$")
_OUTCOMES = {"passed", "failed", "error", "skipped", "timeout"}


@dataclasses.dataclass
class RunRecords:
    tests: dict[str, dict]  # nodeid → record (first one wins)
    order: list[str]  # nodeids in the order they were recorded
    problems: list[str]  # what was dropped and why (staff detail)
    current_test: str | None  # the test running when the run ended, if it said so
    root: Path
    finished: bool = False  # pytest reached the end of its session

    @classmethod
    def at(cls, root: Path) -> "RunRecords":
        """No records yet; values are read from `root`."""
        return cls({}, [], [], None, Path(root))

    def load_value(self, encoded) -> object:
        return decode_value(encoded, self.root)


def read_run(root: Path, *, max_bytes: int) -> RunRecords:
    root = Path(root)
    problems: list[str] = []
    records = RunRecords({}, [], problems, None, root)
    if not root.is_dir():
        problems.append("the run left no output folder")
        return records
    size = folder_bytes(root)
    if size > max_bytes:
        problems.append(f"the run wrote {size} bytes of records, over the {max_bytes} limit: all ignored")
        return records
    current = root / CURRENT_TEST_FILE
    if current.is_file() and not current.is_symlink():
        records.current_test = current.read_text(encoding="utf-8", errors="replace")[:1000].strip() or None
    records.finished = (root / FINISHED_FILE).is_file()
    path = root / RECORDS_FILE
    if not path.is_file() or path.is_symlink():
        problems.append("the run wrote no records")
        return records
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        record = _validate(line)
        if record is None:
            problems.append(f"record line {number} is malformed: dropped")
            continue
        if record["nodeid"] in records.tests:
            problems.append(f"record line {number} repeats {record['nodeid']}: dropped")
            continue
        records.tests[record["nodeid"]] = record
        records.order.append(record["nodeid"])
    return records


def _validate(line: str) -> dict | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("nodeid"), str):
        return None
    if record.get("outcome") not in _OUTCOMES or not isinstance(record.get("checks"), list):
        return None
    checks = []
    for check in record["checks"]:
        if not isinstance(check, dict) or not isinstance(check.get("name"), str):
            return None
        checks.append(check)
    return {
        "nodeid": record["nodeid"],
        "outcome": record["outcome"],
        "message": str(record.get("message", ""))[:4000],
        "part": record.get("part") if isinstance(record.get("part"), str) else None,
        "weight": record.get("weight") if _is_number(record.get("weight")) else 1,
        "timeout_s": record.get("timeout_s") if _is_number(record.get("timeout_s")) else None,
        "duration_s": record.get("duration_s") if _is_number(record.get("duration_s")) else None,
        "checks": checks,
        "violations": [v for v in record.get("violations", []) if isinstance(v, dict)][:50],
        "tamper": [str(t)[:200] for t in record.get("tamper", []) if isinstance(t, str)][:50],
        "raised_in": _cell_place(record.get("raised_in")),
    }


def _cell_place(place) -> dict | None:
    """{"cell": grade id, "line": n}: where in the notebook the test's error was raised."""
    if not isinstance(place, dict) or not isinstance(place.get("cell"), str) or not isinstance(place.get("line"), int):
        return None
    return {"cell": place["cell"][:200], "line": place["line"]}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class Unreadable(Exception):
    """A value that cannot be decoded; the comparator fails the check with this message."""


def decode_value(encoded, root: Path):
    """The Python/numpy value a record describes."""
    if not isinstance(encoded, dict):
        raise Unreadable("the recorded value is malformed")
    kind = encoded.get("type")
    if kind == "array":
        return _load_array(encoded, root)
    if kind in ("bool", "int", "str"):
        value = encoded.get("value")
        expected = {"bool": bool, "int": int, "str": str}[kind]
        if not isinstance(value, expected) or (kind == "int" and isinstance(value, bool)):
            raise Unreadable("the recorded value is malformed")
        return value
    if kind == "float":
        value = encoded.get("value")
        if isinstance(value, str) and value in ("nan", "inf", "-inf"):
            return float(value)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise Unreadable("the recorded value is malformed")
        return float(value)
    if kind == "none":
        return None
    if kind == "list":
        return [decode_value(item, root) for item in encoded.get("items", [])]
    if kind == "dict":
        items = encoded.get("items", {})
        if not isinstance(items, dict):
            raise Unreadable("the recorded value is malformed")
        return {str(key): decode_value(item, root) for key, item in items.items()}
    if kind == "unsupported":
        raise Unreadable(f"got a value of type {str(encoded.get('python_type'))[:80]}, which cannot be checked")
    raise Unreadable("the recorded value is malformed")


class ArrayValue:
    """An array with the torch dtype it was recorded as."""

    def __init__(self, array: np.ndarray, dtype: str):
        self.array, self.dtype = array, dtype

    @property
    def shape(self) -> tuple:
        return tuple(self.array.shape)


def _load_array(encoded: dict, root: Path) -> ArrayValue:
    name = encoded.get("file")
    dtype = encoded.get("dtype")
    if not isinstance(name, str) or not _ARRAY_NAME.match(name) or not isinstance(dtype, str):
        raise Unreadable("the recorded array is malformed")
    path = root / name
    if path.is_symlink() or not path.is_file():
        raise Unreadable("the recorded array is missing")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise Unreadable(f"the recorded array cannot be read ({error})") from error
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biufc":
        raise Unreadable("the recorded array has an unsupported type")
    return ArrayValue(array, dtype[:40])
