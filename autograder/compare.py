"""Trusted comparison, outside the sandbox: one student test record against the trusted one.

The trusted record (the reference's run) supplies the checks that must exist, their
tolerances, bounds and hints. The student record supplies values only; its outcome can only
lower the result (a failed or skipped student test fails), never raise it.

Messages have two audiences: `message` is for the student and never contains expected
values or test code; `detail` is for staff.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from autograder.package import DEFAULT_TOLERANCES, Assignment, PerfSpec
from autograder.records_io import ArrayValue, RunRecords, Unreadable


@dataclasses.dataclass
class CheckVerdict:
    ok: bool
    message: str = ""  # student-facing
    detail: str = ""  # staff-only


@dataclasses.dataclass
class TestVerdict:
    status: str  # pass | fail | error | timeout | not-measured
    fraction: float  # of the test's points
    message: str
    detail: str = ""
    perf: dict | None = None


def tolerance_for(dtype: str, assignment: Assignment) -> tuple[float, float]:
    key = dtype.replace("torch.", "").replace("numpy.", "")
    return assignment.tolerances.get(key, DEFAULT_TOLERANCES["float64"])


def compare_arrays(name: str, actual: ArrayValue, expected: ArrayValue, *, rtol, atol, rel_fro,
                   exact: bool, assignment: Assignment) -> CheckVerdict:
    if actual.dtype != expected.dtype:
        return CheckVerdict(False, f"'{name}': dtype is {actual.dtype}, expected {expected.dtype}")
    if actual.shape != expected.shape:
        return CheckVerdict(False, f"'{name}': shape is {list(actual.shape)}, expected {list(expected.shape)}")
    a, e = actual.array, expected.array
    if a.dtype.kind in "biu" or e.dtype.kind in "biu" or exact:
        equal = np.array_equal(a, e, equal_nan=a.dtype.kind in "fc")
        if equal:
            return CheckVerdict(True)
        wrong = int(np.sum(~_equal_mask(a, e)))
        index = _first_index(~_equal_mask(a, e))
        return CheckVerdict(False, f"'{name}': {wrong} of {a.size} values are not exactly equal "
                                   f"(first at index {index})",
                            f"actual {a[index] if a.ndim else a}, expected {e[index] if e.ndim else e}")
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    finite_expected = np.isfinite(e64)
    bad_finite = finite_expected & ~np.isfinite(a64)
    if bad_finite.any():
        count = int(bad_finite.sum())
        kind = "NaN" if np.isnan(a64[bad_finite]).any() else "infinity"
        return CheckVerdict(False, f"'{name}': {count} of {a.size} values are {kind} where a finite value was "
                                   f"expected (first at index {_first_index(bad_finite)}); look for overflow in "
                                   "exp, division by zero or log of zero")
    special = ~finite_expected
    if special.any() and not np.array_equal(a64[special], e64[special], equal_nan=True):
        return CheckVerdict(False, f"'{name}': where the result should be NaN or infinite, it is not "
                                   f"(first at index {_first_index(special & (a64 != e64))})")
    if rel_fro is not None:
        norm = float(np.linalg.norm(e64[finite_expected]))
        error = float(np.linalg.norm((a64 - e64)[finite_expected])) / max(norm, 1e-30)
        if error <= rel_fro:
            return CheckVerdict(True)
        return CheckVerdict(False, f"'{name}': relative Frobenius error {error:.3g}, allowed {rel_fro:g}")
    default_rtol, default_atol = tolerance_for(expected.dtype, assignment)
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    difference = np.where(finite_expected, np.abs(a64 - e64), 0.0)
    allowed = atol + rtol * np.abs(np.where(finite_expected, e64, 0.0))
    over = difference > allowed
    if not over.any():
        return CheckVerdict(True)
    worst = _first_index(difference - allowed == (difference - allowed).max()) if a.ndim else ()
    return CheckVerdict(
        False,
        f"'{name}': {int(over.sum())} of {a.size} values differ; max abs error {difference.max():.3g} at index "
        f"{worst} (allowed: {atol:g} + {rtol:g}·|expected|)",
        f"actual {a64[worst]!r}, expected {e64[worst]!r}",
    )


def _equal_mask(a, e):
    if a.dtype.kind in "fc" and e.dtype.kind in "fc":
        return (a == e) | (np.isnan(a) & np.isnan(e))
    return a == e


def _first_index(mask: np.ndarray) -> tuple:
    if mask.ndim == 0:
        return ()
    positions = np.argwhere(mask)
    return tuple(int(i) for i in positions[0]) if len(positions) else ()


def compare_values(name: str, actual, expected, entry: dict, assignment: Assignment) -> CheckVerdict:
    exact = entry.get("kind") == "exact"
    if isinstance(expected, ArrayValue):
        if not isinstance(actual, ArrayValue):
            return CheckVerdict(False, f"'{name}': expected a tensor, got {_kind(actual)}")
        return compare_arrays(name, actual, expected, rtol=entry.get("rtol"), atol=entry.get("atol"),
                              rel_fro=entry.get("rel_fro"), exact=exact, assignment=assignment)
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return CheckVerdict(False, f"'{name}': expected a list, got {_kind(actual)}")
        if len(actual) != len(expected):
            return CheckVerdict(False, f"'{name}': {len(actual)} items, expected {len(expected)}")
        for index, (one_actual, one_expected) in enumerate(zip(actual, expected)):
            verdict = compare_values(f"{name}[{index}]", one_actual, one_expected, entry, assignment)
            if not verdict.ok:
                return verdict
        return CheckVerdict(True)
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            return CheckVerdict(False, f"'{name}': expected a mapping with keys {sorted(expected)}")
        for key in expected:
            verdict = compare_values(f"{name}.{key}", actual[key], expected[key], entry, assignment)
            if not verdict.ok:
                return verdict
        return CheckVerdict(True)
    if isinstance(expected, float) and not exact:
        if not _is_real(actual):
            return CheckVerdict(False, f"'{name}': expected a number, got {_kind(actual)}")
        rtol = entry.get("rtol") if entry.get("rtol") is not None else DEFAULT_TOLERANCES["float"][0]
        atol = entry.get("atol") if entry.get("atol") is not None else DEFAULT_TOLERANCES["float"][1]
        if math.isnan(expected):
            return CheckVerdict(math.isnan(actual), f"'{name}': expected NaN")
        if not math.isfinite(actual) and math.isfinite(expected):
            return CheckVerdict(False, f"'{name}': got {actual}, expected a finite number")
        if abs(actual - expected) <= atol + rtol * abs(expected):
            return CheckVerdict(True)
        return CheckVerdict(False, f"'{name}': off by {abs(actual - expected):.3g} (allowed: {atol:g} + "
                                   f"{rtol:g}·|expected|)", f"actual {actual!r}, expected {expected!r}")
    if type(actual) is not type(expected) or actual != expected:
        shown = "" if isinstance(expected, str) and len(expected) > 40 else f", expected {expected!r}"
        return CheckVerdict(False, f"'{name}': got {_short(actual)}{shown}")
    return CheckVerdict(True)


def _is_real(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(value) -> str:
    if isinstance(value, ArrayValue):
        return f"a tensor of shape {list(value.shape)}"
    return type(value).__name__


def _short(value) -> str:
    text = repr(value) if not isinstance(value, ArrayValue) else f"a tensor of shape {list(value.shape)}"
    return text if len(text) <= 60 else text[:57] + "..."


def compare_check(entry: dict, student_entry: dict | None, trusted: RunRecords, student: RunRecords,
                  assignment: Assignment) -> CheckVerdict:
    name = entry["name"]
    hint = f" Hint: {entry['hint']}" if entry.get("hint") else ""
    if student_entry is None:
        return CheckVerdict(False, f"'{name}' was never recorded: the test stopped before reaching it")
    try:
        expected = trusted.load_value(entry.get("value"))
    except Unreadable as error:
        return CheckVerdict(False, f"'{name}': could not be graded (grader problem)", f"trusted value: {error}")
    try:
        actual = student.load_value(student_entry.get("value"))
    except Unreadable as error:
        return CheckVerdict(False, f"'{name}': {error}")
    kind = entry.get("kind")
    if kind == "bound":
        verdict = _compare_bound(name, actual, entry.get("lower"), entry.get("upper"))
    elif kind == "near":
        if not _is_real(expected):
            return CheckVerdict(False, f"'{name}': could not be graded (grader problem)", "reference not a number")
        lower = expected - float(entry.get("below") or 0.0)
        upper = expected + float(entry.get("above") or 0.0)
        verdict = _compare_bound(name, actual, lower, upper)
    else:
        verdict = compare_values(name, actual, expected, entry, assignment)
    if not verdict.ok and hint:
        verdict.message += "." + hint
    return verdict


def _compare_bound(name: str, actual, lower, upper) -> CheckVerdict:
    if not _is_real(actual) or not math.isfinite(actual):
        return CheckVerdict(False, f"'{name}': expected a finite number, got {_short(actual)}")
    if lower is not None and actual < lower:
        return CheckVerdict(False, f"'{name}' is {actual:.4g}, below the required {lower:.4g}")
    if upper is not None and actual > upper:
        return CheckVerdict(False, f"'{name}' is {actual:.4g}, above the allowed {upper:.4g}")
    return CheckVerdict(True)


def perf_verdict(entry: dict, student_entry: dict | None, student: RunRecords, spec: PerfSpec | None,
                 hardware: str, run_wall_s: float, runs: int = 1) -> TestVerdict:
    """`runs`: how many runs measured it (the student run re-measures a noisy one)."""
    name = entry["name"]
    if spec is None:
        return TestVerdict("error", 0.0, "could not be graded (grader problem)", f"no [[perf]] spec named {name}")
    if spec.hardware.lower() not in hardware.lower():
        return TestVerdict("not-measured", 0.0, f"not measured here: '{name}' is scored on {spec.hardware}, "
                                                f"this run had {hardware}")
    if student_entry is None:
        return TestVerdict("fail", 0.0, f"'{name}' was never measured: the test stopped before timing")
    try:
        value = student.load_value(student_entry.get("value"))
        student_s, baseline_s, spread = (float(value[key]) for key in ("student_s", "baseline_s", "spread"))
        details = {str(key): float(figure) for key, figure in value.get("details", {}).items()}
    except (Unreadable, KeyError, TypeError, ValueError, AttributeError):
        return TestVerdict("fail", 0.0, f"'{name}': the measurement is malformed")
    if not all(math.isfinite(x) and x > 0 for x in (student_s, baseline_s)) or not math.isfinite(spread):
        return TestVerdict("fail", 0.0, f"'{name}': the measured times are not positive numbers")
    if spec.unit == "seconds" and (student_s > run_wall_s or baseline_s > run_wall_s):
        return TestVerdict("fail", 0.0, f"'{name}': the measured times exceed the run's own wall time",
                           f"claimed {student_s}s/{baseline_s}s, run took {run_wall_s:.1f}s from outside")
    speedup = baseline_s / student_s
    figures = {"speedup_vs_baseline": speedup, "student_s": student_s, "baseline_s": baseline_s,
               "spread": spread, "unit": spec.unit, "full_credit_ratio": spec.full_credit_ratio, **details}
    if spread > spec.max_spread:
        tried = f"in each of {runs} runs" if runs > 1 else "in its run"
        return TestVerdict("not-measured", 0.0, f"'{name}': measurement too noisy {tried} (least spread {spread:.0%}, "
                                                f"allowed {spec.max_spread:.0%}); not scored, and its points are left "
                                                "out of your maximum", perf=figures)
    credit = spec.credit(speedup)
    status = "pass" if credit >= 1.0 else "fail"
    message = (f"'{name}': {speedup:.2f}× the baseline (full credit at {spec.full_credit_ratio:.2f}×, none at "
               f"{spec.zero_credit_ratio:.2f}×)")
    return TestVerdict(status, credit, message, perf=figures)
