"""Scoring: each test's verdict from the trusted and the student records, the scan and the
crashes, weighted into part and total points, and the flags staff review. Runs outside the
sandbox on plain data."""

from __future__ import annotations

from autograder.cells import CellFeedback
from autograder.compare import TestVerdict, compare_check, perf_verdict
from autograder.package import Assignment
from autograder.records_io import RunRecords
from autograder.result import GradeResult, TestResult
from autograder.scan import ScanResult
from autograder.student_run import StudentRecords, StudentRun


def score(result: GradeResult, assignment: Assignment, trusted: RunRecords, student_run: StudentRun,
          scan: ScanResult, nodeids: list[str], hardware: str, feedback: CellFeedback | None = None) -> None:
    """Fill `result`'s tests, parts, score, flags and message. `feedback` (which cells failed)
    only rewords messages; it never changes a verdict."""
    student, crashes, student_wall = student_run.records, student_run.crashes, student_run.wall_s
    weights: dict[str, float] = {}
    for nodeid in nodeids:
        record = trusted.tests[nodeid]
        weights[record["part"] or ""] = weights.get(record["part"] or "", 0.0) + float(record["weight"])
    tamper_evidence = [f"{scan.where.get(f.line, f'line {f.line}')}: {f.name} ({f.why})" for f in scan.tamper]
    for nodeid in nodeids:
        record = trusted.tests[nodeid]
        part = assignment.part(record["part"] or "")
        if part is None:
            verdict = TestVerdict("error", 0.0, "could not be graded (grader problem)",
                                  f"test has no valid part marker: {record['part']!r}")
            max_score = 0.0
        else:
            max_score = part.points * float(record["weight"]) / weights[part.name] if weights[part.name] else 0.0
            verdict = _judge(nodeid, record, trusted, student, crashes, scan, assignment, hardware, student_wall,
                             feedback, student_run.perf_runs.get(nodeid, 1))
        student_record = student.tests.get(nodeid)
        if student_record and student_record.get("tamper"):
            tamper_evidence += [f"{nodeid}: {name} was replaced at run time" for name in student_record["tamper"]]
        hidden = nodeid.startswith("hidden/")
        result.tests.append(TestResult(
            name=nodeid, part=record["part"] or "", status=verdict.status,
            score=max_score * verdict.fraction, max_score=max_score,
            message=verdict.message, detail=verdict.detail,
            visibility=part.visibility if (part and hidden) else "visible", hidden=hidden, perf=verdict.perf,
        ))
    measured = [test for test in result.tests if test.status != "not-measured"]
    result.score = sum(test.score for test in measured)
    result.max_score = sum(test.max_score for test in measured)
    result.unmeasured_points = round(sum(t.max_score for t in result.tests if t.status == "not-measured"), 4)
    for part in assignment.parts:
        tests = [test for test in measured if test.part == part.name]
        if tests or any(test.part == part.name for test in result.tests):
            result.parts.append({"name": part.name, "title": part.title, "kind": part.kind,
                                 "score": round(sum(t.score for t in tests), 4),
                                 "max_score": round(sum(t.max_score for t in tests), 4),
                                 "visibility": part.visibility})
    forbidden_evidence = sorted({f"{scan.where.get(f.line, f'line {f.line}')}: {f.name}"
                                 for findings in scan.forbidden.values() for f in findings})
    if forbidden_evidence:
        result.flags.append({"kind": "forbidden", "evidence": forbidden_evidence})
    if tamper_evidence:
        result.flags.append({"kind": "tamper", "evidence": sorted(set(tamper_evidence)),
                             "message": "possible tampering with the grader: review by staff"})
    grader_errors = [t.name for t in result.tests if "grader problem" in t.message]
    if grader_errors:
        result.flags.append({"kind": "grader", "evidence": grader_errors})
    passed = sum(1 for test in result.tests if test.status == "pass")
    result.message = f"{passed} of {len(result.tests)} tests passed; {result.score:.2f} / {result.max_score:.2f} points"
    unmeasured = [t for t in result.tests if t.status == "not-measured"]
    if unmeasured:
        result.message += (f" ({result.unmeasured_points:g} points of {len(unmeasured)} performance "
                           f"test{'s' if len(unmeasured) > 1 else ''} not measured: not counted)")


def _judge(nodeid: str, trusted_record: dict, trusted: RunRecords, student: StudentRecords, crashes: dict,
           scan: ScanResult, assignment: Assignment, hardware: str, student_wall: float,
           feedback: CellFeedback | None = None, perf_runs: int = 1) -> TestVerdict:
    if trusted_record["outcome"] == "skipped":
        return TestVerdict("not-measured", 0.0, f"not measured here: {trusted_record['message'] or 'skipped'}")
    if trusted_record["outcome"] != "passed":
        return TestVerdict("error", 0.0, "could not be graded (grader problem); staff have been told",
                           f"the reference run {trusted_record['outcome']}: {trusted_record['message']}")
    part = trusted_record["part"] or ""
    findings = scan.forbidden_for(part)
    if findings:
        rule_reason = findings[0].why  # the scan keeps each finding's rule reason
        places = "; ".join(f"{f.name} ({scan.where.get(f.line, f'line {f.line}')})" for f in findings[:3])
        return TestVerdict("fail", 0.0, f"uses a forbidden call: {places}. {rule_reason}".strip())
    if nodeid in crashes:
        status, message = crashes[nodeid]
        return TestVerdict(status, 0.0, message)
    record = student.tests.get(nodeid)
    if record is None:
        return TestVerdict("error", 0.0, "not run: the grading run ended before this test")
    if record["violations"]:
        calls = sorted({str(v.get("call")) for v in record["violations"]})
        reason = next((rule.reason for rule in assignment.forbidden if set(calls) & set(rule.calls)), "")
        return TestVerdict("fail", 0.0, f"called a forbidden function at run time: {', '.join(calls)}. {reason}".strip())
    if record["outcome"] == "timeout":
        if feedback:
            return TestVerdict("timeout", 0.0, feedback.timeout_message(record, trusted_record["timeout_s"]))
        return TestVerdict("timeout", 0.0, f"ran past its time limit ({trusted_record['timeout_s'] or '?'} s)")
    if record["outcome"] == "skipped":
        return TestVerdict("fail", 0.0, f"was skipped ({record['message'][:200]}); a submission may not skip tests")
    if record["outcome"] != "passed":
        message = (feedback and feedback.failure_message(record)) or _student_failure_message(record["message"])
        return TestVerdict("fail", 0.0, message, record["message"])
    records_for_test = student.for_test(nodeid)
    student_checks = {check["name"]: check for check in record["checks"] if isinstance(check.get("name"), str)}
    perf = None
    failures, details = [], []
    for entry in trusted_record["checks"]:
        if entry.get("kind") == "perf":
            perf = (entry, student_checks.get(entry["name"]))
            continue
        verdict = compare_check(entry, student_checks.get(entry["name"]), trusted, records_for_test, assignment)
        if not verdict.ok:
            failures.append(verdict.message)
            if verdict.detail:
                details.append(f"{entry['name']}: {verdict.detail}")
    if failures:
        return TestVerdict("fail", 0.0, "; ".join(failures[:3]), "; ".join(details[:5]))
    if perf is not None:
        entry, student_entry = perf
        return perf_verdict(entry, student_entry, records_for_test, assignment.perf.get(entry["name"]), hardware,
                            student_wall, perf_runs)
    return TestVerdict("pass", 1.0, "")


def _student_failure_message(message: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else "the test failed"
    return f"failed: {first[:300]}"
