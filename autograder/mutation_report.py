"""`dlgrade assign --mutation-report`: grade every mutant of the reference's solution code
(`autograder/mutation.py`) against the hidden tests and report the ones no test notices.

Each mutant is a copy of the reference package with one file changed, graded in the sandbox
as the gate grades the reference (a package folder, so the reference's own calls between its
functions see the change too), with the gate's seed, so the trusted run is the gate's cached
one. The tests of the part the mutant sits in run first; only when that part keeps every
point do the other correctness parts' tests run: a mutant is killed when any part loses
points, and most die in their own part. Perf parts are not run (timings say nothing here).

Verdicts are cached under `cache_dir/mutation/`, keyed by the reference's digest, the tests'
digest (tests, tolerances, parts), the seed, the harness and the mutant's diff, so a re-run
grades only what changed. Mutants listed in the package's `mutation/equivalent.toml` (mutant
id = "one line on why the behaviour does not change") are graded too and shown apart; one the
tests kill is a stale entry. Score of a part = killed / non-equivalent mutants.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tempfile
import time
import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from autograder import config
from autograder.errors import GradingError, PackageError
from autograder.grading import ENGINE_VERSION, detect_hardware, grade
from autograder.mutation import Mutant, generate_mutants
from autograder.package import Assignment
from autograder.trusted_run import harness_digest

EQUIVALENT_FILE = Path("mutation") / "equivalent.toml"


@dataclasses.dataclass
class MutantResult:
    mutant: dict  # Mutant.to_dict()
    status: str  # killed | survived | equivalent | error
    killed_in: list[str]  # the parts that lost points
    failing: list[str]  # the first failing tests, with their status
    why_equivalent: str | None
    duration_s: float
    cached: bool


@dataclasses.dataclass
class MutationReport:
    slug: str
    seed: int
    results: list[MutantResult]
    problems: list[str]
    restricted: bool  # only some functions or operators were mutated
    duration_s: float = 0.0
    jobs: int = 1

    def parts(self, assignment: Assignment) -> dict[str, dict]:
        """Per part: counts, score and the required score."""
        table = {}
        for part in assignment.parts:
            results = [r for r in self.results if r.mutant["part"] == part.name]
            if part.kind != "correctness":
                continue
            counts = {status: sum(r.status == status for r in results)
                      for status in ("killed", "survived", "equivalent", "error")}
            judged = len(results) - counts["equivalent"]
            table[part.name] = {"mutants": len(results), **counts,
                                "score": counts["killed"] / judged if judged else None,
                                "required": assignment.mutation.required_score.get(part.name)}
        return table

    def to_dict(self, assignment: Assignment) -> dict:
        return {"slug": self.slug, "seed": self.seed, "duration_s": round(self.duration_s, 1), "jobs": self.jobs,
                "restricted": self.restricted, "problems": self.problems, "parts": self.parts(assignment),
                "results": [dataclasses.asdict(result) for result in self.results]}


def mutation_report(assignment: Assignment, *, sandbox: str = "process", seed: int = 1, jobs: int = 2,
                    functions: tuple[str, ...] | None = None, operators: tuple[str, ...] | None = None,
                    log: Callable[[str], None] | None = None, gpus: tuple[int, ...] = ()) -> MutationReport:
    """Generate, grade (cached) and judge every mutant; `problems` holds what fails the gate.
    `gpus`: every mutant's grading runs on them (tests that need CUDA run only there); verdicts
    are cached per hardware."""
    started = time.monotonic()
    mutants, missing = generate_mutants(assignment, functions=functions, operators=operators)
    restricted = functions is not None or operators is not None
    equivalent = read_equivalent(assignment)
    problems = [f"solution cell {name} is defined nowhere in {assignment.reference_dir}" for name in missing]
    unowned = sorted({m.cell for m in mutants if m.part is None})
    if unowned:
        problems.append(f"solution cells {', '.join(unowned)} belong to no correctness part: their mutants are not "
                        "graded. Fix: name the part in assignment.toml, [mutation] cell_parts = {cell = \"part\"}")
    mutants = [m for m in mutants if m.part is not None]
    correctness = tuple(part.name for part in assignment.parts if part.kind == "correctness")
    cache = _cache_dir(assignment, seed, detect_hardware(gpus) if gpus else "cpu")
    grading = GradingSetup(sandbox, seed, tuple(gpus))
    report = MutationReport(assignment.slug, seed, [], problems, restricted, jobs=jobs)
    baseline = _verdict(assignment, None, correctness, grading, cache)  # also fills the trusted cache
    if baseline["status"] != "survived":
        report.problems.append(f"the reference itself does not keep full marks ({baseline['status']}: "
                               f"{'; '.join(baseline['failing'][:3])}): mutation scores would mean nothing")
        report.duration_s = time.monotonic() - started
        return report
    if log:
        log(f"  mutation: {len(mutants)} mutants of {assignment.slug}'s solution code, {jobs} at a time")

    def judge(mutant: Mutant) -> MutantResult:
        verdict = _verdict(assignment, mutant, correctness, grading, cache)
        status = verdict["status"]
        if mutant.id in equivalent and status == "survived":
            status = "equivalent"
        result = MutantResult(mutant.to_dict(), status, verdict["killed_in"], verdict["failing"],
                              equivalent.get(mutant.id), verdict["duration_s"], verdict["cached"])
        if log and not result.cached:
            log(f"  [{status}] {mutant.id} ({result.duration_s:.0f} s)")
        return result

    with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
        report.results = list(pool.map(judge, mutants))
    report.problems += _judgement_problems(report, assignment, equivalent)
    report.duration_s = time.monotonic() - started
    return report


def read_equivalent(assignment: Assignment) -> dict[str, str]:
    """`mutation/equivalent.toml`: mutant id = why it changes no behaviour."""
    path = assignment.root / EQUIVALENT_FILE
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise PackageError(f"{path}: not valid TOML ({error}). Fix: one line per mutant, \"<id>\" = \"<why>\"")
    bad = [key for key, value in data.items() if not isinstance(value, str) or not value.strip()]
    if bad:
        raise PackageError(f"{path}: {', '.join(bad)}: each mutant id needs a one-line reason as a string")
    return data


def _judgement_problems(report: MutationReport, assignment: Assignment, equivalent: dict[str, str]) -> list[str]:
    problems = []
    ids = {r.mutant["id"] for r in report.results}
    for result in report.results:
        mutant_id = result.mutant["id"]
        if mutant_id in equivalent and result.status == "killed":
            problems.append(f"{EQUIVALENT_FILE}: {mutant_id} is listed as equivalent but the tests kill it "
                            f"({', '.join(result.killed_in)}). Fix: remove the line")
        if result.status == "error":
            problems.append(f"mutant {mutant_id} could not be graded: {'; '.join(result.failing)}")
    if not report.restricted:
        problems += [f"{EQUIVALENT_FILE}: {mutant_id}: no such mutant (the code changed?). Fix: remove the line"
                     for mutant_id in sorted(set(equivalent) - ids)]
    for name, row in report.parts(assignment).items():
        if row["required"] is not None and (row["score"] if row["score"] is not None else 1.0) < row["required"]:
            problems.append(f"part {name}: mutation score {row['score']:.0%} is below the required "
                            f"{row['required']:.0%} ({row['survived']} surviving mutants). Fix: add tests that "
                            f"kill them, or list equivalent ones in {EQUIVALENT_FILE} with why")
    return problems


# --- grading one mutant -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class GradingSetup:
    """How every mutant is graded: the sandbox backend, the gate's seed, the GPUs."""

    sandbox: str
    seed: int
    gpus: tuple[int, ...]


def _verdict(assignment: Assignment, mutant: Mutant | None, correctness: tuple[str, ...], grading: GradingSetup,
             cache: Path) -> dict:
    """killed / survived / error for a mutant (None: the unchanged reference), from the cache
    or graded now."""
    key = hashlib.sha256((mutant.id + "\n" + mutant.diff).encode() if mutant else b"baseline").hexdigest()[:24]
    cached = cache / f"{key}.json"
    if cached.is_file():
        return json.loads(cached.read_text()) | {"cached": True}
    started = time.monotonic()
    own = (mutant.part,) if mutant else correctness
    others = tuple(part for part in correctness if part not in own)
    with tempfile.TemporaryDirectory(prefix="dlgrade-mutant-") as folder:
        package = Path(folder) / "package"
        shutil.copytree(assignment.reference_dir, package, ignore=shutil.ignore_patterns("__pycache__"))
        Path(folder).chmod(0o755)  # the sandbox may run as nobody
        if mutant:
            (package / mutant.file).write_text(mutant.source, encoding="utf-8")
        try:
            verdict = _graded(assignment, package, own, grading)
            if verdict["status"] == "survived" and mutant and others:
                verdict = _graded(assignment, package, others, grading)
        except GradingError as error:
            verdict = {"status": "error", "killed_in": [], "failing": [str(error)[:300]]}
    verdict["duration_s"] = round(time.monotonic() - started, 1)
    if verdict["status"] != "error":
        cache.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        partial.write_text(json.dumps(verdict))
        partial.replace(cached)
    return verdict | {"cached": False}


def _graded(assignment: Assignment, package: Path, parts: tuple[str, ...], grading: GradingSetup) -> dict:
    result = grade(assignment.root, package, sandbox=grading.sandbox, seed=grading.seed, only_parts=parts,
                   gpus=grading.gpus).to_dict()
    if result["status"] != "graded":
        return {"status": "error", "killed_in": [], "failing": [f"{result['status']}: {result['message']}"]}
    lost = [p["name"] for p in result["parts"] if p["name"] in parts and p["score"] < p["max_score"] - 1e-9]
    failing = [f"{t['name']}: {t['status']}" for t in result["tests"] if t["status"] not in ("pass", "not-measured")]
    return {"status": "killed" if lost else "survived", "killed_in": lost, "failing": failing[:3]}


def _cache_dir(assignment: Assignment, seed: int, hardware: str) -> Path:
    reference = _files_digest(assignment.reference_dir)
    scoring = json.dumps({"parts": [dataclasses.asdict(part) for part in assignment.parts],
                          "tolerances": assignment.tolerances, "resources": dataclasses.asdict(assignment.resources),
                          "forbidden": [dataclasses.asdict(rule) for rule in assignment.forbidden]}, sort_keys=True)
    tests = hashlib.sha256(_files_digest(assignment.tests_dir).encode() + scoring.encode()).hexdigest()
    engine = hashlib.sha256((ENGINE_VERSION + harness_digest()).encode()).hexdigest()
    where = "" if hardware == "cpu" else "-" + hashlib.sha256(hardware.encode()).hexdigest()[:8]  # CPU: as before
    return (Path(config.get("cache_dir")) / "mutation" / assignment.slug
            / f"{reference[:16]}-{tests[:16]}-s{seed}-{engine[:8]}{where}")


def _files_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


# --- the report as text and markdown ----------------------------------------------------------

def write_report(report: MutationReport, assignment: Assignment, out_dir: Path) -> list[Path]:
    """mutation.json, mutation.txt and mutation.md (for the assignment folder) in `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "mutation.json", out_dir / "mutation.txt", out_dir / "mutation.md"]
    paths[0].write_text(json.dumps(report.to_dict(assignment), indent=1) + "\n", encoding="utf-8")
    paths[1].write_text(format_text(report, assignment) + "\n", encoding="utf-8")
    paths[2].write_text(format_markdown(report, assignment) + "\n", encoding="utf-8")
    return paths


def _header(report: MutationReport) -> str:
    cached = sum(r.cached for r in report.results)
    scope = " (restricted to some functions or operators)" if report.restricted else ""
    return (f"{len(report.results)} mutants{scope} graded in {report.duration_s:.0f} s, {report.jobs} at a time, "
            f"{cached} verdicts from the cache")


def _score(row: dict) -> str:
    return "-" if row["score"] is None else f"{row['score']:.0%}"


def _by_part(report: MutationReport, status: str) -> list[MutantResult]:
    return sorted((r for r in report.results if r.status == status),
                  key=lambda r: (r.mutant["part"], r.mutant["file"], r.mutant["line"]))


def format_text(report: MutationReport, assignment: Assignment) -> str:
    lines = [f"mutation report for {report.slug}: {_header(report)}",
             f"  {'part':<20} {'mutants':>7} {'killed':>7} {'survived':>8} {'equivalent':>10} {'error':>5} "
             f"{'score':>6} {'required':>8}"]
    for name, row in report.parts(assignment).items():
        required = "-" if row["required"] is None else f"{row['required']:.0%}"
        lines.append(f"  {name:<20} {row['mutants']:>7} {row['killed']:>7} {row['survived']:>8} "
                     f"{row['equivalent']:>10} {row['error']:>5} {_score(row):>6} {required:>8}")
    for title, status in (("survivors: no test notices these changes", "survived"),
                          (f"equivalent, listed in {EQUIVALENT_FILE}", "equivalent")):
        results = _by_part(report, status)
        if results:
            lines.append(f"{title} ({len(results)}):")
        for result in results:
            mutant = result.mutant
            lines.append(f"  [{mutant['part']}] {mutant['id']} line {mutant['line']}: {mutant['original']}  ->  "
                         f"{mutant['mutated']}")
            if result.why_equivalent:
                lines.append(f"      why: {result.why_equivalent}")
            else:
                lines += ["      " + line for line in mutant["diff"].splitlines()]
    elsewhere = [r for r in _by_part(report, "killed") if r.mutant["part"] not in r.killed_in]
    if elsewhere:
        lines.append(f"killed only by another part's tests ({len(elsewhere)}):")
        lines += [f"  [{r.mutant['part']}] {r.mutant['id']}: by {', '.join(r.killed_in)}" for r in elsewhere]
    lines += [f"  problem: {problem}" for problem in report.problems]
    return "\n".join(lines)


def format_markdown(report: MutationReport, assignment: Assignment) -> str:
    lines = [f"## Mutation report ({report.slug})", "", _header(report) + ".", "",
             "| part | mutants | killed | survived | equivalent | error | score | required |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, row in report.parts(assignment).items():
        required = "-" if row["required"] is None else f"{row['required']:.0%}"
        lines.append(f"| {name} | {row['mutants']} | {row['killed']} | {row['survived']} | {row['equivalent']} | "
                     f"{row['error']} | {_score(row)} | {required} |")
    survivors = _by_part(report, "survived")
    if survivors:
        lines += ["", "### Survivors", ""]
        for result in survivors:
            lines += [f"- `{result.mutant['id']}` ({result.mutant['part']}, line {result.mutant['line']})", "",
                      "```diff", result.mutant["diff"].rstrip("\n"), "```", ""]
    equivalent = _by_part(report, "equivalent")
    if equivalent:
        lines += ["", f"### Equivalent (`{EQUIVALENT_FILE}`)", "", "| mutant | part | change | why |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| `{r.mutant['id']}` | {r.mutant['part']} | `{_cell(r.mutant['original'])}` → "
                  f"`{_cell(r.mutant['mutated'])}` | {_cell(r.why_equivalent)} |" for r in equivalent]
    if report.problems:
        lines += ["", "### Problems", ""] + [f"- {problem}" for problem in report.problems]
    return "\n".join(lines)


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|")
