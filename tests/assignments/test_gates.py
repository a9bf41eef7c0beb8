"""Every assignment package passes its gate: the reference and the filled notebook get full
marks, the cleared starter zero on correctness, and every mutant loses points on its part.
This grades each package's reference, starter and mutants through the engine."""

from pathlib import Path

import pytest

from autograder.assign import assign

from tests.conftest import EXAMPLE, REPO

PACKAGES = sorted(path for path in (REPO / "assignments").glob("*") if (path / "assignment.toml").is_file())


@pytest.mark.slow
@pytest.mark.parametrize("package", [EXAMPLE, *PACKAGES], ids=lambda path: Path(path).name)
def test_gate_passes(package, tmp_path):
    report = assign(package, out_dir=tmp_path, jobs=2)
    print(report.format())
    assert report.passed, report.format()
    kinds = {entry.kind for entry in report.entries}
    assert kinds == {"reference", "notebook", "starter", "mutant"}
    assert report.bundle_path.is_file() and report.release_path.is_file()
