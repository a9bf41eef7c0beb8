"""A result laid out for reading: one section per part with its score, failed tests first,
passes folded. Works on whatever view the viewer may see (grading.student_view for students)."""

from __future__ import annotations

from typing import Any

PASSING = ("pass",)
ORDER = {"fail": 0, "error": 1, "timeout": 2, "not-measured": 4, "pass": 5}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def sections(result: dict | None) -> list[dict]:
    """[{name, title, score, max_score, pending, problems: [test], passed: [test]}] in the
    result's part order; tests of a part the result does not list go to a last section."""
    if not isinstance(result, dict):
        return []
    parts = [p for p in result.get("parts") or [] if isinstance(p, dict)]
    by_name: dict[str, dict] = {}
    out = []
    for part in parts:
        section = {"name": str(part.get("name") or ""), "title": str(part.get("title") or part.get("name") or ""),
                   "score": _number(part.get("score")), "max_score": _number(part.get("max_score")),
                   "pending": part.get("status") == "pending", "problems": [], "passed": []}
        by_name[section["name"]] = section
        out.append(section)
    for test in result.get("tests") or []:
        if not isinstance(test, dict):
            continue
        part = str(test.get("part") or "")
        section = by_name.get(part)
        if section is None:
            section = {"name": part, "title": part or "Other tests", "score": None, "max_score": None,
                       "pending": False, "problems": [], "passed": []}
            by_name[part] = section
            out.append(section)
        (section["passed"] if test.get("status") in PASSING else section["problems"]).append(test)
    for section in out:
        section["problems"].sort(key=lambda t: ORDER.get(str(t.get("status")), 3))
    return out
