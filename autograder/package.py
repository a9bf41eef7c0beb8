"""Assignment packages: `assignment.toml`, its schema, and where the package's files are.

Every key of `assignment.toml` is declared once below (`Field`), with its type, default and a
line of help. A wrong key or value fails with a `PackageError` naming the file, the key and
the fix; `dlgrade assign` shows it to staff.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from pathlib import Path
from typing import Any

from autograder.errors import PackageError
from autograder.worker.queues import queue_for_gpus

SCHEMA_VERSION = 1
VISIBILITIES = ("visible", "after_deadline", "hidden")
PART_KINDS = ("correctness", "perf")


@dataclasses.dataclass(frozen=True)
class Field:
    type: type | tuple[type, ...]
    default: Any
    help: str
    choices: tuple | None = None
    minimum: float | None = None
    required: bool = False


TOP_FIELDS = {
    "schema": Field(int, SCHEMA_VERSION, "schema version of this file; 1"),
    "slug": Field(str, None, "short name, the folder name: lowercase letters, digits and _", required=True),
    "title": Field(str, None, "title shown to students", required=True),
    "summary": Field(str, "", "one paragraph shown on the assignment page"),
    "reference": Field(str, None, "folder of the reference package, relative to this file "
                                  "(default: reference/ inside the package, else ../../reference/<slug>)"),
    "resources": Field(dict, {}, "table: [resources]"),
    "limits": Field(dict, {}, "table: [limits]"),
    "tolerances": Field(dict, {}, "table: [tolerances], dtype name = { rtol, atol }"),
    "parts": Field(list, None, "array of tables: [[parts]]", required=True),
    "perf": Field(list, [], "array of tables: [[perf]]"),
    "forbidden": Field(list, [], "array of tables: [[forbidden]]"),
    "mutant_gate": Field(dict, {}, "table: [mutant_gate]"),
    "mutation": Field(dict, {}, "table: [mutation], for `dlgrade assign --mutation-report`"),
}

RESOURCE_FIELDS = {
    "gpus": Field(int, 0, "GPUs a run needs: 0 → queue cpu, 1 → gpu, N → gpu-N", minimum=0),
    "memory_mb": Field(int, 4096, "memory of one sandbox run, MiB", minimum=256),
    "cpus": Field((int, float), 2, "CPU cores of one sandbox run", minimum=0.25),
    "run_timeout_s": Field((int, float), 600, "wall time of the whole student run, seconds", minimum=1),
    "test_timeout_s": Field((int, float), 60, "default wall time of one test, seconds", minimum=0.1),
    "triton_interpret_on_cpu": Field(bool, False, "set TRITON_INTERPRET=1 when the run has no GPU"),
    "processes": Field(int, 512, "processes and threads one run may start", minimum=16),
}

LIMIT_FIELDS = {
    "max_upload_mb": Field((int, float), 10, "uploads larger than this are rejected, MiB", minimum=0.01),
    "max_output_mb": Field((int, float), 64, "records one run may write, MiB", minimum=1),
}

PART_FIELDS = {
    "name": Field(str, None, "the name tests use in @pytest.mark.part(...)", required=True),
    "title": Field(str, "", "shown to students"),
    "points": Field((int, float), None, "points of this part", minimum=0, required=True),
    "kind": Field(str, "correctness", "correctness or perf", choices=PART_KINDS),
    "visibility": Field(str, "visible", "when students see hidden-test details", choices=VISIBILITIES),
    "timeout_s": Field((int, float), None, "per-test time limit for this part's tests", minimum=0.1),
}

PERF_FIELDS = {
    "name": Field(str, None, "the name a test passes to check.perf(...)", required=True),
    "part": Field(str, None, "the perf part it scores in", required=True),
    "hardware": Field(str, None, "scored only where the run's hardware name contains this ('cpu' for CPU runs)",
                      required=True),
    "full_credit_ratio": Field((int, float), None, "speedup vs baseline that earns full credit", minimum=0,
                               required=True),
    "zero_credit_ratio": Field((int, float), 0.0, "speedup at or below which credit is zero", minimum=0),
    "max_spread": Field((int, float), 0.2, "spread (IQR/median) above which a measurement is noisy", minimum=0),
    "unit": Field(str, "seconds", "what student_s/baseline_s measure: seconds (lower is better) or bytes "
                                  "(peak memory, lower is better)", choices=("seconds", "bytes")),
}

FORBIDDEN_FIELDS = {
    "calls": Field(list, None, "dotted names, e.g. 'torch.softmax', 'torch.Tensor.softmax', 'torch.func.*'",
                   required=True),
    "parts": Field(list, [], "parts whose tests score zero when the call is used; empty: every part"),
    "reason": Field(str, "", "shown to the student with the offending call"),
}

MUTANT_GATE_FIELDS = {
    "minimum_mutants": Field(int, 6, "the gate fails with fewer mutants than this", minimum=0),
}

MUTATION_FIELDS = {
    "required_score": Field(dict, {}, "table: part name = the least mutation score, 0 to 1, that "
                                      "`dlgrade assign --mutation-report` accepts for that correctness part (killed / "
                                      "non-equivalent mutants of the solution code its tests grade)"),
    "cell_parts": Field(dict, {}, "table: solution cell grade_id = the part whose tests grade the cell's code, "
                                  "for a cell not named like its part"),
}

TOLERANCE_FIELDS = {
    "rtol": Field((int, float), None, "relative tolerance", minimum=0),
    "atol": Field((int, float), None, "absolute tolerance", minimum=0),
}

DEFAULT_TOLERANCES = {  # torch.testing.assert_close's defaults
    "float64": (1e-7, 1e-7),
    "float32": (1.3e-6, 1e-5),
    "float16": (1e-3, 1e-5),
    "bfloat16": (1.6e-2, 1e-5),
    "float": (1e-7, 1e-7),  # Python floats
}


@dataclasses.dataclass(frozen=True)
class Part:
    name: str
    title: str
    points: float
    kind: str
    visibility: str
    timeout_s: float | None


@dataclasses.dataclass(frozen=True)
class PerfSpec:
    name: str
    part: str
    hardware: str
    full_credit_ratio: float
    zero_credit_ratio: float
    max_spread: float
    unit: str

    def credit(self, speedup: float) -> float:
        """Fraction of the test's points for a speedup: linear between the two ratios."""
        if speedup >= self.full_credit_ratio:
            return 1.0
        if speedup <= self.zero_credit_ratio:
            return 0.0
        return (speedup - self.zero_credit_ratio) / (self.full_credit_ratio - self.zero_credit_ratio)


@dataclasses.dataclass(frozen=True)
class ForbiddenRule:
    calls: tuple[str, ...]
    parts: tuple[str, ...]
    reason: str


@dataclasses.dataclass(frozen=True)
class Resources:
    gpus: int
    memory_mb: int
    cpus: float
    run_timeout_s: float
    test_timeout_s: float
    triton_interpret_on_cpu: bool
    processes: int


@dataclasses.dataclass(frozen=True)
class MutationSettings:
    required_score: dict[str, float] = dataclasses.field(default_factory=dict)  # part -> least score
    cell_parts: dict[str, str] = dataclasses.field(default_factory=dict)  # solution cell -> part


@dataclasses.dataclass(frozen=True)
class Assignment:
    root: Path
    slug: str
    title: str
    summary: str
    reference_dir: Path
    resources: Resources
    max_upload_bytes: int
    max_output_bytes: int
    tolerances: dict[str, tuple[float, float]]
    parts: tuple[Part, ...]
    perf: dict[str, PerfSpec]
    forbidden: tuple[ForbiddenRule, ...]
    minimum_mutants: int
    mutation: MutationSettings = dataclasses.field(default_factory=MutationSettings)

    @property
    def notebook_path(self) -> Path:
        return self.root / "source.ipynb"

    @property
    def tests_dir(self) -> Path:
        return self.root / "tests"

    @property
    def mutants_dir(self) -> Path:
        return self.root / "mutants"

    def part(self, name: str) -> Part | None:
        return next((part for part in self.parts if part.name == name), None)

    def portal_metadata(self) -> dict:
        """What the portal stores from a gate report: the parsed package, no tests, no reference."""
        return {
            "slug": self.slug,
            "title": self.title,
            "summary": self.summary,
            "parts": [dataclasses.asdict(part) for part in self.parts],
            "points": sum(part.points for part in self.parts),
            "resources": dataclasses.asdict(self.resources),
            "queue": queue_for_gpus(self.resources.gpus),  # the one queue rule (worker/queues.py)
            "limits": {"max_upload_mb": self.max_upload_bytes / 2**20, "max_output_mb": self.max_output_bytes / 2**20},
        }

    def run_config(self) -> dict:
        """What the in-sandbox harness needs: time limits and forbidden calls. No points, no
        expected values."""
        return {
            "default_timeout_s": self.resources.test_timeout_s,
            "parts": {part.name: {"timeout_s": part.timeout_s} for part in self.parts if part.timeout_s},
            "forbidden": [{"calls": list(rule.calls), "parts": list(rule.parts)} for rule in self.forbidden],
        }


class _Reader:
    """Checks one table against its `Field`s, with messages that name file and key."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, problem: str, fix: str) -> PackageError:
        return PackageError(f"{self.path}: {key}: {problem}. Fix: {fix}")

    def table(self, data: dict, fields: dict[str, Field], where: str) -> dict:
        if not isinstance(data, dict):
            raise self.fail(where, f"expected a table, got {type(data).__name__}", f"write it as [{where}]")
        for key in data:
            if key not in fields:
                close = difflib.get_close_matches(key, fields, n=1)
                fix = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(fields)}"
                raise self.fail(f"{where}.{key}".lstrip("."), "unknown key", fix)
        values = {}
        for key, field in fields.items():
            name = f"{where}.{key}".lstrip(".")
            if key not in data:
                if field.required:
                    raise self.fail(name, "missing", f"add {key} = ... ({field.help})")
                values[key] = field.default
                continue
            value = data[key]
            if isinstance(value, bool) and field.type is not bool and bool not in _as_tuple(field.type):
                raise self.fail(name, f"expected {_type_name(field.type)}, got a boolean", field.help)
            if not isinstance(value, field.type):
                raise self.fail(name, f"expected {_type_name(field.type)}, got {type(value).__name__} {value!r}",
                                field.help)
            if field.choices and value not in field.choices:
                raise self.fail(name, f"{value!r} is not allowed", f"use one of {', '.join(field.choices)}")
            if field.minimum is not None and value < field.minimum:
                raise self.fail(name, f"{value!r} is below the minimum {field.minimum}", field.help)
            values[key] = value
        return values


def _as_tuple(kind) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def _type_name(kind) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false", list: "an array",
             dict: "a table"}
    return " or ".join(names.get(one, one.__name__) for one in _as_tuple(kind))


def load_assignment(root: Path) -> Assignment:
    """Load and validate `root/assignment.toml`. `root` is a package folder in the repository
    or an unpacked grader bundle."""
    root = Path(root).resolve()
    path = root / "assignment.toml"
    if not path.is_file():
        raise PackageError(f"{path}: not found. Fix: an assignment package needs an assignment.toml")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise PackageError(f"{path}: not valid TOML ({error}). Fix: correct the syntax at that line") from error
    reader = _Reader(path)
    top = reader.table(data, TOP_FIELDS, "")
    if top["schema"] != SCHEMA_VERSION:
        raise reader.fail("schema", f"version {top['schema']} is not supported", f"use schema = {SCHEMA_VERSION}")
    slug = top["slug"]
    if not slug.replace("_", "").isalnum() or slug.lower() != slug:
        raise reader.fail("slug", f"{slug!r} is not a valid slug", "use lowercase letters, digits and _")

    resources = Resources(**reader.table(top["resources"], RESOURCE_FIELDS, "resources"))
    limits = reader.table(top["limits"], LIMIT_FIELDS, "limits")
    tolerances = dict(DEFAULT_TOLERANCES)
    for dtype, entry in top["tolerances"].items():
        if dtype not in DEFAULT_TOLERANCES:
            raise reader.fail(f"tolerances.{dtype}", "unknown dtype", f"use one of {', '.join(DEFAULT_TOLERANCES)}")
        values = reader.table(entry, TOLERANCE_FIELDS, f"tolerances.{dtype}")
        default_rtol, default_atol = DEFAULT_TOLERANCES[dtype]
        tolerances[dtype] = (
            default_rtol if values["rtol"] is None else float(values["rtol"]),
            default_atol if values["atol"] is None else float(values["atol"]),
        )

    parts = []
    for index, entry in enumerate(top["parts"]):
        values = reader.table(entry, PART_FIELDS, f"parts[{index}]")
        parts.append(Part(**values))
    if not parts:
        raise reader.fail("parts", "no parts", "add at least one [[parts]] table")
    names = [part.name for part in parts]
    duplicate = next((name for name in names if names.count(name) > 1), None)
    if duplicate:
        raise reader.fail("parts", f"part name {duplicate!r} appears twice", "give every part its own name")

    perf = {}
    for index, entry in enumerate(top["perf"]):
        spec = PerfSpec(**reader.table(entry, PERF_FIELDS, f"perf[{index}]"))
        part = next((p for p in parts if p.name == spec.part), None)
        if part is None or part.kind != "perf":
            raise reader.fail(f"perf[{index}].part", f"{spec.part!r} is not a part of kind 'perf'",
                              "add a [[parts]] table with that name and kind = \"perf\"")
        if spec.zero_credit_ratio >= spec.full_credit_ratio:
            raise reader.fail(f"perf[{index}].zero_credit_ratio", "must be below full_credit_ratio",
                              "lower zero_credit_ratio")
        perf[spec.name] = spec

    forbidden = []
    for index, entry in enumerate(top["forbidden"]):
        values = reader.table(entry, FORBIDDEN_FIELDS, f"forbidden[{index}]")
        for part_name in values["parts"]:
            if part_name not in names:
                raise reader.fail(f"forbidden[{index}].parts", f"no part named {part_name!r}",
                                  f"use one of {', '.join(names)}")
        if not values["calls"] or not all(isinstance(call, str) and "." in call for call in values["calls"]):
            raise reader.fail(f"forbidden[{index}].calls", "expected dotted names", "e.g. calls = [\"torch.softmax\"]")
        forbidden.append(ForbiddenRule(tuple(values["calls"]), tuple(values["parts"]), values["reason"]))

    gate = reader.table(top["mutant_gate"], MUTANT_GATE_FIELDS, "mutant_gate")
    mutation = _mutation_settings(reader.table(top["mutation"], MUTATION_FIELDS, "mutation"), parts, reader)
    reference_dir = _find_reference(root, slug, top["reference"], reader)

    return Assignment(
        root=root,
        slug=slug,
        title=top["title"],
        summary=top["summary"],
        reference_dir=reference_dir,
        resources=resources,
        max_upload_bytes=int(limits["max_upload_mb"] * 1024 * 1024),
        max_output_bytes=int(limits["max_output_mb"] * 1024 * 1024),
        tolerances=tolerances,
        parts=tuple(parts),
        perf=perf,
        forbidden=tuple(forbidden),
        minimum_mutants=gate["minimum_mutants"],
        mutation=mutation,
    )


def _mutation_settings(values: dict, parts: list[Part], reader: _Reader) -> MutationSettings:
    correctness = [part.name for part in parts if part.kind == "correctness"]
    checked = [(f"required_score.{name}", name, score) for name, score in values["required_score"].items()]
    cells = [(f"cell_parts.{cell}", name, 1) for cell, name in values["cell_parts"].items()]
    for key, part_name, score in checked + cells:
        if part_name not in correctness:
            raise reader.fail(f"mutation.{key}", f"{part_name!r} is not a correctness part",
                              f"use one of {', '.join(correctness)}")
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 1:
            raise reader.fail(f"mutation.{key}", f"{score!r} is not a number from 0 to 1", "e.g. 1.0: all killed")
    return MutationSettings({name: float(score) for _, name, score in checked}, dict(values["cell_parts"]))


def _find_reference(root: Path, slug: str, declared: str | None, reader: _Reader) -> Path:
    candidates = [root / declared] if declared else [root / "reference", root.parent.parent / "reference" / slug]
    for candidate in candidates:
        if (candidate / "__init__.py").is_file():
            return candidate.resolve()
    # A grader bundle always has it; a released package never does. Only grading needs it.
    return candidates[-1].resolve()


def find_package(slug_or_path: str, search_root: Path | None = None) -> Path:
    """A package folder from a slug (looked up under `assignments/`) or a path."""
    candidate = Path(slug_or_path)
    if (candidate / "assignment.toml").is_file():
        return candidate.resolve()
    root = search_root or Path(__file__).resolve().parent.parent
    by_slug = root / "assignments" / slug_or_path
    if (by_slug / "assignment.toml").is_file():
        return by_slug.resolve()
    known = sorted(p.name for p in (root / "assignments").glob("*") if (p / "assignment.toml").is_file())
    raise PackageError(f"no assignment package {slug_or_path!r}. Fix: give a folder with an assignment.toml "
                       f"or one of: {', '.join(known) or '(none under assignments/)'}")
