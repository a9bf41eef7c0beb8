"""Similarity review: the corpus under tests/similarity_corpus ranks copies above independent
work; the starter never counts; bad uploads are reported, not fatal; the CLI writes the report."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from autograder.cli import main
from autograder.notebook import source_cells
from autograder.release import release_notebook
from autograder.similarity import FILE_CELL, compare, submission_files

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "similarity_corpus"


def _load_make_corpus():
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _is_copy_of_reference(name: str) -> bool:
    return name.startswith("copy_") or name == "reference.ipynb"


@pytest.mark.parametrize("slug", ["backprop", "kv_cache"])
def test_corpus_on_disk_is_what_make_corpus_builds(slug):
    built = _load_make_corpus().corpus(slug)
    on_disk = {path.name for path in (CORPUS / slug).glob("*.ipynb")}
    assert on_disk == set(built), "run python tests/similarity_corpus/make_corpus.py"
    for name, notebook in built.items():
        assert json.loads((CORPUS / slug / name).read_text()) == notebook, \
            f"{slug}/{name} is stale: run python tests/similarity_corpus/make_corpus.py"


@pytest.mark.parametrize("slug", ["backprop", "kv_cache"])
def test_every_disguised_copy_ranks_above_every_independent_pair(slug):
    _, pairs = compare(REPO / "assignments" / slug, submission_files(CORPUS / slug))
    true_pairs = [p for p in pairs if _is_copy_of_reference(p.a) and _is_copy_of_reference(p.b)]
    independent = [p for p in pairs if not (_is_copy_of_reference(p.a) and _is_copy_of_reference(p.b))]
    assert len(true_pairs) == 21 and len(independent) == 7  # 7 copies of one code, 1 independent solution
    lowest_copy = min(true_pairs, key=lambda p: p.score)
    highest_independent = max(independent, key=lambda p: p.score)
    top = pairs[:len(true_pairs)]
    precision = sum(_is_copy_of_reference(p.a) and _is_copy_of_reference(p.b) for p in top) / len(true_pairs)
    print(f"\n{slug}: precision at {len(true_pairs)} true pairs = {precision:.2f}; lowest copy pair "
          f"{lowest_copy.a}/{lowest_copy.b} {lowest_copy.score:.3f}, highest independent pair "
          f"{highest_independent.a}/{highest_independent.b} {highest_independent.score:.3f}")
    assert lowest_copy.score > highest_independent.score
    assert precision == 1.0
    # per cell too: in every cell, each copy of the reference is closer to it than the independent solution
    by_pair = {(p.a, p.b): p for p in pairs}
    for copy in (name for name in {p.a for p in pairs} | {p.b for p in pairs} if name.startswith("copy_")):
        to_reference = by_pair[tuple(sorted((copy, "reference.ipynb")))]
        to_independent = by_pair[tuple(sorted((copy, "independent.ipynb")))]
        for cell, score in to_reference.cells.items():
            assert score > to_independent.cells[cell], (copy, cell)


def test_the_starter_never_counts(tmp_path):
    source = json.loads((REPO / "assignments" / "backprop" / "source.ipynb").read_text())
    for name in ("starter_a.ipynb", "starter_b.ipynb"):
        (tmp_path / name).write_text(json.dumps(release_notebook(source)))
    shutil.copy(CORPUS / "backprop" / "reference.ipynb", tmp_path / "reference.ipynb")
    _, pairs = compare(REPO / "assignments" / "backprop", submission_files(tmp_path))
    assert {(p.a, p.b): p.score for p in pairs} == {
        ("reference.ipynb", "starter_a.ipynb"): 0.0, ("reference.ipynb", "starter_b.ipynb"): 0.0,
        ("starter_a.ipynb", "starter_b.ipynb"): 0.0}


def test_py_upload_counts_whole_and_bad_uploads_are_reported(tmp_path):
    source = json.loads((REPO / "assignments" / "kv_cache" / "source.ipynb").read_text())
    make_corpus = _load_make_corpus()
    reference = make_corpus.reference_cells(source)
    # a .py module a student hands in: the provided cells (which never count) and the solution cells
    provided = [c for c in source_cells(source) if c.kind == "provided"]
    module = "\n\n".join([c.source for c in provided] + list(reference.values()))
    (tmp_path / "module_copy.py").write_text(module)
    shutil.copy(CORPUS / "kv_cache" / "reference.ipynb", tmp_path / "reference.ipynb")
    shutil.copy(CORPUS / "kv_cache" / "independent.ipynb", tmp_path / "independent.ipynb")
    (tmp_path / "broken.ipynb").write_text("{ not json")
    comparison, pairs = compare(REPO / "assignments" / "kv_cache", submission_files(tmp_path))
    scores = {(p.a, p.b): p for p in pairs}
    assert len(pairs) == 6
    assert scores[("module_copy.py", "reference.ipynb")].score > 0.95
    assert scores[("independent.ipynb", "module_copy.py")].score < 0.2
    assert scores[("module_copy.py", "reference.ipynb")].cells == {}  # a file has no cells to pair
    broken = next(s for s in comparison.submissions if s.name == "broken.ipynb")
    assert "not valid JSON" in broken.error and broken.cells == {}
    assert all(p.score == 0.0 for p in pairs if "broken.ipynb" in (p.a, p.b))
    assert list(next(s for s in comparison.submissions if s.name == "module_copy.py").cells) == [FILE_CELL]


def test_matched_regions_follow_reordered_methods():
    comparison, _ = compare(REPO / "assignments" / "backprop", submission_files(CORPUS / "backprop"))
    matches = comparison.matches("copy_reordered.ipynb", "reference.ipynb")
    reordered = {s.name: s for s in comparison.submissions}["copy_reordered.ipynb"].cells["linear"]
    reference = {s.name: s for s in comparison.submissions}["reference.ipynb"].cells["linear"]
    linear = [m for m in matches if m["a_cell"] == "linear"]
    assert linear and all(m["b_cell"] == "linear" for m in linear)
    backward_in_copy = reordered.splitlines().index("    def backward(ctx, grad_out):") + 1
    backward_in_reference = reference.splitlines().index("    def backward(ctx, grad_out):") + 1
    # the copy's backward comes first; its match in the reference lies after the reference's forward
    first = linear[0]
    assert first["a_lines"][0] >= backward_in_copy and first["b_lines"][0] >= backward_in_reference
    # the lines that hold code: not the docstring, not a comment
    code = set(comparison.prints[comparison.names.index("reference.ipynb")]["linear"].code_lines)
    lines = reference.splitlines()
    docstring_first = next(n for n, line in enumerate(lines, 1) if line.strip().startswith('"""y = x W'))
    assert docstring_first not in code
    assert lines.index("    Backward, with g = dL/dy of shape (..., out):") + 1 not in code
    assert next(n for n, line in enumerate(lines, 1) if line.strip().startswith("# Fold every")) not in code
    assert lines.index("        ctx.save_for_backward(x, weight)") + 1 in code


def test_cli_writes_every_pair_and_escapes_student_text(tmp_path, capsys):
    submissions = tmp_path / "subs"
    shutil.copytree(CORPUS / "backprop", submissions)
    hostile = json.loads((submissions / "copy_renamed.ipynb").read_text())
    for cell in hostile["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "dropout":
            cell["source"] += "\n# </pre><script>alert(1)</script>\n"
    (submissions / "copy_renamed.ipynb").write_text(json.dumps(hostile))
    (submissions / "notes.txt").write_text("not a submission")
    out = tmp_path / "report"
    assert main(["similarity", "backprop", str(submissions), "--out", str(out)]) == 0
    pairs = json.loads((out / "pairs.json").read_text())
    assert len(pairs) == 8 * 7 // 2 and set(pairs[0]) == {"a", "b", "score"}
    assert [p["score"] for p in pairs] == sorted((p["score"] for p in pairs), reverse=True)
    assert all(0.0 <= p["score"] <= 1.0 for p in pairs)
    page = (out / "index.html").read_text()
    assert "<script>" not in page and "&lt;/pre&gt;&lt;script&gt;" in page
    assert 'class="m"' in page  # matched lines highlighted
    assert "28 pairs" in capsys.readouterr().out


def test_cli_needs_two_submissions(tmp_path, capsys):
    (tmp_path / "one.ipynb").write_text("{}")
    assert main(["similarity", "backprop", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert "at least two" in capsys.readouterr().err
