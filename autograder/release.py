"""The student release, built once by the gate with nbgrader's own preprocessors.

`build_release` runs the preprocessors `nbgrader generate_assignment` applies, in its order,
on the instructor's `source.ipynb`, and packs the cleared notebook with the public tests into a
deterministic zip (sorted names, fixed times and modes): its sha256, the release digest, names
its content. The portal stores and serves exactly these bytes.

A notebook nbgrader refuses (unbalanced or nested markers, a solution region outside a solution
cell, duplicate grade ids ...) raises `NotebookRefused` with nbgrader's reason and the cell.
`find_leaks` then checks the built archive: no line of a solution region, hidden-test region or
mark scheme of the instructor notebook may appear in it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import keyword
import logging
import re
import tempfile
import zipfile
from pathlib import Path

import nbformat
from nbconvert.exporters import NotebookExporter
from nbgrader.converters.generate_assignment import GenerateAssignment
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.nbgraderformat.common import SchemaMismatchError, SchemaTooOldError
from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearSolutions, SaveCells
from traitlets.config import Config

from autograder.errors import PackageError
from autograder.package import Assignment

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}


class NotebookRefused(PackageError):
    """nbgrader refuses the instructor notebook; the message names the cell and nbgrader's reason."""


@dataclasses.dataclass(frozen=True)
class Release:
    archive: bytes  # the zip students download
    digest: str  # sha256 hex of `archive`
    notebook_name: str  # the notebook's name inside the archive
    notebook_text: str  # the cleared notebook, as nbgrader writes it
    solution_ids: tuple[str, ...]  # grade ids of the solution cells, for checking uploads


def release_preprocessors() -> list[type]:
    """`nbgrader generate_assignment`'s preprocessors, in its order, read from nbgrader itself,
    less SaveCells: it records the cells in nbgrader's gradebook database, which dlgrade does not
    keep (grading takes the provided cells from the grader bundle), and changes nothing in the
    notebook."""
    default = GenerateAssignment.class_traits()["preprocessors"].make_dynamic_default()
    return [preprocessor for preprocessor in default if preprocessor is not SaveCells]


def cell_label(notebook, index: int | None) -> str:
    """How staff find a cell: its position as Jupyter lists it (1-based) and its grade id."""
    if index is None:
        return "the notebook"
    grade_id = notebook.cells[index].get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"cell {index + 1}" + (f" ('{grade_id}')" if grade_id else "")


def clear_notebook(notebook_path: Path, *, assignment_id: str = "release") -> str:
    """The student's notebook as `nbgrader generate_assignment` writes it."""
    notebook_path = Path(notebook_path)
    notebook = nbformat.read(notebook_path, as_version=4)
    config = Config()
    config.Exporter.default_preprocessors = []
    exporter = NotebookExporter(config=config)
    at_cell: dict[str, int | None] = {"index": None}
    for preprocessor_class in release_preprocessors():
        preprocessor = preprocessor_class(config=config)
        _track_cell(preprocessor, at_cell)
        exporter.register_preprocessor(preprocessor, enabled=True)
    resources = {"metadata": {"path": str(notebook_path.parent)}, "unique_key": notebook_path.stem,
                 "nbgrader": {"notebook": notebook_path.stem, "assignment": assignment_id, "student": "."}}
    errors_logged = _ErrorLog()
    logging.getLogger("traitlets").addHandler(errors_logged)  # where nbgrader's preprocessors log
    try:
        text, _ = exporter.from_notebook_node(notebook, resources=resources)
    except SchemaMismatchError as error:
        which = "an old" if isinstance(error, SchemaTooOldError) else "a newer"
        raise NotebookRefused(f"{notebook_path}: nbgrader refuses it: it uses {which} version of the nbgrader "
                              f"metadata format ({error}). Fix: `nbgrader update` the notebook, or rebuild it "
                              "from notebook.py") from error
    except ValidationError as error:
        index, reason = _metadata_problem(notebook)
        raise NotebookRefused(f"{notebook_path}: {cell_label(notebook, index)}: nbgrader refuses it: {error} "
                              f"({reason})") from error
    except Exception as error:  # InstantiateTests raises a bare Exception and logs the reason
        reason = str(error) or (errors_logged.messages[-1] if errors_logged.messages else type(error).__name__)
        raise NotebookRefused(f"{notebook_path}: {cell_label(notebook, at_cell['index'])}: nbgrader refuses it: "
                              f"{reason}") from error
    finally:
        logging.getLogger("traitlets").removeHandler(errors_logged)
    return text



def release_notebook(notebook: dict) -> dict:
    """`clear_notebook` for an instructor notebook held in memory."""
    with tempfile.TemporaryDirectory(prefix="dlgrade-release-") as folder:
        path = Path(folder) / "source.ipynb"
        path.write_text(json.dumps(notebook))
        return json.loads(clear_notebook(path))

class _ErrorLog(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().split("Cell contents are:")[0].strip())


def _track_cell(preprocessor, at_cell: dict) -> None:
    """Remember which cell a preprocessor works on, so its error can name the cell."""
    whole, one_cell = preprocessor.preprocess, preprocessor.preprocess_cell

    def preprocess(nb, resources):
        at_cell["index"] = None
        return whole(nb, resources)

    def preprocess_cell(cell, resources, index):
        at_cell["index"] = index
        return one_cell(cell, resources, index)

    preprocessor.preprocess, preprocessor.preprocess_cell = preprocess, preprocess_cell


def _metadata_problem(notebook) -> tuple[int | None, str]:
    """The cell and nbgrader's reason behind CheckCellMetadata's generic "failed to validate"."""
    validator = MetadataValidator()
    for index, cell in enumerate(notebook.cells):
        try:
            validator.validate_cell(cell)
        except ValidationError as error:
            return index, str(error)
    try:
        validator.validate_nb(notebook)
    except ValidationError as error:
        duplicate = re.fullmatch(r"Duplicate grade id: (.*)", str(error))
        ids = [cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") for cell in notebook.cells]
        if duplicate and ids.count(duplicate[1]) > 1:
            first = ids.index(duplicate[1])
            return ids.index(duplicate[1], first + 1), f"{error}, also cell {first + 1}"
        return None, str(error)
    return None, "nbgrader gave no detail"


def solution_ids(notebook_text: str) -> tuple[str, ...]:
    notebook = nbformat.reads(notebook_text, as_version=4)
    return tuple(cell.metadata["nbgrader"]["grade_id"] for cell in notebook.cells
                 if cell.get("metadata", {}).get("nbgrader", {}).get("solution")
                 and cell.metadata["nbgrader"].get("grade_id"))


def public_files(assignment: Assignment) -> list[tuple[str, Path]]:
    """The test files a student gets: tests/public/ and tests/helpers.py, by their release name."""
    files = []
    public = assignment.tests_dir / "public"
    for path in sorted(public.rglob("*")):
        relative = path.relative_to(public)
        if path.is_file() and not (_SKIP_PARTS & set(relative.parts)) and path.suffix != ".pyc":
            files.append((f"tests/public/{relative.as_posix()}", path))
    helpers = assignment.tests_dir / "helpers.py"
    if helpers.is_file():
        files.append(("tests/helpers.py", helpers))
    return files


def build_release(assignment: Assignment) -> Release:
    """The cleared notebook and the public tests as a deterministic zip under `<slug>/`."""
    notebook_text = clear_notebook(assignment.notebook_path, assignment_id=assignment.slug)
    notebook_name = f"{assignment.slug}/{assignment.slug}.ipynb"
    members = [(notebook_name, notebook_text.encode("utf-8"))]
    members += [(f"{assignment.slug}/{name}", path.read_bytes()) for name, path in public_files(assignment)]
    data = pack(members)
    return Release(data, hashlib.sha256(data).hexdigest(), notebook_name, notebook_text, solution_ids(notebook_text))


def pack(members: list[tuple[str, bytes]]) -> bytes:
    """A zip whose bytes depend on the members only: sorted names, fixed times and modes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def write_release(release: Release, slug: str, out_dir: Path) -> Path:
    """`out_dir/<slug>-release.zip` and, unpacked beside it, `out_dir/release/<slug>/`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{slug}-release.zip"
    path.write_bytes(release.archive)
    with zipfile.ZipFile(io.BytesIO(release.archive)) as archive:
        archive.extractall(out_dir / "release")
    return path


# --- the leak check --------------------------------------------------------------------------


def _delimiters() -> list[tuple[str, str]]:
    solutions, hidden, marks = ClearSolutions(), ClearHiddenTests(), ClearMarkScheme()
    return [(solutions.begin_solution_delimeter, solutions.end_solution_delimeter),
            (hidden.begin_test_delimeter, hidden.end_test_delimeter),
            (marks.begin_mark_scheme_delimeter, marks.end_mark_scheme_delimeter)]


def _stub_lines() -> set[str]:
    solutions = ClearSolutions()
    stubs = [solutions.text_stub, *solutions.code_stub.values()]
    return {line.strip() for stub in stubs for line in stub.splitlines()}


def is_trivial(line: str) -> bool:
    """Blank lines, lone brackets, `pass`, `else:` ...: lines made of keywords and punctuation only."""
    tokens = re.findall(r"[A-Za-z_]\w*|\d+|\S", line)
    return all(keyword.iskeyword(token) or not (token[0].isalnum() or token[0] == "_") for token in tokens)


def secret_regions(notebook) -> tuple[list[tuple[int, list[str]]], set[str]]:
    """The instructor notebook's secret regions (solutions, hidden tests, mark schemes) as (cell
    index, stripped lines), and the stripped lines of everything else."""
    delimiters = _delimiters()
    regions: list[tuple[int, list[str]]] = []
    public: set[str] = set()
    for index, cell in enumerate(notebook.cells):
        lines = cell.source.splitlines()
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution", False) and \
                not any(delimiters[0][0] in line for line in lines):
            regions.append((index, [line.strip() for line in lines]))  # nbgrader replaces the whole cell
            continue
        inside: tuple[str, str] | None = None
        for line in lines:
            begin = next((pair for pair in delimiters if pair[0] in line), None)
            if begin:
                inside = begin
                regions.append((index, []))
            elif inside and inside[1] in line:
                inside = None
            elif inside:
                regions[-1][1].append(line.strip())
            else:
                public.add(line.strip())
    return regions, public


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in _strings(key) + _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def _pairs(lines: list[str]) -> set[tuple[str, str]]:
    telling = [line for line in lines if not is_trivial(line)]
    return set(zip(telling, telling[1:]))


def find_leaks(notebook_path: Path, archive: bytes) -> list[str]:
    """One problem per instructor-notebook cell whose secret lines appear in the release archive.

    In the released notebook (what nbgrader cleared) one telling line is a leak. The public test
    files are the author's own text, copied as is: there two consecutive telling lines of a
    region are (one line such as `return out` turns up in tests by coincidence). Lines the
    instructor also wrote outside every secret region are public by choice; trivial lines
    (`is_trivial`, nbgrader's stubs) say nothing."""
    notebook = nbformat.read(Path(notebook_path), as_version=4)
    regions, public = secret_regions(notebook)
    ignored = public | _stub_lines()
    notebook_lines: set[str] = set()
    test_pairs: set[tuple[str, str]] = set()
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        for name in zipped.namelist():
            text = zipped.read(name).decode("utf-8", errors="replace")
            if name.endswith(".ipynb"):
                strings = [text] + _strings(json.loads(text))
                notebook_lines.update(line.strip() for string in strings for line in string.splitlines())
            else:
                test_pairs |= _pairs([line.strip() for line in text.splitlines()])
    leaked: dict[int, list[str]] = {}
    for index, lines in regions:
        telling = [line for line in lines if line not in ignored and not is_trivial(line)]
        found = [line for line in telling if line in notebook_lines]
        found += [f"{first} / {second}" for first, second in _pairs(telling) & test_pairs]
        if found:
            leaked.setdefault(index, []).extend(found)
    return [f"{notebook_path}: {cell_label(notebook, index)}: the release leaks {len(lines)} line(s) of its "
            f"solution, hidden tests or mark scheme, e.g. {lines[0][:80]!r}. Fix: put them between nbgrader's "
            "markers in a solution or test cell" for index, lines in sorted(leaked.items())]
