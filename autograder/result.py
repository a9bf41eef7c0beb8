"""The result of grading one submission: a versioned JSON document.

Schema (version 1):
    schema_version   1
    status           graded | rejected | error
    assignment       slug
    score, max_score points over the measured tests (a test "not measured here" counts in
                     neither); unmeasured_points says how many were left out
    message          one line for the student (why rejected, or a summary)
    warnings         student-facing notes (removed magics, ignored cells, one per notebook
                     cell that raised, timed out or is unanswered: "cell `nf4_code` (In [4])
                     raised NotImplementedError (you have not answered it yet)")
    flags            staff-only: [{"kind": "tamper"|"forbidden"|"grader", "evidence": [...]}]
    parts            [{name, title, score, max_score, visibility}]
    tests            [{name, part, status, score, max_score, message, detail, visibility,
                       hidden, perf}]; status pass | fail | error | timeout | not-measured;
                     `detail` is staff-only; `perf` holds figures of a perf test
    run              {bundle_digest, seed, sandbox, image, hardware, durations: {...},
                      restarts, lanes, engine_version, student_runs: [{tests, wall_s, ended,
                      events, stdout, stderr, stdout_truncated, stderr_truncated, cap_chars,
                      lane, start_s, end_s}]} (lanes: autograder/lanes.py)
                     (staff-only; autograder/run_log.py)
What a student may see of it is the portal's decision (`web/grading.py`, the release policy).
"""

from __future__ import annotations

import dataclasses
import json

SCHEMA_VERSION = 1
TEST_STATUSES = ("pass", "fail", "error", "timeout", "not-measured")


@dataclasses.dataclass
class TestResult:
    name: str
    part: str
    status: str
    score: float
    max_score: float
    message: str
    detail: str = ""
    visibility: str = "visible"  # visible | after_deadline | hidden
    hidden: bool = False  # from tests/hidden
    perf: dict | None = None


@dataclasses.dataclass
class GradeResult:
    status: str
    assignment: str
    score: float = 0.0
    max_score: float = 0.0
    unmeasured_points: float = 0.0
    message: str = ""
    warnings: list[str] = dataclasses.field(default_factory=list)
    flags: list[dict] = dataclasses.field(default_factory=list)
    parts: list[dict] = dataclasses.field(default_factory=list)
    tests: list[TestResult] = dataclasses.field(default_factory=list)
    run: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        data = {"schema_version": SCHEMA_VERSION, **dataclasses.asdict(self)}
        for holder in [data, *data["parts"], *data["tests"]]:
            for key in ("score", "max_score", "unmeasured_points"):
                if key in holder:
                    holder[key] = round(float(holder[key]), 6)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def part_score(self, name: str) -> tuple[float, float]:
        part = next((p for p in self.parts if p["name"] == name), None)
        return (part["score"], part["max_score"]) if part else (0.0, 0.0)


# dlgrade's part visibility -> Gradescope's test visibility. A dlgrade "hidden" part shows its
# tests' scores but not their names or messages; Gradescope's "hidden" would also hide the
# student's total score, so such tests go out as visible entries with the details withheld.
GRADESCOPE_VISIBILITY = {"visible": "visible", "after_deadline": "after_due_date", "hidden": "visible"}
HIDDEN_TEST_OUTPUT = "Details of hidden tests are not shown."


def _gradescope_test(test: dict, hardware: str) -> dict:
    visibility = test.get("visibility") or "visible"
    entry = {"name": test["name"], "output": test.get("message") or "", "tags": [test["part"]],
             "visibility": "visible"}
    if test.get("hidden"):
        entry["visibility"] = GRADESCOPE_VISIBILITY.get(visibility, "visible")
        if visibility not in ("visible", "after_deadline"):
            entry["name"], entry["output"] = f"{test['part']}: hidden test", HIDDEN_TEST_OUTPUT
    if test["status"] == "not-measured":
        # No score, max_score or status: Gradescope neither fails it nor counts its points.
        entry["output"] = (f"Not measured (this run's hardware: {hardware}): not failed, and its "
                           f"{test['max_score']:g} points are not counted. {entry['output']}").strip()
        return entry
    entry.update(score=test["score"], max_score=test["max_score"],
                 status="passed" if test["status"] == "pass" else "failed")
    return entry


def to_gradescope(result: dict) -> dict:
    """Gradescope autograder `results.json` (gradescope-autograders.readthedocs.io, specs):
    the measured score, the wall time of the grading, one entry per test. Staff-only fields
    (`detail`, `flags`, the seed) never go out: Gradescope shows `output` to students."""
    run = result.get("run") or {}
    hardware = str(run.get("hardware") or "unknown")
    output = result.get("message", "")
    if result.get("unmeasured_points"):
        output = (f"{output.rstrip('.')}. {result['unmeasured_points']:g} points of performance tests were not measured "
                  f"(scored on other hardware than this {hardware}, or too noisy to time after re-measuring) and "
                  "are not counted.").strip()
    return {
        "score": result.get("score", 0),
        "execution_time": round((run.get("durations") or {}).get("total_s", 0)),
        "output": output,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [_gradescope_test(test, hardware) for test in result.get("tests", [])],
    }


def format_table(result: dict) -> str:
    """A readable table for the terminal."""
    lines = [f"{result['assignment']}: {result['status']}"]
    if result["status"] != "graded":
        lines.append(f"  {result.get('message', '')}")
        return "\n".join(lines)
    width = max([len(test["name"]) for test in result["tests"]] + [10])
    width = min(width, 70)
    lines.append(f"  {'test':<{width}}  {'status':<12} {'score':>11}")
    for test in result["tests"]:
        name = test["name"] if len(test["name"]) <= width else "…" + test["name"][-(width - 1):]
        score = f"{test['score']:.2f}/{test['max_score']:.2f}"
        lines.append(f"  {name:<{width}}  {test['status']:<12} {score:>11}")
        if test["status"] != "pass" and test["message"]:
            lines.append(f"  {'':<{width}}    {test['message'][:300]}")
    lines.append("  parts: " + ", ".join(f"{p['name']} {p['score']:.2f}/{p['max_score']:.2f}" for p in result["parts"]))
    total = f"  total: {result['score']:.2f} / {result['max_score']:.2f}"
    if result.get("unmeasured_points"):
        total += f"  ({result['unmeasured_points']:.2f} points not measured, not counted)"
    lines.append(total)
    for warning in result.get("warnings", []):
        lines.append(f"  warning: {warning}")
    return "\n".join(lines)
