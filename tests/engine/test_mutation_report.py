"""`dlgrade assign --mutation-report` on the example assignment: which code is mutated and how,
ids that stay put, and (marker `mutation`, about a minute: `make test-mutation`) a deliberately
weakened test reported with its surviving mutant, an equivalent mutant shown apart, and a part
below its required score failing the gate."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from autograder.assign import assign
from autograder.errors import PackageError
from autograder.mutation import OPERATOR_NAMES, generate_mutants
from autograder.mutation_report import EQUIVALENT_FILE, format_markdown, format_text, mutation_report
from autograder.package import load_assignment

from tests.conftest import REPO

# The weakened package's mutants: softmax only, two operators, six mutants, one graded run each.
SCOPE = {"functions": ("softmax",), "operators": ("swap_op", "arg_defaulted")}
GLOBAL_MAX_SHIFT = "x.amax(keepdim=True)"  # softmax(x - c) is softmax(x) for any constant c
MAX_ADDED = "x + x.amax(dim=dim, keepdim=True)"  # only large logits tell it from x - max


def test_every_solution_cell_of_the_example_is_mutated_and_mapped_to_its_part(example_package):
    assignment = load_assignment(example_package)
    mutants, missing = generate_mutants(assignment)
    assert missing == []
    by_function = {m.function: m for m in mutants}
    assert set(by_function) == {"add", "softmax", "rowsum"}
    assert by_function["add"].part == "add" and by_function["softmax"].part == "softmax"
    assert by_function["rowsum"].part is None  # its only part is a perf part
    changes = {(m.operator, m.original, m.mutated) for m in mutants}
    assert ("swap_op", "a + b", "a - b") in changes
    assert ("arg_defaulted", "x.amax(dim=dim, keepdim=True)", GLOBAL_MAX_SHIFT) in changes
    assert {m.operator for m in mutants} <= set(OPERATOR_NAMES)
    add = by_function["add"]
    assert "-    return a + b\n+    return a - b\n" in add.diff and "return a - b" in add.source


def test_ids_stay_when_other_code_changes(example_package):
    before = {m.id: m.mutated for m in generate_mutants(load_assignment(example_package))[0]}
    reference = example_package / "reference" / "__init__.py"
    reference.write_text('"""A longer docstring."""\n\n' + reference.read_text()
                         + "\n\ndef unused(y):\n    return y * 2\n")
    after = {m.id: m.mutated for m in generate_mutants(load_assignment(example_package))[0]}
    assert after == before


def test_only_code_between_the_solution_markers_is_mutated():
    assignment = load_assignment(REPO / "assignments" / "backprop")
    mutants, _ = generate_mutants(assignment, functions=("LayerNormFunction", "DropoutFunction"))
    assert {m.part for m in mutants} == {"layernorm", "dropout"}
    # A region whose END marker follows the method's last statement counts too.
    assert {m.function for m in mutants} == {"LayerNormFunction.forward", "LayerNormFunction.backward",
                                             "DropoutFunction.forward", "DropoutFunction.backward"}
    for mutant in mutants:
        lines = (assignment.reference_dir / mutant.file).read_text().splitlines()
        begin = max(i for i, line in enumerate(lines[:mutant.line], 1) if line.strip().startswith("### "))
        assert lines[begin - 1].strip() == "### BEGIN SOLUTION", mutant.id  # the last marker above it opens a region


def test_the_own_operators_drop_statements_casts_and_shift_bounds(example_package):
    reference = example_package / "reference" / "__init__.py"
    reference.write_text(reference.read_text().replace("def rowsum(x):\n    return x.sum(dim=-1)", (
        "def rowsum(x):\n"
        "    total = x.new_zeros(x.shape[:-1], dtype=torch.float64)\n"
        "    for column in range(x.shape[-1]):\n"
        "        total += x[..., column].double()\n"
        "    total = total.to(torch.float32)\n"
        "    return total[:x.shape[0]]\n")))
    mutants, _ = generate_mutants(load_assignment(example_package), functions=("rowsum",))
    changes = {(m.operator, m.original, m.mutated) for m in mutants}
    assert ("statement_dropped", "total += x[..., column].double()", "pass") in changes
    assert ("cast_removed", "x[..., column].double()", "x[..., column]") in changes
    assert ("cast_removed", "total.to(torch.float32)", "total") in changes
    assert ("statement_dropped", "total = total.to(torch.float32)", "pass") in changes
    assert ("off_by_one", "range(x.shape[-1])", "range(x.shape[-1] - 1)") in changes
    assert ("off_by_one", "x[..., column]", "x[..., column + 1]") in changes
    assert ("off_by_one", "total[:x.shape[0]]", "total[:x.shape[0] - 1]") in changes
    assert ("aug_assign", "total += x[..., column].double()", "total = x[..., column].double()") in changes
    assert ("arg_defaulted", "x.new_zeros(x.shape[:-1], dtype=torch.float64)", "x.new_zeros(x.shape[:-1])") in changes


def test_required_scores_and_cell_parts_are_checked(example_package):
    toml = example_package / "assignment.toml"
    original = toml.read_text()
    toml.write_text(original + '\n[mutation]\nrequired_score = { softmax = 1.0 }\ncell_parts = { rowsum = "add" }\n')
    assignment = load_assignment(example_package)
    assert assignment.mutation.required_score == {"softmax": 1.0}
    assert {m.part for m in generate_mutants(assignment)[0] if m.function == "rowsum"} == {"add"}
    for table, complaint in (("required_score = { softmax = 1.5 }", "not a number from 0 to 1"),
                             ("required_score = { rowsum_perf = 1.0 }", "not a correctness part"),
                             ('cell_parts = { rowsum = "nope" }', "not a correctness part")):
        toml.write_text(original + f"\n[mutation]\n{table}\n")
        with pytest.raises(PackageError, match=complaint):
            load_assignment(example_package)


@pytest.fixture
def weakened_example(example_package) -> Path:
    """The example with its large-logits test removed (the one test that tells x + max from
    x - max), the global-max shift listed as equivalent, softmax required at 100%, and the hand
    mutant only the removed test caught taken out (so the gate's other checks still pass)."""
    hidden = example_package / "tests" / "hidden" / "test_hidden.py"
    text = hidden.read_text()
    start = text.index('@pytest.mark.part("softmax")\n@pytest.mark.weight(2)')
    hidden.write_text(text[:start] + text[text.index('@pytest.mark.part("softmax")\ndef test_softmax_dim0'):])
    (example_package / "mutants" / "no_max_shift.py").unlink()
    with (example_package / "assignment.toml").open("a") as toml:
        toml.write("\n[mutation]\nrequired_score = { softmax = 1.0 }\n")
    mutants, _ = generate_mutants(load_assignment(example_package), **SCOPE)
    shift = next(m for m in mutants if m.mutated == GLOBAL_MAX_SHIFT)
    (example_package / EQUIVALENT_FILE).parent.mkdir()
    (example_package / EQUIVALENT_FILE).write_text(f'"{shift.id}" = "softmax is shift-invariant per row"\n')
    return example_package


@pytest.mark.mutation
def test_a_weak_test_shows_as_a_survivor_and_the_listed_equivalent_apart(weakened_example):
    assignment = load_assignment(weakened_example)
    report = mutation_report(assignment, jobs=2, **SCOPE)
    by_status = {}
    for result in report.results:
        by_status.setdefault(result.status, []).append(result.mutant["mutated"])
    assert len(report.results) == 6, [r.mutant["id"] for r in report.results]
    assert len(by_status["killed"]) == 4
    assert [r.mutant for r in report.results if r.status == "survived"][0]["original"] == (
        "x - x.amax(dim=dim, keepdim=True)")
    assert by_status["survived"] == [MAX_ADDED]
    assert by_status["equivalent"] == [GLOBAL_MAX_SHIFT]
    assert report.parts(assignment)["softmax"] | {"required": None} == {
        "mutants": 6, "killed": 4, "survived": 1, "equivalent": 1, "error": 0, "score": 0.8, "required": None}
    assert any(re.search(r"part softmax: mutation score 80% is below the required 100%", p) for p in report.problems)
    text = format_text(report, assignment)
    survivors, equivalent = text.index("survivors:"), text.index("equivalent, listed in")
    assert survivors < text.index("+    shifted = x + x.amax(dim=dim, keepdim=True)") < equivalent
    assert "why: softmax is shift-invariant per row" in text[equivalent:]
    assert "```diff" in format_markdown(report, assignment)
    again = mutation_report(assignment, jobs=2, **SCOPE)  # every verdict from the cache
    assert all(result.cached for result in again.results)
    assert [(r.mutant["id"], r.status) for r in again.results] == [(r.mutant["id"], r.status) for r in report.results]
    shutil.rmtree(weakened_example / "mutation")  # nothing listed as equivalent: the shift survives too
    toml = weakened_example / "assignment.toml"
    toml.write_text(toml.read_text().replace("softmax = 1.0", "softmax = 0.6"))
    assignment = load_assignment(weakened_example)
    lenient = mutation_report(assignment, jobs=2, **SCOPE)
    assert lenient.parts(assignment)["softmax"]["score"] == pytest.approx(4 / 6) and lenient.problems == []


@pytest.mark.mutation
def test_a_part_below_its_required_mutation_score_fails_the_gate(weakened_example, tmp_path):
    report = assign(weakened_example, out_dir=tmp_path / "out", mutation_report=True, mutation_scope=SCOPE)
    assert not report.passed
    assert all(entry.ok for entry in report.entries), report.format()
    assert [p for p in report.problems if not p.startswith("mutation: ")] == [], report.problems
    assert any("part softmax: mutation score 80% is below the required 100%" in p for p in report.problems)
    assert report.mutation["parts"]["softmax"]["score"] == 0.8
    assert (tmp_path / "out" / "mutation.md").is_file() and "mutation report:" in report.format()


def test_the_cli_passes_the_mutation_options_to_the_gate(monkeypatch, example_package):
    from autograder import assign as assign_module
    from autograder.cli import main

    seen = {}

    def fake_assign(package, **options):
        seen.update(options, package=package)
        return assign_module.GateReport("example", True, [], [])

    monkeypatch.setattr(assign_module, "assign", fake_assign)
    assert main(["assign", str(example_package), "--mutation-report", "--mutate", "softmax", "--jobs", "3"]) == 0
    assert seen["mutation_report"] and seen["mutation_scope"] == {"functions": ("softmax",)} and seen["jobs"] == 3
    assert main(["assign", str(example_package), "--gpu", "1", "--gpu", "0"]) == 0
    assert seen["gpus"] == (1, 0)


def test_the_gradings_of_a_gate_on_gpus_run_on_them_and_cache_per_hardware(monkeypatch, example_package):
    """A GPU worker's gate leases GPUs: every grading it makes (candidates, mutants) must run on
    them, else its perf parts are measured on the host's CPU. Graded for real here without the
    GPU (this machine has none); the GPUs each grading was asked to use are recorded."""
    from autograder import assign as assign_module, config, grading, mutation_report as report_module

    asked = []

    def grade_recording(*args, gpus=(), **kwargs):
        asked.append(tuple(gpus))
        return grading.grade(*args, **kwargs)

    monkeypatch.setattr(assign_module, "grade", grade_recording)
    monkeypatch.setattr(report_module, "grade", grade_recording)
    monkeypatch.setattr(report_module, "detect_hardware", lambda gpus: "NVIDIA H200" if gpus else "cpu (2 cores)")
    reference = example_package / "reference" / "__init__.py"  # a reference digest of this test's own
    reference.write_text(reference.read_text() + f"\n# {example_package.parent.name}\n")
    assignment = load_assignment(example_package)
    entry = assign_module._gate_one(assignment, "reference", "reference", assignment.reference_dir, None,
                                    "process", 1, (3,))
    assert entry.ok and asked == [(3,)]
    scope = {"functions": ("add",), "operators": ("swap_op",)}
    on_gpu = mutation_report(assignment, jobs=1, gpus=(3,), **scope)
    cache_root = Path(config.get("cache_dir")) / "mutation" / "example"
    gpu_folders = [path.name for path in cache_root.iterdir() if path.name.startswith(_reference_digest(assignment))]
    assert on_gpu.results and all(result.status == "killed" for result in on_gpu.results)
    assert set(asked) == {(3,)} and len(asked) == 2 + len(on_gpu.results)  # the reference's run, then each mutant's
    on_cpu = mutation_report(assignment, jobs=1, **scope)  # not the GPU's cached verdicts
    assert not any(result.cached for result in on_cpu.results) and asked[-1] == ()
    folders = [path.name for path in cache_root.iterdir() if path.name.startswith(_reference_digest(assignment))]
    cpu_folders = sorted(set(folders) - set(gpu_folders))
    assert len(gpu_folders) == 1 and len(cpu_folders) == 1 and gpu_folders[0].startswith(cpu_folders[0] + "-")


def _reference_digest(assignment) -> str:
    from autograder.mutation_report import _files_digest

    return _files_digest(assignment.reference_dir)[:16]
