"""Mutants of the reference's solution code, for `dlgrade assign --mutation-report`.

What is mutated: the definitions the notebook's solution cells ask for (the top-level names
each solution cell defines), where the reference package defines them; inside a definition
that holds `### BEGIN SOLUTION` / `### END SOLUTION` markers only the lines between them (the
rest is the signature and docstring students are given), else its body. Docstrings, `raise`,
`assert`, annotations, decorators and `print` calls are left alone.

The operators: mutmut's node operators (`mutmut.mutation.mutators`: pure functions from a
libcst node to its mutated nodes, one mutant per site and operator, so a run stays small) for
arithmetic, comparison and boolean operators swapped, numbers nudged by one, True/False,
`is`/`in` flipped, `not` removed, `+=` made `=`, a conditional expression forced down one arm
and strings changed; of mutmut's argument removal only the removal of a keyword argument (it
falls back to its default: "an argument defaulted"). mutmut has no operator for the rest the
issue asks for, written here on libcst in the same shape: off by one in slices, indices and
`range`/`arange` bounds, a statement dropped, a dtype cast removed.

A mutant's id is `file:qualname:operator:hash`, the hash over the statement's text and the
change, so it stays the same across runs and across edits elsewhere in the file
(`mutation/equivalent.toml` names mutants by it).
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import libcst as cst
import libcst.matchers as cst_matchers
from libcst.metadata import MetadataWrapper, PositionProvider
from mutmut.mutation import mutators as mutmut_operators

from autograder.notebook import source_cells
from autograder.package import Assignment

_BEGIN, _END = "### BEGIN SOLUTION", "### END SOLUTION"
_SKIPPED_NODES = (cst.Raise, cst.Assert, cst.Annotation, cst.Decorator)
_CAST_METHODS = {"float", "double", "half", "bfloat16", "long", "int", "short", "bool", "to", "type", "type_as"}
_DTYPES = {"float16", "float32", "float64", "bfloat16", "half", "float", "double", "int8", "uint8", "int16",
           "int32", "int64", "long", "int", "bool", "complex64", "float8_e4m3fn", "float8_e5m2"}


@dataclasses.dataclass(frozen=True)
class Mutant:
    id: str
    file: str  # relative to the reference package
    function: str  # qualified name of the innermost definition holding it
    operator: str
    line: int
    cell: str  # the solution cell asking for the definition
    part: str | None  # the part whose tests grade that cell, None where no part does
    original: str  # the code of the node that was changed
    mutated: str  # what it became
    diff: str  # unified diff of the file
    source: str = dataclasses.field(repr=False, compare=False, default="")  # the mutated file

    def to_dict(self) -> dict:
        """What a report stores (not the mutated file)."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self) if field.name != "source"}


# --- operators: (node type, name, function from a node to its mutated nodes) -----------------

def _keyword_defaulted(node: cst.Call) -> Iterable[cst.Call]:
    """mutmut's argument removal, only where the removed argument is a keyword one."""
    for mutated in mutmut_operators.operator_arg_removal(node):
        if len(mutated.args) < len(node.args):
            kept = {id(arg) for arg in mutated.args}
            removed = [arg for arg in node.args if id(arg) not in kept]
            if len(removed) == 1 and removed[0].keyword is not None:
                if mutated.args and removed[0] is node.args[-1]:  # no comma left dangling
                    last = mutated.args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                    mutated = mutated.with_changes(args=[*mutated.args[:-1], last])
                yield mutated


def _string_changed(node: cst.BaseString) -> Iterable[cst.BaseString]:
    """mutmut's string operator, less its upper- and lower-case variants: here strings are
    mode names, keys and dtype names, where `float("-INF")` is `float("-inf")`."""
    for mutated in mutmut_operators.operator_string(node):
        if "XX" in mutated.value:
            yield mutated


def _parenthesized(expression: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(expression, (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer)) or expression.lpar:
        return expression
    return expression.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def _shifted(expression: cst.BaseExpression, operator: cst.BaseBinaryOp) -> cst.BinaryOperation:
    return cst.BinaryOperation(left=_parenthesized(expression), operator=operator, right=cst.Integer("1"))


def _is_literal(expression: cst.BaseExpression) -> bool:
    if isinstance(expression, cst.UnaryOperation):
        expression = expression.expression
    return isinstance(expression, (cst.BaseNumber, cst.BaseString, cst.Ellipsis)) or (
        isinstance(expression, cst.Name) and expression.value in ("None", "True", "False"))


def _off_by_one_subscript(node: cst.Subscript) -> Iterable[cst.Subscript]:
    """A slice one shorter at either end, an index one further (literal bounds are the number
    operator's)."""
    for position, element in enumerate(node.slice):
        changed = []
        if isinstance(element.slice, cst.Slice):
            bounds = element.slice
            if bounds.lower is not None and not _is_literal(bounds.lower):
                changed.append(bounds.with_changes(lower=_shifted(bounds.lower, cst.Add())))
            if bounds.upper is not None and not _is_literal(bounds.upper):
                changed.append(bounds.with_changes(upper=_shifted(bounds.upper, cst.Subtract())))
        elif isinstance(element.slice, cst.Index) and not _is_literal(element.slice.value) and isinstance(
                element.slice.value, (cst.Name, cst.Attribute, cst.BinaryOperation)):
            changed.append(element.slice.with_changes(value=_shifted(element.slice.value, cst.Add())))
        for new_slice in changed:
            elements = list(node.slice)
            elements[position] = element.with_changes(slice=new_slice)
            yield node.with_changes(slice=elements)


def _off_by_one_range(node: cst.Call) -> Iterable[cst.Call]:
    """`range(a, b)` / `torch.arange(a, b)`: the stop one lower, the start one higher."""
    name = node.func.value if isinstance(node.func, cst.Name) else (
        node.func.attr.value if isinstance(node.func, cst.Attribute) else None)
    if name not in ("range", "arange"):
        return
    positional = [index for index, arg in enumerate(node.args) if arg.keyword is None and not arg.star]
    if not positional:
        return
    stop = positional[1] if len(positional) > 1 else positional[0]
    moves = [(stop, cst.Subtract())] + ([(positional[0], cst.Add())] if len(positional) > 1 else [])
    for index, operator in moves:
        arg = node.args[index]
        if _is_literal(arg.value) and isinstance(operator, cst.Add):
            continue  # the number operator already nudges a literal up
        args = list(node.args)
        args[index] = arg.with_changes(value=_shifted(arg.value, operator))
        yield node.with_changes(args=args)


def _dropped_statement(node: cst.SimpleStatementLine) -> Iterable[cst.SimpleStatementLine]:
    """A call made for its effect, an augmented assignment, a store into an attribute or an
    item, or a rebinding (`x = f(x)`) left out."""
    if len(node.body) != 1:
        return
    statement = node.body[0]
    droppable = isinstance(statement, cst.AugAssign) or (
        isinstance(statement, cst.Expr) and isinstance(statement.value, cst.Call))
    if isinstance(statement, cst.Assign):
        targets = [target.target for target in statement.targets]
        if all(isinstance(target, (cst.Attribute, cst.Subscript)) for target in targets):
            droppable = True
        elif len(targets) == 1 and isinstance(targets[0], cst.Name):
            droppable = _mentions(statement.value, targets[0].value)
    if droppable:
        yield node.with_changes(body=[cst.Pass()])


def _mentions(node: cst.CSTNode, name: str) -> bool:
    return bool(cst_matchers.findall(node, cst_matchers.Name(value=name)))


def _cast_removed(node: cst.Call) -> Iterable[cst.BaseExpression]:
    """`x.float()`, `x.to(torch.float32)`, `x.to(dtype=d)`, `x.type_as(y)` → `x`."""
    if not isinstance(node.func, cst.Attribute) or node.func.attr.value not in _CAST_METHODS:
        return
    method = node.func.attr.value
    if method in ("to", "type") and not any(_names_a_dtype(arg) for arg in node.args):
        return
    if method not in ("to", "type", "type_as") and node.args:
        return  # x.int(...) is no tensor cast
    yield node.func.value


def _names_a_dtype(arg: cst.Arg) -> bool:
    if arg.keyword is not None and arg.keyword.value == "dtype":
        return True
    value = arg.value
    if isinstance(value, cst.Attribute) and value.attr.value in _DTYPES:
        return True
    code = cst.Module([]).code_for_node(value)
    return "dtype" in code


OPERATORS: list[tuple[type, str, Callable[[cst.CSTNode], Iterable[cst.CSTNode]]]] = [
    (cst.CSTNode, "swap_op", mutmut_operators.operator_swap_op),
    (cst.BaseNumber, "number", mutmut_operators.operator_number),
    (cst.Name, "true_false", mutmut_operators.operator_name),
    (cst.CSTNode, "keyword", mutmut_operators.operator_keywords),
    (cst.UnaryOperation, "unary_removed", mutmut_operators.operator_remove_unary_ops),
    (cst.AugAssign, "aug_assign", mutmut_operators.operator_augmented_assignment),
    (cst.IfExp, "if_exp", mutmut_operators.operator_if_exp),
    (cst.BaseString, "string", _string_changed),
    (cst.Call, "arg_defaulted", _keyword_defaulted),
    (cst.Subscript, "off_by_one", _off_by_one_subscript),
    (cst.Call, "off_by_one", _off_by_one_range),
    (cst.SimpleStatementLine, "statement_dropped", _dropped_statement),
    (cst.Call, "cast_removed", _cast_removed),
]
OPERATOR_NAMES = tuple(dict.fromkeys(name for _, name, _ in OPERATORS))


# --- what to mutate ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Region:
    """Lines of one reference file that hold solution code of one cell's definition."""

    file: str
    first: int
    last: int
    cell: str
    part: str | None
    name: str  # the top-level definition


def cell_part(assignment: Assignment, cell: str) -> str | None:
    """The part whose tests grade a solution cell: `[mutation] cell_parts`, else the part of
    the same name."""
    if cell in assignment.mutation.cell_parts:
        return assignment.mutation.cell_parts[cell]
    return cell if assignment.part(cell) is not None else None


def solution_names(assignment: Assignment) -> list[tuple[str, str]]:
    """(cell grade id, top-level name) for every name a solution cell defines."""
    notebook = json.loads(assignment.notebook_path.read_text(encoding="utf-8"))
    found = []
    for cell in source_cells(notebook):
        if cell.kind != "solution":
            continue
        for node in ast.parse(cell.source).body:
            for name in _defined_names(node):
                found.append((cell.grade_id, name))
    return found


def _defined_names(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [target.id for target in node.targets if isinstance(target, ast.Name)]
    return []


def solution_regions(assignment: Assignment) -> tuple[list[Region], list[str]]:
    """Where the reference defines what the solution cells ask for, and the names it lacks."""
    wanted = solution_names(assignment)
    definitions: dict[str, tuple[str, ast.stmt, list[tuple[int, int]]]] = {}
    reference = assignment.reference_dir
    for path in sorted(reference.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        markers = _marker_ranges(text)
        for node in ast.parse(text).body:
            for name in _defined_names(node):
                definitions.setdefault(name, (path.relative_to(reference).as_posix(), node, markers))
    regions, missing = [], []
    for cell, name in wanted:
        if name not in definitions:
            missing.append(f"{cell}: {name}")
            continue
        file, node, markers = definitions[name]
        # The END marker may sit after the definition's last statement: only BEGIN need be inside.
        inside = [(first, last) for first, last in markers if node.lineno <= first <= node.end_lineno]
        if not inside and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            inside = [(node.body[0].lineno, node.end_lineno)]
        for first, last in inside:
            regions.append(Region(file, first, last, cell, cell_part(assignment, cell), name))
    return regions, missing


def _marker_ranges(text: str) -> list[tuple[int, int]]:
    ranges, begin = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() == _BEGIN:
            begin = number
        elif line.strip() == _END and begin is not None:
            ranges.append((begin, number))
            begin = None
    return ranges


# --- generating mutants -----------------------------------------------------------------------

class _Sites(cst.CSTVisitor):
    """Every node inside a region, with the qualified name of the definition around it."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, regions: list[Region]):
        super().__init__()
        self.regions = regions
        self.scope: list[str] = []
        self.sites: list[tuple[cst.CSTNode, str, int, Region]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, _SKIPPED_NODES) or _is_bare_string(node) or _is_print(node):
            return False
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            self.scope.append(node.name.value)
        position = self.get_metadata(PositionProvider, node, None)
        if position is not None:
            region = next((r for r in self.regions if r.first <= position.start.line and position.end.line <= r.last),
                          None)
            if region is not None:
                self.sites.append((node, ".".join(self.scope), position.start.line, region))
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if isinstance(original_node, (cst.FunctionDef, cst.ClassDef)):
            self.scope.pop()


def _is_bare_string(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Expr) and isinstance(node.value, (cst.SimpleString, cst.ConcatenatedString))


def _is_print(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "print"


def generate_mutants(assignment: Assignment, *, functions: tuple[str, ...] | None = None,
                     operators: tuple[str, ...] | None = None) -> tuple[list[Mutant], list[str]]:
    """Every mutant of the solution code, in file and line order, and the solution names the
    reference does not define. `functions` keeps the mutants of those top-level names (or
    qualified names), `operators` those of the named operators."""
    regions, missing = solution_regions(assignment)
    if functions is not None:
        regions = [region for region in regions if region.name in functions or any(
            name.startswith(region.name + ".") for name in functions)]
    mutants: list[Mutant] = []
    for file in dict.fromkeys(region.file for region in regions):
        mutants += _mutants_of_file(assignment.reference_dir, file, [r for r in regions if r.file == file], operators)
    if functions is not None:
        mutants = [m for m in mutants if m.function.split(".")[0] in functions or m.function in functions]
    return mutants, missing


def _mutants_of_file(reference: Path, file: str, regions: list[Region],
                     operators: tuple[str, ...] | None) -> list[Mutant]:
    original = (reference / file).read_text(encoding="utf-8")
    wrapper = MetadataWrapper(cst.parse_module(original))
    sites = _Sites(regions)
    wrapper.visit(sites)
    module = wrapper.module
    lines = original.splitlines()
    seen_texts, seen_keys = {original}, {}
    mutants = []
    for node, qualname, line, region in sites.sites:
        for node_type, name, operator in OPERATORS:
            if not isinstance(node, node_type) or (operators is not None and name not in operators):
                continue
            for replacement in operator(node):
                text = module.deep_replace(node, replacement).code
                if text in seen_texts or not _parses(text):
                    continue
                seen_texts.add(text)
                before, after = _code(module, node), _code(module, replacement)
                key = f"{qualname}|{name}|{lines[line - 1].strip()}|{before}|{after}"
                seen_keys[key] = seen_keys.get(key, -1) + 1
                digest = hashlib.sha256(f"{key}#{seen_keys[key]}".encode()).hexdigest()[:8]
                diff = "".join(difflib.unified_diff(original.splitlines(keepends=True), text.splitlines(keepends=True),
                                                    f"reference/{file}", f"mutant/{file}", n=1))
                mutants.append(Mutant(f"{file}:{qualname}:{name}:{digest}", file, qualname, name, line, region.cell,
                                      region.part, _one_line(before), _one_line(after), diff, text))
    return mutants


def _code(module: cst.Module, node: cst.CSTNode) -> str:
    """A node's code, without the comment lines above a statement."""
    if isinstance(node, cst.SimpleStatementLine):
        node = node.with_changes(leading_lines=[])
    return module.code_for_node(node).strip()


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return True


def _one_line(code: str) -> str:
    flat = re.sub(r"\s+", " ", code)
    return flat if len(flat) <= 120 else flat[:117] + "..."
