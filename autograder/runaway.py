"""A runaway submission costs one slot once: a student run that is killed the same way twice
(past its wall time, out of memory) is not restarted a third time.

The engine restarts a student run past a test that killed it, so one bad test costs only
itself. But `while True: pass` in a solution cell, or a 20 GB allocation, kills every run
that reaches that cell: restarting would hold a worker slot for every test that calls it.
After the second death of one kind the tests left are not run, and the result's summary
says why in one line instead of "0 of 105 tests passed".
"""

from __future__ import annotations

import re

DEATHS = {"time": "ran past the time limit", "memory": "ran out of memory"}


def death_of(outcome) -> str | None:
    """How a sandbox run was killed, for the kinds that repeat: "time", "memory" or None."""
    if outcome.timed_out:
        return "time"
    if outcome.out_of_memory:
        return "memory"
    return None


def cell_names(student_lines: dict[int, str] | None) -> set[str]:
    """The solution cells of a converted notebook ("cell `relu` (In [7]) line 3" → relu)."""
    names = set()
    for where in (student_lines or {}).values():
        match = re.match(r"cell `([^`]+)`", where)
        if match:
            names.add(match.group(1))
    return names


class RepeatedDeath:
    """Counts how the student runs died; `record` says when to stop restarting."""

    def __init__(self, cells: set[str]):
        self.cells = cells
        self.counts: dict[str, int] = {}
        self.stopped: tuple[str, str | None] | None = None  # (kind, part of the test that died)

    def record(self, outcome, part: str | None) -> bool:
        kind = death_of(outcome)
        if kind is None:
            return False
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.counts[kind] >= 2:
            self.stopped = (kind, part)
            return True
        return False

    def summary(self) -> str | None:
        """One line for the student: what their code did and where."""
        if self.stopped is None:
            return None
        kind, part = self.stopped
        if part and part in self.cells:
            where = f" in cell `{part}`"
        elif part:
            where = f" in a test of part `{part}`"
        else:
            where = ""
        return f"Your code {DEATHS[kind]}{where}, twice; the tests after it were not run."

    def not_run_message(self) -> str:
        kind, part = self.stopped
        return f"not run: your code {DEATHS[kind]} twice{f' (part `{part}`)' if part else ''}; fix that first"
