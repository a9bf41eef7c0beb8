"""Entry point inside the sandbox: `python -m autograder.harness.run ...`.

Runs pytest on the assignment's tests with the grader's own configuration: no conftest.py,
no ini file, no plugin but ours, so nothing a submission ships changes how tests run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HARNESS_INI = Path(__file__).with_name("pytest.ini")


def pytest_args(*, tests: Path, module: Path, mode: str, out: Path | None, seed: int,
                config: Path | None, only: Path | None, targets: list[str]) -> list[str]:
    args = [
        *(targets or [str(tests)]),
        "-p", "autograder.harness.plugin",
        "-p", "no:cacheprovider",
        "-p", "no:stepwise",
        "--noconftest",
        "-c", str(HARNESS_INI),
        "--rootdir", str(tests),
        "--import-mode=importlib",
        "-q", "-rN", "--no-header", "--tb=short",
        "--dlgrade-module", str(module),
        "--dlgrade-mode", mode,
        "--dlgrade-seed", str(seed),
    ]
    if out is not None:
        args += ["--dlgrade-out", str(out)]
    if config is not None:
        args += ["--dlgrade-config", str(config)]
    if only is not None:
        args += ["--dlgrade-only", str(only)]
    return args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autograder.harness.run")
    parser.add_argument("--tests", type=Path, required=True)
    parser.add_argument("--module", type=Path, required=True)
    parser.add_argument("--mode", choices=["student", "trusted", "local"], required=True)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path)
    parser.add_argument("--only", type=Path)
    parser.add_argument("--target", action="append", default=[],
                        help="run only these test files or folders (default: all under --tests)")
    parser.add_argument("--path", type=Path, action="append", default=[],
                        help="extra folder put on sys.path (mutant runs: the reference)")
    options = parser.parse_args(argv)
    for variable in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        os.environ.pop(variable, None)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    # `import helpers` in tests; the module under test is imported by path, not by name.
    sys.path[:0] = [str(options.tests)] + [str(path) for path in options.path]
    import pytest

    return int(pytest.main(pytest_args(
        tests=options.tests, module=options.module, mode=options.mode, out=options.out, seed=options.seed,
        config=options.config, only=options.only, targets=options.target,
    )))


if __name__ == "__main__":
    sys.exit(main())
