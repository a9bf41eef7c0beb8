"""The results page: parts as sections with their score, failed tests first, passes folded,
two decimals, hidden tests per the release policy."""

from __future__ import annotations

import re

from web import results
from web_helpers import HIDDEN_MARKER, make_result


def test_sections_put_failures_first_and_fold_passes():
    result = make_result()
    result["tests"].insert(0, {"name": "test_public.py::test_other", "part": "softmax", "status": "pass", "score": 1,
                               "max_score": 1, "message": ""})
    result["tests"].append({"name": "test_x.py::test_orphan", "part": "", "status": "error", "message": "boom"})
    sections = results.sections(result)
    assert [s["title"] for s in sections] == ["Softmax", "Secret", "Other tests"]
    softmax = sections[0]
    assert [t["name"] for t in softmax["problems"]] == ["test_perf.py::test_softmax_speed"]
    assert [t["name"] for t in softmax["passed"]] == ["test_public.py::test_other", "test_public.py::test_shape"]
    assert (softmax["score"], softmax["max_score"]) == (7.5, 10.0)
    assert results.sections(None) == [] and results.sections({"tests": ["junk"]}) == []


def test_results_page_shows_sections_to_a_student(client_for, make_student, make_assignment, make_submission):
    student = make_student()
    result = make_result(score=71.8548, max_score=100)
    result["tests"][1]["message"] = "x" * 1500 + " END-OF-FEEDBACK"
    sub = make_submission(student, make_assignment(), result=result)
    page = client_for(student).get(f"/submissions/{sub.id}").get_data(as_text=True)
    assert "71.85 / 100.00" in page and "71.8548" not in page
    assert re.search(r'id="part-softmax".*?7\.50 / 10\.00', page, re.S)
    softmax = page[page.index('id="part-softmax"'):page.index('id="part-secret"')]
    assert softmax.index("test_softmax_speed") < softmax.index("1 passed") < softmax.index("test_shape")
    assert "END-OF-FEEDBACK" in page, "feedback is shown whole"
    secret = page[page.index('id="part-secret"'):]
    assert "secret: hidden test" in secret and HIDDEN_MARKER not in page
