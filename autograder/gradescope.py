"""Running dlgrade inside Gradescope's autograder (gradescope-autograders.readthedocs.io, specs).

`write_zip` builds the autograder zip a course uploads to Gradescope: `setup.sh` and
`run_autograder` (grader_images/gradescope/) at its root, the engine under `dlgrade/`, the
assignment package under `assignment/`. For each submission `run_autograder` calls `grade_submission`,
which grades the notebook in `<root>/submission` and writes `<root>/results/results.json`
(autograder/result.py `to_gradescope`). The root is the `gradescope_root` setting
(`DLGRADE_GRADESCOPE_ROOT`, default /autograder).
"""

from __future__ import annotations

import json
import time
import tomllib
import zipfile
from pathlib import Path

from autograder import config
from autograder.errors import GradingError
from autograder.result import GradeResult, format_table, to_gradescope

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "grader_images" / "gradescope"
GRADER_REQUIREMENTS = REPO / "grader_images" / "cpu" / "requirements.txt"
SUBMISSION_SUFFIXES = (".ipynb", ".py")


def submission_file(folder: Path) -> Path | None:
    """The student's notebook (or .py) in Gradescope's submission folder: the first by name."""
    found = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in SUBMISSION_SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    ipynb = [p for p in found if p.suffix == ".ipynb"]
    return (ipynb or found or [None])[0]


def grade_submission(package: Path, *, root: Path | None = None, sandbox: str | None = None,
                     hardware: str | None = None) -> dict:
    """Grade `<root>/submission`, write `<root>/results/results.json`; returns dlgrade's result."""
    from autograder.grading import grade
    from autograder.package import load_assignment

    root = Path(root or config.get("gradescope_root"))
    started = time.monotonic()
    submission = submission_file(root / "submission")
    if submission is None:
        result = GradeResult(status="rejected", assignment=load_assignment(package).slug,
                             message="No notebook (.ipynb) in your submission: upload the assignment's notebook.",
                             run={"durations": {"total_s": round(time.monotonic() - started, 3)}}).to_dict()
    else:
        try:
            result = grade(package, submission, sandbox=sandbox or config.get("sandbox"), hardware=hardware).to_dict()
        except GradingError as error:
            # A last-ditch results.json: the student reads that the grader failed, not a silent 0;
            # the reason goes to stdout, which Gradescope shows to staff only.
            print(f"dlgrade: grading failed: {error}")
            result = GradeResult(status="error", assignment=load_assignment(package).slug,
                                 message="The autograder failed on this submission (not your code's score); "
                                         "course staff can see why. Submit again, or ask them.",
                                 run={"durations": {"total_s": round(time.monotonic() - started, 3)}}).to_dict()
    results = root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(to_gradescope(result), indent=2) + "\n", encoding="utf-8")
    print(format_table(result))
    return result


def _requirements() -> str:
    """The grader image's packages plus dlgrade's own dependencies (from pyproject.toml)."""
    own = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = [line for line in GRADER_REQUIREMENTS.read_text().splitlines() if line and not line.startswith("#")]
    names = {line.split("=")[0].split(">")[0].strip().lower() for line in lines}
    return "\n".join(lines + [dep for dep in own if dep.split("=")[0].split(">")[0].strip().lower() not in names]) + "\n"


def _add_tree(archive: zipfile.ZipFile, folder: Path, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            archive.write(path, f"{prefix}/{path.relative_to(folder).as_posix()}")


def write_zip(package: Path, out: Path) -> Path:
    """The autograder zip for one assignment package."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for script in ("setup.sh", "run_autograder"):
            info = zipfile.ZipInfo(script)
            info.external_attr = 0o100755 << 16  # executable once unzipped
            archive.writestr(info, (SCRIPTS / script).read_bytes())
        _add_tree(archive, REPO / "autograder", "dlgrade/autograder")
        archive.writestr("dlgrade/requirements.txt", _requirements())
        _add_tree(archive, package, "assignment")
    return out
