"""`dlgrade assign`: validate a package, build its release and grader bundle, and gate it.

The release is built here, once, with nbgrader's preprocessors (`autograder/release.py`); the
portal serves the archive this gate built and checked. The gate refuses a package unless the
notebook is one nbgrader accepts, the release leaks nothing, and the tests are strong:
- the reference package gets every measured point, and so does the filled source notebook;
- the cleared starter notebook gets zero on every correctness part;
- every mutant loses points on the part it says it breaks;
- no check records a bool that cannot tell: one the trusted run records and that the cleared
  starter and every mutant that reach it record with the same value (`blind_bool_checks`).
"""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from autograder.bundle import write_bundle
from autograder.errors import GradingError, PackageError
from autograder.grading import grade
from autograder.notebook import source_cells
from autograder.notebook_build import build_file, build_notebook
from autograder.package import Assignment, load_assignment
from autograder.records_io import RunRecords
from autograder.release import NotebookRefused, Release, build_release, find_leaks, write_release

MUTANT_HEADER = re.compile(r"^#\s*mutant:\s*part=(?P<part>[\w-]+)\s*$", re.MULTILINE)
MISTAKE_HEADER = re.compile(r"^#\s*mistake:\s*(?P<mistake>.+)$", re.MULTILINE)


# Every gate grades with this seed, so its trusted runs are cached once and tests that grade
# the same package share them.
GATE_SEED = 1

@dataclasses.dataclass
class GateEntry:
    name: str
    kind: str  # reference | notebook | starter | mutant
    expectation: str
    ok: bool
    score: float
    max_score: float
    message: str
    duration_s: float
    part: str | None = None


@dataclasses.dataclass
class GateReport:
    slug: str
    passed: bool
    problems: list[str]
    entries: list[GateEntry]
    bundle_path: Path | None = None
    bundle_digest: str | None = None
    release_path: Path | None = None
    release_digest: str | None = None  # sha256 of the release archive students download
    assignment: dict | None = None  # Assignment.portal_metadata() plus the solution cell ids
    out_dir: Path | None = None
    duration_s: float = 0.0
    perf_only: bool = False  # graded only what the hardware adds (see `assign`)
    mutation: dict | None = None  # the mutation report's parts and files (--mutation-report)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["bundle_path"] = str(self.bundle_path) if self.bundle_path else None
        data["release_path"] = str(self.release_path) if self.release_path else None
        data["out_dir"] = str(self.out_dir) if self.out_dir else None
        return data

    def format(self) -> str:
        scope = " (perf parts only: correctness gated earlier)" if self.perf_only else ""
        lines = [f"gate for {self.slug}{scope}: {'PASSED' if self.passed else 'FAILED'} in {self.duration_s:.0f} s"]
        for problem in self.problems:
            lines.append(f"  problem: {problem}")
        for entry in self.entries:
            mark = "ok " if entry.ok else "BAD"
            lines.append(f"  [{mark}] {entry.kind:<9} {entry.name:<34} {entry.score:6.2f}/{entry.max_score:<6.2f} "
                         f"{entry.expectation}; {entry.message} ({entry.duration_s:.0f} s)")
        if self.bundle_digest:
            lines.append(f"  bundle: {self.bundle_path} (sha256 {self.bundle_digest})")
            lines.append(f"  release: {self.release_path} (sha256 {self.release_digest})")
        if self.mutation:
            lines.append(f"  mutation report: {self.mutation['files'][1]}")
        if self.out_dir:
            lines.append(f"  output: {self.out_dir}")
        return "\n".join(lines)


def validate_package(assignment: Assignment) -> list[str]:
    """Problems a gate run need not even start for."""
    problems = []
    if not assignment.notebook_path.is_file():
        return [f"{assignment.notebook_path}: missing. Fix: add the instructor notebook source.ipynb"]
    notebook = json.loads(assignment.notebook_path.read_text(encoding="utf-8"))
    cells = source_cells(notebook)
    ids = [cell.grade_id for cell in cells]
    if not any(cell.kind == "solution" for cell in cells):
        problems.append(f"{assignment.notebook_path}: no solution cells (nbgrader metadata solution: true)")
    if None in ids or len(set(ids)) != len(ids):
        problems.append(f"{assignment.notebook_path}: every solution and provided cell needs its own grade_id")
    source_py = assignment.root / "notebook.py"
    if source_py.is_file():
        built = nbformat.writes(build_notebook(source_py.read_text(encoding="utf-8"), assignment.slug,
                                               base=source_py.parent))
        if json.loads(built) != notebook:
            problems.append(f"{assignment.notebook_path}: differs from notebook.py. Fix: python -m "
                            f"autograder.notebook_build {source_py} {assignment.notebook_path} {assignment.slug}")
    for kind in ("public", "hidden"):
        if not list((assignment.tests_dir / kind).glob("test_*.py")):
            problems.append(f"{assignment.tests_dir / kind}: no test_*.py files")
    mutants = sorted(assignment.mutants_dir.glob("*.py"))
    minimum = assignment.minimum_mutants
    if len(mutants) < minimum:
        problems.append(f"{assignment.mutants_dir}: {len(mutants)} mutants, at least {minimum} needed")
    covered = set()
    for mutant in mutants:
        header = MUTANT_HEADER.search(mutant.read_text(encoding="utf-8"))
        if header is None or assignment.part(header["part"]) is None:
            problems.append(f"{mutant}: needs a first line '# mutant: part=<one of "
                            f"{', '.join(p.name for p in assignment.parts)}>'")
        elif not MISTAKE_HEADER.search(mutant.read_text(encoding="utf-8")):
            problems.append(f"{mutant}: needs a line '# mistake: <what it gets wrong>'")
        else:
            covered.add(header["part"])
    for part in assignment.parts:
        if part.kind == "correctness" and part.name not in covered:
            problems.append(f"part {part.name!r} has no mutant. Fix: add mutants/<name>.py with '# mutant: "
                            f"part={part.name}'")
    return problems


def refresh_source_notebook(package_dir: Path) -> Path | None:
    """Build `source.ipynb` from `notebook.py` when it is missing or older; the path when built."""
    source_py, notebook = Path(package_dir) / "notebook.py", Path(package_dir) / "source.ipynb"
    if not source_py.is_file() or (notebook.is_file() and notebook.stat().st_mtime >= source_py.stat().st_mtime):
        return None
    build_file(source_py, notebook, load_assignment(Path(package_dir)).slug)
    return notebook


def check_release(assignment: Assignment) -> tuple[Release | None, list[str]]:
    """The release nbgrader builds from the instructor notebook, and what is wrong with it."""
    try:
        release = build_release(assignment)
    except NotebookRefused as error:
        return None, [str(error)]
    return release, find_leaks(assignment.notebook_path, release.archive)


def assign(package_dir: Path, *, out_dir: Path | None = None, sandbox: str = "process", seed: int | None = None,
           jobs: int = 2, perf_only: bool = False, log: Callable[[str], None] | None = None,
           mutation_report: bool = False, mutation_scope: dict | None = None,
           gpus: tuple[int, ...] = ()) -> GateReport:
    """Gate a package. Output (bundle, release) goes to `out_dir`, by default a new temporary
    folder, so a gate run never writes into the checkout (but for a stale `source.ipynb`, which
    it rebuilds from `notebook.py`).

    `perf_only`: the package's correctness gate already passed elsewhere (a GPU package's early
    gate on a CPU worker), so this run grades only what the hardware here adds: the reference
    and the filled notebook get every point, and every mutant of a perf part loses points.
    `mutation_report` also grades the automatic mutants of the reference
    (`autograder/mutation_report.py`, `mutation_scope` its `functions`/`operators`) and fails the
    gate on a part below its required mutation score. `gpus`: the GPUs every grading of the
    gate runs on (a GPU worker's leased ones); without them the runs see no GPU and perf parts
    are measured against the `cpu` specs, if any."""
    started = time.monotonic()
    try:
        rebuilt = refresh_source_notebook(Path(package_dir))
        assignment = load_assignment(Path(package_dir))
    except (PackageError, ValueError) as error:
        return GateReport(Path(package_dir).name, False, [str(error)], [], duration_s=time.monotonic() - started)
    if rebuilt and log:
        log(f"  rebuilt {rebuilt} from notebook.py")
    report = GateReport(assignment.slug, False, validate_package(assignment), [], perf_only=perf_only)
    release = None
    if not report.problems:
        release, problems = check_release(assignment)
        report.problems += problems
    if report.problems:
        report.duration_s = time.monotonic() - started
        return report
    out_dir = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix=f"dlgrade-assign-{assignment.slug}-"))
    report.out_dir = out_dir
    report.bundle_path, report.bundle_digest = write_bundle(assignment, out_dir)
    report.release_path = write_release(release, assignment.slug, out_dir)
    report.release_digest = release.digest
    report.assignment = assignment.portal_metadata() | {"solution_ids": list(release.solution_ids)}
    seed = GATE_SEED if seed is None else seed

    with tempfile.TemporaryDirectory(prefix="dlgrade-gate-") as work_dir:
        starter = Path(work_dir) / "starter.ipynb"
        starter.write_text(release.notebook_text, encoding="utf-8")
        candidates = [("reference", "reference", assignment.reference_dir, None),
                      ("notebook", "source.ipynb", assignment.notebook_path, None),
                      ("starter", "starter (cleared)", starter, None)]
        for mutant in sorted(assignment.mutants_dir.glob("*.py")):
            candidates.append(("mutant", mutant.stem, mutant, MUTANT_HEADER.search(mutant.read_text())["part"]))
        if perf_only:
            candidates = [c for c in candidates if c[0] in ("reference", "notebook")
                          or (c[0] == "mutant" and assignment.part(c[3]).kind == "perf")]

        bools: dict[str, dict[str, bool]] = {}  # "trusted", or a starter's or mutant's name -> its bools

        def run(candidate) -> GateEntry:
            kind, name, path, part = candidate

            def keep_bools(trusted: RunRecords, student: RunRecords) -> None:
                bools.setdefault("trusted", bool_records(trusted))
                if kind in ("starter", "mutant"):
                    bools[name] = bool_records(student)

            entry = _gate_one(assignment, kind, name, path, part, sandbox, seed, gpus, keep_bools)
            if log:
                log(f"  [{'ok ' if entry.ok else 'BAD'}] {kind} {name}: {entry.message} ({entry.duration_s:.0f} s)")
            return entry

        try:
            report.entries.append(run(candidates[0]))  # fills the trusted cache for the rest
            with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
                report.entries += list(pool.map(run, candidates[1:]))
        except GradingError as error:
            report.problems.append(f"grading failed: {error}")
        else:
            if not perf_only:  # blind bools are a correctness matter, checked by the full gate
                others = [bools.get(name, {}) for kind, name, _, _ in candidates if kind in ("starter", "mutant")]
                report.problems += blind_bool_checks(bools.get("trusted", {}), others)
    if mutation_report and not any(problem.startswith("grading failed") for problem in report.problems):
        _add_mutation_report(report, assignment, sandbox, seed, jobs, log, mutation_scope or {}, gpus)
    report.passed = not report.problems and all(entry.ok for entry in report.entries)
    report.duration_s = time.monotonic() - started
    return report


def _add_mutation_report(report: GateReport, assignment: Assignment, sandbox: str, seed: int, jobs: int,
                         log: Callable[[str], None] | None, scope: dict, gpus: tuple[int, ...]) -> None:
    from autograder.mutation_report import mutation_report, write_report

    mutation = mutation_report(assignment, sandbox=sandbox, seed=seed, jobs=jobs, log=log, gpus=gpus, **scope)
    files = write_report(mutation, assignment, report.out_dir)
    report.mutation = {"parts": mutation.parts(assignment), "files": [str(path) for path in files]}
    report.problems += [f"mutation: {problem}" for problem in mutation.problems]


def bool_records(records: RunRecords) -> dict[str, bool]:
    """Every bool a run recorded, by `test::check name` (with `[i]` / `[key]` for one inside a
    list or dict): the values `blind_bool_checks` compares."""
    found: dict[str, bool] = {}

    def walk(encoded, path: str) -> None:
        if not isinstance(encoded, dict):
            return
        if encoded.get("type") == "bool":
            found[path] = bool(encoded.get("value"))
        elif encoded.get("type") == "list" and isinstance(encoded.get("items"), list):
            for index, item in enumerate(encoded["items"]):
                walk(item, f"{path}[{index}]")
        elif encoded.get("type") == "dict" and isinstance(encoded.get("items"), dict):
            for key, item in encoded["items"].items():
                walk(item, f"{path}[{key}]")

    for nodeid, record in records.tests.items():
        for check in record.get("checks", []):
            if isinstance(check, dict) and isinstance(check.get("name"), str):
                walk(check.get("value"), f"{nodeid}::{check['name']}")
    return found


def blind_bool_checks(trusted: dict[str, bool], others: list[dict[str, bool]]) -> list[str]:
    """Problems for the bools of the trusted run that no wrong solution records differently.

    A run that never reached the check (its test failed first) says nothing about it; a bool
    that every run reaching it records with the trusted value, or that no run reaches, cannot
    fail on its own: its test passes or fails for other reasons."""
    problems = []
    for path, value in sorted(trusted.items()):
        if not any(path in recorded and recorded[path] != value for recorded in others):
            problems.append(f"{path}: records the bool {value} and neither the cleared starter nor any mutant "
                            f"records anything else, so it cannot tell a wrong solution from a right one. Fix: "
                            f"record the values the bool is computed from, or add a mutant it catches")
    return problems


def _gate_one(assignment: Assignment, kind: str, name: str, path: Path, part: str | None, sandbox: str,
              seed: int, gpus: tuple[int, ...] = (),
              on_records: Callable[[RunRecords, RunRecords], None] | None = None) -> GateEntry:
    started = time.monotonic()
    only_parts = None
    if kind == "mutant":
        only_parts = (part,)
    result = grade(assignment.root, path, sandbox=sandbox, seed=seed, only_parts=only_parts,
                   with_reference_solution=kind == "mutant", on_records=on_records, gpus=gpus).to_dict()
    duration = time.monotonic() - started
    if result["status"] != "graded":
        return GateEntry(name, kind, "graded", False, 0, 0, f"{result['status']}: {result['message']}", duration, part)
    score, max_score = result["score"], result["max_score"]
    failing = [f"{t['name']}: {t['status']} {t['message'][:160]}" for t in result["tests"]
               if t["status"] not in ("pass", "not-measured")]
    if kind in ("reference", "notebook"):
        ok = score >= max_score - 1e-9 and not failing
        message = "full marks" if ok else f"lost points: {'; '.join(failing[:3])}"
        return GateEntry(name, kind, "full marks", ok, score, max_score, message, duration)
    if kind == "starter":
        scored = [p for p in result["parts"] if p["kind"] == "correctness" and p["score"] > 0]
        ok = not scored
        message = "zero on correctness" if ok else "scores on " + ", ".join(f"{p['name']} {p['score']:.2f}" for p in scored)
        return GateEntry(name, kind, "zero on correctness", ok, score, max_score, message, duration)
    part_score = next((p for p in result["parts"] if p["name"] == part), None)
    if part_score is None or part_score["max_score"] == 0:
        return GateEntry(name, kind, f"loses points on {part}", True, score, max_score,
                         f"part {part} not measured on this hardware; not gated here", duration, part)
    ok = part_score["score"] < part_score["max_score"] - 1e-9
    message = (f"{part} {part_score['score']:.2f}/{part_score['max_score']:.2f}" if ok
               else f"keeps full marks on {part}: the tests do not catch this mistake")
    return GateEntry(name, kind, f"loses points on {part}", ok, score, max_score, message, duration, part)
