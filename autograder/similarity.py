"""Similarity review: which submissions of one assignment share solution code.

Named steps: read each upload's solution cells (`notebook.py` does the reading; a `.py` upload
counts whole, as one cell `FILE_CELL`), fingerprint every cell (`fingerprint.py`), take out
what every submission shares by construction (the starter's text and the provided cells, and,
in a large course, code more than `max_share` of the submissions contain), then score every
pair: overall and per cell, the mean of the two shares of fingerprints found in the other
(a copy padded with dead code still has all of the original in it). The matched regions of a
pair, line ranges side by side, come from `matches()`.

The engine entry points: `compare(...)` for a list of files, and `similarity(*, ...)`, which
also writes `pairs.json` and `index.html` for `dlgrade similarity`.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Callable

from autograder.errors import SubmissionRejected
from autograder.fingerprint import Bound, Fingerprints, Parsed, Vocabulary, fingerprint, parse
from autograder.notebook import (read_notebook, solution_texts, source_cells,
                                 strip_magics)

FILE_CELL = "(file)"
UPLOAD_SUFFIXES = (".ipynb", ".py")
MAX_SHARE = 0.5  # fingerprints in more than this fraction of submissions are course-wide idiom
MIN_FOR_SHARE_FILTER = 10  # below this many submissions a shared fingerprint is evidence, not idiom
DETAIL_PAIRS = 200  # pairs whose matched regions a report carries

Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclasses.dataclass
class SubmissionCells:
    name: str
    cells: dict[str, str]  # grade_id (or FILE_CELL) → the student's text
    error: str = ""  # why nothing could be read (the submission then matches nothing)


@dataclasses.dataclass
class PairScore:
    a: str
    b: str
    score: float
    cells: dict[str, float]

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "score": round(self.score, 4),
                "cells": {cell: round(value, 4) for cell, value in self.cells.items()}}


def read_submission(path: Path, source_notebook: dict, *, max_bytes: int) -> SubmissionCells:
    """The solution cells of one upload; a bad upload is an entry with `error`, never a raise."""
    path = Path(path)
    solution_ids = [cell.grade_id for cell in source_cells(source_notebook) if cell.kind == "solution"]
    try:
        if path.suffix not in UPLOAD_SUFFIXES:
            raise SubmissionRejected(f"not an .ipynb or .py file ({path.suffix or 'no extension'})")
        if path.stat().st_size > max_bytes:
            raise SubmissionRejected(f"over the {max_bytes / 2**20:.1f} MiB upload limit")
        data = path.read_bytes()
        if path.suffix == ".py":
            try:
                return SubmissionCells(path.name, {FILE_CELL: data.decode("utf-8")})
            except UnicodeDecodeError as error:
                raise SubmissionRejected("the .py file is not UTF-8 text") from error
        found = solution_texts(read_notebook(data, max_bytes=max_bytes, name=path.name))
    except (SubmissionRejected, OSError) as error:
        return SubmissionCells(path.name, {}, str(error))
    # a deleted or duplicated cell rejects an upload for grading, but not from this review:
    # every solution cell that is there counts (the first copy of a duplicate)
    cells = {grade_id: strip_magics(found[grade_id][0], grade_id, []) for grade_id in solution_ids
             if grade_id in found}
    return SubmissionCells(path.name, cells)


def starter_texts(source_notebook: dict) -> list[str]:
    """What every submission holds before a student writes a line: the released solution
    cells (stubs, signatures, docstrings) and the provided cells."""
    from autograder.release import release_notebook  # nbgrader: only where a review runs

    return [cell.source for cell in source_cells(release_notebook(source_notebook))]


class Comparison:
    """Fingerprints of every submission, scores of every pair, matched regions on demand."""

    def __init__(self, submissions: list[SubmissionCells], starter: list[str], *,
                 max_share: float = MAX_SHARE, on_progress: Progress | None = None):
        self.submissions = submissions
        vocabulary = Vocabulary()
        starter_parsed = [parse(strip_magics(text, "starter", [])) for text in starter]
        starter_bound = _union_bound(starter_parsed)
        ignored: set[int] = set()
        for parsed in starter_parsed:
            ignored |= fingerprint(parsed, vocabulary, also_bound=starter_bound).hashes
        self.prints: list[dict[str, Fingerprints]] = []
        for done, submission in enumerate(submissions, 1):
            cells = {cell: parse(text) for cell, text in submission.cells.items()}
            bound = _union_bound(list(cells.values()), starter_bound)
            self.prints.append({cell: fingerprint(parsed, vocabulary, also_bound=bound)
                                for cell, parsed in cells.items()})
            if on_progress:
                on_progress("fingerprint", done, len(submissions))
        if len(submissions) >= MIN_FOR_SHARE_FILTER:
            counts: dict[int, int] = {}
            for cells in self.prints:
                for fp_hash in set().union(*(fp.where for fp in cells.values())):
                    counts[fp_hash] = counts.get(fp_hash, 0) + 1
            ignored |= {h for h, count in counts.items() if count > max_share * len(submissions)}
        self.prints = [{cell: fp.without(ignored) for cell, fp in cells.items()} for cells in self.prints]
        self.cell_sets = [{cell: fp.hashes for cell, fp in cells.items()} for cells in self.prints]
        self.whole_sets = [frozenset().union(*sets.values()) for sets in self.cell_sets]
        self._index: dict[str, int] | None = None
        self._first: dict[int, dict[int, tuple[str, tuple[int, int]]]] = {}

    def _first_place(self, position: int) -> dict[int, tuple[str, tuple[int, int]]]:
        """hash → (cell, lines) of its first occurrence in one submission, memoised."""
        found = self._first.get(position)
        if found is None:
            found = {}
            for cell, fp in self.prints[position].items():
                for fp_hash, spans in fp.where.items():
                    found.setdefault(fp_hash, (cell, spans[0]))
            self._first[position] = found
        return found

    @property
    def names(self) -> list[str]:
        return [submission.name for submission in self.submissions]

    def pairs(self, on_progress: Progress | None = None) -> list[PairScore]:
        """Every pair, highest score first (ties by name, so the order is reproducible)."""
        count = len(self.submissions)
        total = count * (count - 1) // 2
        scored: list[PairScore] = []
        for done, (i, j) in enumerate(itertools.combinations(range(count), 2), 1):
            cells_i, cells_j = self.cell_sets[i], self.cell_sets[j]
            per_cell = {cell: _score(cells_i[cell], cells_j[cell]) for cell in cells_i.keys() & cells_j.keys()}
            scored.append(PairScore(self.submissions[i].name, self.submissions[j].name,
                                    _score(self.whole_sets[i], self.whole_sets[j]), per_cell))
            if on_progress and done % 2000 == 0:
                on_progress("compare", done, total)
        if on_progress:
            on_progress("compare", total, total)
        scored.sort(key=lambda pair: (-pair.score, pair.a, pair.b))
        return scored

    def matches(self, a: str, b: str) -> list[dict]:
        """Matched regions of a pair: [{"a_cell", "a_lines": [first, last], "b_cell", "b_lines"}],
        consecutive matched k-grams merged, in the order of a's cells and lines."""
        if self._index is None:
            self._index = {name: position for position, name in enumerate(self.names)}
        prints_a = self.prints[self._index[a]]
        where_b = self._first_place(self._index[b])
        order = {cell: position for position, cell in enumerate(prints_a)}
        hits = []
        for cell, fp in prints_a.items():
            for fp_hash, spans in fp.where.items():
                if fp_hash in where_b:
                    b_cell, b_span = where_b[fp_hash]
                    hits.extend((order[cell], cell, span, b_cell, b_span) for span in spans)
        hits.sort(key=lambda hit: (hit[0], hit[2], hit[3], hit[4]))
        merged: list[dict] = []
        for _, cell, span, b_cell, b_span in hits:
            last = merged[-1] if merged else None
            if (last and last["a_cell"] == cell and last["b_cell"] == b_cell
                    and span[0] <= last["a_lines"][1] + 1 and _near(b_span, last["b_lines"])):
                last["a_lines"][1] = max(last["a_lines"][1], span[1])
                last["b_lines"] = [min(last["b_lines"][0], b_span[0]), max(last["b_lines"][1], b_span[1])]
            else:
                merged.append({"a_cell": cell, "a_lines": list(span), "b_cell": b_cell, "b_lines": list(b_span)})
        return merged


def _union_bound(parsed: list[Parsed], start: Bound = (set(), set())) -> Bound:
    """Every name the pieces bind: a name is normalised alike in every cell of a submission."""
    names, attributes = set(start[0]), set(start[1])
    for piece in parsed:
        names |= piece.names
        attributes |= piece.attributes
    return names, attributes


def _score(a: frozenset[int], b: frozenset[int]) -> float:
    if not a or not b:
        return 0.0
    shared = len(a & b)
    return shared * (1 / len(a) + 1 / len(b)) / 2


def _near(span: tuple[int, int], lines: list[int]) -> bool:
    return span[0] <= lines[1] + 1 and span[1] >= lines[0] - 1


def submission_files(folder: Path) -> list[Path]:
    """Every upload in `folder` (one file per student), sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SubmissionRejected(f"{folder} is not a folder of submissions")
    return sorted(path for path in folder.iterdir() if path.is_file() and path.suffix in UPLOAD_SUFFIXES)


def compare(package_dir: Path, files: list[Path], *, names: list[str] | None = None,
            on_progress: Progress | None = None) -> tuple[Comparison, list[PairScore]]:
    """Fingerprint `files` (uploads of the assignment at `package_dir`) and score every pair.
    `names` label the files in the report (default: their file names)."""
    from autograder.package import load_assignment

    assignment = load_assignment(Path(package_dir))
    source_notebook = json.loads(assignment.notebook_path.read_text(encoding="utf-8"))
    read = [read_submission(path, source_notebook, max_bytes=assignment.max_upload_bytes) for path in files]
    for submission, name in zip(read, names or []):
        submission.name = name
    comparison = Comparison(read, starter_texts(source_notebook), on_progress=on_progress)
    return comparison, comparison.pairs(on_progress)


def top_pairs(pairs: list[PairScore], count: int) -> list[PairScore]:
    """The `count` highest pairs overall and the `count` highest of every cell, in overall order:
    a pair copied in one cell only can rank low overall and still be worth a look."""
    chosen = {(pair.a, pair.b) for pair in pairs[:count]}
    cells = {cell for pair in pairs for cell in pair.cells}
    for cell in cells:
        by_cell = sorted((pair for pair in pairs if cell in pair.cells),
                         key=lambda pair: (-pair.cells[cell], pair.a, pair.b))
        chosen |= {(pair.a, pair.b) for pair in by_cell[:count] if pair.cells[cell] > 0}
    return [pair for pair in pairs if (pair.a, pair.b) in chosen]


def report_data(comparison: Comparison, pairs: list[PairScore], *, detail_pairs: int = DETAIL_PAIRS,
                every_pair: bool = True) -> dict:
    """What a report shows: the scores of every pair (or, with `every_pair` False, of the
    detailed ones only), the matched regions of the `top_pairs`, and the solution cells of the
    submissions those pairs involve, with the lines that hold code (a region highlights only
    those: a docstring or comment inside a matched range did not match)."""
    top = top_pairs(pairs, detail_pairs)
    involved = {pair.a for pair in top} | {pair.b for pair in top}
    cells = list(dict.fromkeys(cell for submission in comparison.submissions for cell in submission.cells))
    return {
        "cells": cells,
        "compared": len(comparison.submissions),
        "pairs": [pair.to_dict() for pair in (pairs if every_pair else top)],
        "details": [{"a": pair.a, "b": pair.b, "matches": comparison.matches(pair.a, pair.b)} for pair in top],
        "submissions": {submission.name: {"cells": submission.cells, "error": submission.error,
                                          "code_lines": {cell: sorted(fp.code_lines) for cell, fp in prints.items()}}
                        for submission, prints in zip(comparison.submissions, comparison.prints)
                        if submission.name in involved or submission.error},
    }


def similarity(*, package_dir: Path, submissions_dir: Path, out_dir: Path,
               detail_pairs: int = DETAIL_PAIRS, on_progress: Progress | None = None) -> dict:
    """`dlgrade similarity`: compare every upload in `submissions_dir`; write `pairs.json`
    (every pair, highest first) and `index.html` into `out_dir`; returns the report data."""
    from autograder.similarity_html import render_report

    files = submission_files(submissions_dir)
    if len(files) < 2:
        raise SubmissionRejected(f"{submissions_dir} holds {len(files)} .ipynb/.py file(s); "
                                 "a similarity review needs at least two")
    comparison, pairs = compare(package_dir, files, on_progress=on_progress)
    data = report_data(comparison, pairs, detail_pairs=detail_pairs)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "pairs.json").write_text(json.dumps(
        [{"a": pair["a"], "b": pair["b"], "score": pair["score"]} for pair in data["pairs"]], indent=1) + "\n",
        encoding="utf-8")
    (out_dir / "index.html").write_text(render_report(data, title=Path(package_dir).name), encoding="utf-8")
    return data
