"""Static scan of a submission's source, outside the sandbox: forbidden calls and signs of
tampering with the harness.

Names are resolved through the module's imports (`import torch.nn.functional as F`,
`from torch import softmax as sm`), so `F.softmax(x)` is seen as
`torch.nn.functional.softmax`. A forbidden `torch.Tensor.<method>` is matched by method name
on any object (`x.softmax(-1)`), since the scan cannot know types.
"""

from __future__ import annotations

import ast
import dataclasses

from autograder.package import ForbiddenRule

TAMPER_MODULES = {
    "ctypes": "loads native code that can rewrite the grader's memory",
    "gc": "can reach the grader's objects through the garbage collector",
    "inspect": "inspects the grader's frames",
    "_pytest": "reaches into pytest's internals",
    "pytest": "reaches into pytest (submissions never need it)",
    "importlib": "can swap modules the grader relies on",
    "builtins": "can replace built-in functions",
    "cffi": "loads native code",
    "faulthandler": "interferes with the grader's signal handling",
    "signal": "interferes with the grader's time limits",
}
TAMPER_ATTRIBUTES = {
    "sys.modules": "replaces modules the grader relies on",
    "sys._getframe": "inspects the grader's frames",
    "sys.settrace": "traces the grader",
    "sys.setprofile": "profiles the grader",
    "sys.exit": "ends the grading run early",
    "os._exit": "ends the grading run early",
    "os.kill": "signals the grader",
    "os.fork": "forks the grader",
    "os.system": "runs shell commands",
    "subprocess": "runs other programs",
}
PATCHED_ROOTS = ("torch", "numpy", "pytest", "builtins", "sys", "os", "json", "math", "triton")


@dataclasses.dataclass(frozen=True)
class Finding:
    line: int
    name: str
    why: str


@dataclasses.dataclass
class ScanResult:
    forbidden: dict[str, list[Finding]]  # part name ("*" for every part) → findings
    tamper: list[Finding]
    syntax_error: str | None = None
    where: dict[int, str] = dataclasses.field(default_factory=dict)  # line → "cell 'q1' line 3"

    def forbidden_for(self, part: str) -> list[Finding]:
        return self.forbidden.get(part, []) + self.forbidden.get("*", [])


class _Aliases(ast.NodeVisitor):
    """Maps local names to the dotted names they were imported as."""

    def __init__(self):
        self.names: dict[str, str] = {}

    def visit_Import(self, node):
        for alias in node.names:
            if alias.asname:
                self.names[alias.asname] = alias.name
            else:
                root = alias.name.split(".")[0]
                self.names[root] = root

    def visit_ImportFrom(self, node):
        if node.module and node.level == 0:
            for alias in node.names:
                if alias.name != "*":
                    self.names[alias.asname or alias.name] = f"{node.module}.{alias.name}"


def _dotted(node, aliases: dict[str, str]) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def _matches(dotted: str, pattern: str) -> bool:
    if pattern.endswith(".*"):
        return dotted.startswith(pattern[:-1])
    return dotted == pattern


def scan_source(source: str, rules: tuple[ForbiddenRule, ...]) -> ScanResult:
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        return ScanResult({}, [], syntax_error=f"line {error.lineno}: {error.msg}")
    alias_visitor = _Aliases()
    alias_visitor.visit(tree)
    aliases = alias_visitor.names
    forbidden: dict[str, list[Finding]] = {}
    tamper: list[Finding] = []

    def forbid(line: int, name: str, rule: ForbiddenRule):
        finding = Finding(line, name, rule.reason)
        for part in rule.parts or ("*",):
            if finding not in forbidden.setdefault(part, []):
                forbidden[part].append(finding)

    method_rules = [
        (pattern.rsplit(".", 1)[1], pattern, rule)
        for rule in rules for pattern in rule.calls if pattern.startswith("torch.Tensor.")
    ]
    for node in ast.walk(tree):
        if isinstance(node, (ast.Attribute, ast.Name)):
            dotted = _dotted(node, aliases)
            if dotted:
                for rule in rules:
                    if any(_matches(dotted, pattern) for pattern in rule.calls):
                        forbid(node.lineno, dotted, rule)
                for name, why in TAMPER_ATTRIBUTES.items():
                    if dotted == name or dotted.startswith(name + "."):
                        tamper.append(Finding(node.lineno, dotted, why))
            receiver = _dotted(node.value, aliases) if isinstance(node, ast.Attribute) else None
            on_module = receiver is not None and receiver.split(".")[0] in set(aliases.values())
            if isinstance(node, ast.Attribute) and not on_module:
                for method, pattern, rule in method_rules:
                    if node.attr == method:
                        forbid(node.lineno, pattern, rule)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                for rule in rules:
                    if any(_matches(f"{node.module}.{alias.name}", pattern) for pattern in rule.calls):
                        forbid(node.lineno, f"{node.module}.{alias.name}", rule)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                root = module.split(".")[0]
                if root in TAMPER_MODULES:
                    tamper.append(Finding(node.lineno, module, TAMPER_MODULES[root]))
                if root in ("subprocess",):
                    tamper.append(Finding(node.lineno, module, TAMPER_ATTRIBUTES["subprocess"]))
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute):
                    dotted = _dotted(target, aliases)
                    if dotted and dotted.split(".")[0] in PATCHED_ROOTS:
                        tamper.append(Finding(node.lineno, dotted, "replaces a library function the grader uses"))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr"):
            if node.args:
                owner = _dotted(node.args[0], aliases)
                if owner and owner.split(".")[0] in PATCHED_ROOTS:
                    tamper.append(Finding(node.lineno, f"{node.func.id}({owner}, ...)",
                                          "replaces a library function the grader uses"))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("exec", "eval",
                                                                                               "__import__"):
            tamper.append(Finding(node.lineno, node.func.id, "runs code the scan cannot see"))
        if isinstance(node, ast.Attribute) and node.attr in ("__code__", "__globals__", "f_back", "f_locals",
                                                             "f_globals", "__subclasses__"):
            tamper.append(Finding(node.lineno, node.attr, "reaches into interpreter internals"))
    return ScanResult(forbidden, _dedupe(tamper))


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen, out = set(), []
    for finding in findings:
        key = (finding.line, finding.name)
        if key not in seen:
            seen.add(key)
            out.append(finding)
    return out
