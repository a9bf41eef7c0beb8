"""`dlgrade check NOTEBOOK`: the public tests on a student's own machine.

No sandbox and no reference: the notebook becomes its cells, run one by one as in grading
(its provided cells taken from the notebook itself, which is the released copy), and the
public tests run through the harness in `local` mode, where the tests' own assertions decide.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.cells import write_cells
from autograder.errors import SubmissionRejected
from autograder.notebook import MODULE_FILENAME, notebook_to_module, python_upload_to_module, read_notebook
from autograder.package import find_package

MAX_LOCAL_BYTES = 50 * 2**20
PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the folder holding `autograder`


def find_public_tests(notebook: Path, slug: str | None) -> Path:
    """Public tests next to a released notebook (`tests/public`), else in this repository."""
    beside = notebook.resolve().parent / "tests"
    if (beside / "public").is_dir():
        return beside
    if slug:
        return find_package(slug) / "tests"
    raise SubmissionRejected("no public tests found: keep the notebook in the folder you unzipped the release into "
                             "(it has tests/public), or pass --assignment SLUG")


def check_notebook(notebook: Path, *, slug: str | None = None) -> int:
    data = notebook.read_bytes()
    try:
        if notebook.suffix == ".py":
            converted = python_upload_to_module(data, max_bytes=MAX_LOCAL_BYTES)
        else:
            parsed = read_notebook(data, max_bytes=MAX_LOCAL_BYTES, name=notebook.name)
            slug = slug or parsed.get("metadata", {}).get("dlgrade", {}).get("assignment")
            converted = notebook_to_module(parsed, parsed)
        tests = find_public_tests(notebook, slug)
    except SubmissionRejected as rejection:
        print(f"dlgrade check: {rejection}", file=sys.stderr)
        return 2
    for warning in converted.warnings:
        print(f"warning: {warning}")
    with tempfile.TemporaryDirectory(prefix="dlgrade-check-") as work:
        if converted.cells:
            module = write_cells(Path(work) / "submission", converted.cells)
        else:
            module = Path(work) / MODULE_FILENAME
            module.write_text(converted.source, encoding="utf-8")
        command = [sys.executable, "-m", "autograder.harness.run", "--tests", str(tests), "--module", str(module),
                   "--mode", "local", "--target", str(tests / "public")]
        env = dict(os.environ)
        # The harness of this very dlgrade (it reads the cell files this one wrote), whatever
        # else the interpreter's paths hold.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
        if "TRITON_INTERPRET" not in env and not _cuda_gpu_present():
            env["TRITON_INTERPRET"] = "1"  # Triton kernels run in its interpreter on a CPU-only machine
        print(f"running the public tests of {slug or tests.parent.name} on {notebook.name} ...", flush=True)
        return subprocess.run(command, cwd=work, env=env).returncode


def _cuda_gpu_present() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        return subprocess.run(["nvidia-smi", "-L"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
