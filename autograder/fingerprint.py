"""Winnowed fingerprints of Python source, normalised for what copying changes.

Why not copydetect (tried first; it is installed): it winnows character k-grams of a pygments
token stream in which *every* name becomes `V`, library calls included, so two independent
solutions of the same task (`torch.cumsum` vs `torch.sum`, `.view` vs `.reshape`) look
alike; its k-grams run across definition boundaries, so reordering functions breaks
fingerprints; it keeps docstrings; and it fingerprints whole files, while staff need scores per
notebook cell with the starter's text taken out. Python's own `tokenize` and `ast` give all of
that directly:

- identifiers the code binds (defs, classes, arguments, assigned names and attributes,
  import aliases) become `V`; library names (`torch`, `reshape`, keyword arguments) stay,
- numbers become `N`, strings `S`; comments, docstrings, blank lines, line continuations and
  trailing commas disappear; indentation becomes INDENT/DEDENT tokens, so widths do not matter,
- k-grams never cross a top-level definition or a method, so the order of definitions does
  not change the fingerprint set,
- winnowing (Schleimer, Wilkerson and Aiken, SIGMOD 2003) keeps the minimum hash of every window
  of `window` k-grams: any match of at least `k + window - 1` tokens shares a fingerprint.

Hashes are Python `hash()` of tuples of ints (token ids from one `Vocabulary` per comparison
run), which is deterministic for ints, so they are only comparable within one run.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import io
import keyword
import tokenize

K_TOKENS = 12
WINDOW = 5
_BUILTINS = frozenset(dir(builtins))
_DROP = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}
_CLOSERS = {")", "]", "}"}
_LAYOUT = {"NEWLINE", "INDENT", "DEDENT"}


class Vocabulary:
    """Token text → small int, shared by every fingerprint of one comparison run."""

    def __init__(self):
        self.ids: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        found = self.ids.get(text)
        if found is None:
            found = self.ids[text] = len(self.ids)
        return found


@dataclasses.dataclass
class Fingerprints:
    """The selected hashes of one piece of source, each with the lines its k-gram covers."""

    where: dict[int, list[tuple[int, int]]]  # hash → [(first line, last line)], 1-based
    code_lines: frozenset[int] = frozenset()  # lines holding tokens that count (no docstrings, comments)

    @property
    def hashes(self) -> frozenset[int]:
        return frozenset(self.where)

    def without(self, ignored: set[int] | frozenset[int]) -> "Fingerprints":
        return Fingerprints({h: spans for h, spans in self.where.items() if h not in ignored}, self.code_lines)


@dataclasses.dataclass
class Parsed:
    """One piece of source, parsed once: what it binds, its docstrings, its units."""

    source: str
    names: set[str]  # names it binds (so a copier can rename them)
    attributes: set[str]  # attribute names it assigns (ctx.scale = ...)
    docstring_lines: set[int]  # first lines of bare string statements
    units: list[tuple[int, int]]  # line ranges k-grams must not cross


def parse(source: str) -> Parsed:
    """Source that does not parse still gets fingerprints (of the tokens up to where it breaks),
    without names or units."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return Parsed(source, set(), set(), set(), [])
    names: set[str] = set()
    attributes: set[str] = set()
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        kind = type(node)
        if kind is ast.Name:
            if type(node.ctx) is not ast.Load:
                names.add(node.id)
        elif kind is ast.Attribute:
            if type(node.ctx) is ast.Store:
                attributes.add(node.attr)
        elif kind is ast.arg:
            names.add(node.arg)
        elif kind in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
            names.add(node.name)
        elif kind is ast.alias:
            if node.asname:
                names.add(node.asname)
        elif kind is ast.Expr:
            if type(node.value) is ast.Constant and isinstance(node.value.value, str):
                docstrings.add(node.lineno)
        elif kind in (ast.Global, ast.Nonlocal):
            names.update(node.names)
        elif kind is ast.ExceptHandler and node.name:
            names.add(node.name)
    return Parsed(source, names - _BUILTINS, attributes, docstrings, _units(tree))


def _units(tree: ast.Module) -> list[tuple[int, int]]:
    """Every top-level function, every method, and every other top-level statement (with its
    decorators)."""
    ranges: list[tuple[int, int]] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            ranges.append((node.lineno, node.lineno))  # the class line itself
            for item in node.body:
                first = min([item.lineno] + [d.lineno for d in getattr(item, "decorator_list", [])])
                ranges.append((first, item.end_lineno or item.lineno))
        else:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            ranges.append((first, node.end_lineno or node.lineno))
    return ranges


Bound = tuple[set[str], set[str]]  # (names, attribute names)


def normalized_tokens(parsed: Parsed, also_bound: Bound = (set(), set())) -> list[tuple[str, int, int, int]]:
    """(normalised text, first line, last line, unit) for every token that counts.
    `also_bound`: names bound elsewhere in the same submission (other cells, provided cells),
    so that a name gets the same token whichever cell it is used in."""
    names, attributes = parsed.names | also_bound[0], parsed.attributes | also_bound[1]
    docstrings = parsed.docstring_lines
    unit_of_line: dict[int, int] = {}
    for index, (first, last) in enumerate(parsed.units):
        for line in range(first, last + 1):
            unit_of_line.setdefault(line, index)

    out: list[tuple[str, int, int, int]] = []
    previous = ""
    skip_newline = False
    try:
        for tok in tokenize.generate_tokens(io.StringIO(parsed.source).readline):
            if tok.type in _DROP:
                continue
            text = tok.string
            if tok.type == tokenize.STRING and tok.start[0] in docstrings and previous in ("", "NEWLINE",
                                                                                            "INDENT", "DEDENT"):
                skip_newline = True
                continue
            if tok.type == tokenize.NEWLINE:
                if skip_newline:
                    skip_newline = False
                    continue
                text = "NEWLINE"
            elif tok.type in (tokenize.INDENT, tokenize.DEDENT):
                text = tokenize.tok_name[tok.type]
            elif tok.type == tokenize.NUMBER:
                text = "N"
            elif tok.type == tokenize.STRING or tokenize.tok_name.get(tok.type, "").startswith("FSTRING"):
                if previous == "S":
                    continue  # "a" "b" and f-string pieces: one string
                text = "S"
            elif tok.type == tokenize.NAME and not keyword.iskeyword(text):
                if previous == ".":
                    text = "V" if text in attributes else text
                elif text in names:
                    text = "V"
            elif text in _CLOSERS and previous == ",":
                out.pop()  # a trailing comma is formatting
            skip_newline = False
            out.append((text, tok.start[0], tok.end[0], unit_of_line.get(tok.start[0], -1)))
            previous = text
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # a broken cell still counts up to where it breaks
    return out


def fingerprint(parsed: Parsed, vocabulary: Vocabulary, *, also_bound: Bound = (set(), set()),
                k: int = K_TOKENS, window: int = WINDOW) -> Fingerprints:
    tokens = normalized_tokens(parsed, also_bound)
    where: dict[int, list[tuple[int, int]]] = {}
    start = 0
    while start < len(tokens):  # one run of k-grams per unit
        end = start
        while end < len(tokens) and tokens[end][3] == tokens[start][3]:
            end += 1
        _winnow(tokens[start:end], vocabulary, k, window, where)
        start = end
    code_lines = frozenset(line for text, first, last, _ in tokens if text not in _LAYOUT
                           for line in range(first, last + 1))  # INDENT sits on a docstring's line
    return Fingerprints(where, code_lines)


def _winnow(tokens, vocabulary: Vocabulary, k: int, window: int,
            where: dict[int, list[tuple[int, int]]]) -> None:
    ids = [vocabulary(text) for text, *_ in tokens]
    if not ids:
        return
    if len(ids) < k:  # a short unit still gets one fingerprint: all of it
        grams = [hash(tuple(ids))]
        spans = [(tokens[0][1], tokens[-1][2])]
    else:
        grams = [hash(tuple(ids[i:i + k])) for i in range(len(ids) - k + 1)]
        spans = [(tokens[i][1], tokens[i + k - 1][2]) for i in range(len(grams))]
    chosen = -1
    for first in range(max(1, len(grams) - window + 1)):
        in_window = grams[first:first + window]
        # the rightmost minimum, as in the paper, so runs of equal hashes pick one
        best = first + len(in_window) - 1 - in_window[::-1].index(min(in_window))
        if best != chosen:
            chosen = best
            where.setdefault(grams[best], []).append(spans[best])
