"""`dlgrade`: a thin shell over the engine's entry functions.

    dlgrade grade --assignment SLUG SUBMISSION [--json OUT] [--gradescope OUT] [--sandbox process|docker] [--seed N]
    dlgrade check NOTEBOOK [--assignment SLUG]
    dlgrade assign SLUG [--out DIR] [--sandbox process|docker] [--json OUT] [--gpu N] [--mutation-report [--mutate NAME]]
    dlgrade similarity SLUG SUBMISSIONS_DIR --out REPORT_DIR [--detail N]
    dlgrade gradescope-zip SLUG --out ZIP      (the autograder zip to upload to Gradescope)
    dlgrade gradescope --assignment PACKAGE    (inside Gradescope: what run_autograder calls)

Exit codes: 0 when grading worked (whatever the score, or a rejected upload); 1 when the gate
failed (assign) or public tests failed (check); 2 when grading itself failed or the command
was wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from autograder.errors import GradingError, PackageError, SubmissionRejected


def _write_json(path: str | None, data: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def cmd_grade(options) -> int:
    from autograder.grading import grade
    from autograder.package import find_package
    from autograder.result import format_table, to_gradescope

    package = find_package(options.assignment)
    result = grade(package, Path(options.submission), sandbox=options.sandbox, seed=options.seed,
                   hardware=options.hardware, gpus=tuple(options.gpu or ())).to_dict()
    print(format_table(result))
    _write_json(options.json, result)
    if options.gradescope:
        _write_json(options.gradescope, to_gradescope(result))
    return 0


def cmd_assign(options) -> int:
    from autograder.assign import assign
    from autograder.package import find_package

    package = find_package(options.slug)
    print(f"gate for {package.name}: grading the reference, the notebook, the starter and every mutant ...",
          flush=True)
    scope = {"functions": tuple(options.mutate) if options.mutate else None}
    report = assign(package, out_dir=Path(options.out) if options.out else None, sandbox=options.sandbox,
                    seed=options.seed, jobs=options.jobs, log=lambda line: print(line, flush=True),
                    mutation_report=options.mutation_report, mutation_scope=scope, gpus=tuple(options.gpu or ()))
    if report.mutation:
        print(Path(report.mutation["files"][1]).read_text(encoding="utf-8"), end="")
    print(report.format())
    _write_json(options.json, report.to_dict())
    return 0 if report.passed else 1


def cmd_check(options) -> int:
    from autograder.local_check import check_notebook

    return check_notebook(Path(options.notebook), slug=options.assignment)


def cmd_similarity(options) -> int:
    from autograder.package import find_package
    from autograder.similarity import similarity

    def progress(phase: str, done: int, total: int) -> None:
        if phase == "fingerprint" and done == total:
            print(f"read {total} submissions; comparing every pair ...", flush=True)

    data = similarity(package_dir=find_package(options.slug), submissions_dir=Path(options.submissions),
                      out_dir=Path(options.out), detail_pairs=options.detail, on_progress=progress)
    for pair in data["pairs"][:10]:
        print(f"{pair['score']:.3f}  {pair['a']}  {pair['b']}")
    for name, info in sorted(data["submissions"].items()):
        if info["error"]:
            print(f"not read: {name}: {info['error']}")
    print(f"{len(data['pairs'])} pairs: {Path(options.out) / 'pairs.json'}, {Path(options.out) / 'index.html'}")
    return 0


def cmd_gradescope(options) -> int:
    from autograder.gradescope import grade_submission
    from autograder.package import find_package

    grade_submission(find_package(options.assignment), sandbox=options.sandbox, hardware=options.hardware)
    return 0


def cmd_gradescope_zip(options) -> int:
    from autograder.gradescope import write_zip
    from autograder.package import find_package

    print(f"wrote {write_zip(find_package(options.slug), Path(options.out))}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dlgrade", description="Autograding for deep-learning systems courses")
    commands = parser.add_subparsers(dest="command", required=True)

    grade = commands.add_parser("grade", help="grade one submission against the hidden tests")
    grade.add_argument("--assignment", required=True, help="slug under assignments/, or a package folder")
    grade.add_argument("submission", help=".ipynb or .py file")
    grade.add_argument("--json", help="write the result JSON here")
    grade.add_argument("--gradescope", help="also write Gradescope's results.json here")
    grade.add_argument("--sandbox", default=None, choices=["process", "docker"])
    grade.add_argument("--seed", type=int, default=None, help="grading seed (default: one from the bundle's pool)")
    grade.add_argument("--hardware", default=None, help="hardware name for perf specs (default: detected)")
    grade.add_argument("--gpu", type=int, action="append", help="GPU index this run may use (repeatable)")
    grade.set_defaults(run=cmd_grade)

    check = commands.add_parser("check", help="run the public tests on your notebook, locally")
    check.add_argument("notebook")
    check.add_argument("--assignment", help="slug (default: read from the notebook)")
    check.set_defaults(run=cmd_check)

    assign = commands.add_parser("assign", help="validate a package, build release and bundle, run the gate")
    assign.add_argument("slug")
    assign.add_argument("--out", help="output folder (default: a new temporary folder, printed at the end)")
    assign.add_argument("--sandbox", default=None, choices=["process", "docker"])
    assign.add_argument("--seed", type=int, default=None)
    assign.add_argument("--jobs", type=int, default=2, help="gradings in parallel")
    assign.add_argument("--json", help="write the gate report JSON here")
    assign.add_argument("--gpu", type=int, action="append",
                        help="GPU index every grading of the gate (and mutation report) may use (repeatable)")
    assign.add_argument("--mutation-report", action="store_true",
                        help="also grade automatic mutants of the reference's solution code; report the survivors "
                             "(mutation.txt/.json/.md in the output folder) and fail below [mutation] required_score")
    assign.add_argument("--mutate", action="append", metavar="NAME",
                        help="with --mutation-report: mutate only this solution function or class (repeatable)")
    assign.set_defaults(run=cmd_assign)

    similar = commands.add_parser("similarity", help="staff: rank every pair of submissions by shared solution code")
    similar.add_argument("slug", help="slug under assignments/, or a package folder")
    similar.add_argument("submissions", help="folder of uploads (.ipynb or .py), one file per student")
    similar.add_argument("--out", required=True, help="report folder: pairs.json and index.html")
    similar.add_argument("--detail", type=int, default=200, help="pairs shown side by side in index.html")
    similar.set_defaults(run=cmd_similarity)
    gradescope = commands.add_parser("gradescope", help="inside Gradescope: grade /autograder/submission, "
                                                        "write /autograder/results/results.json")
    gradescope.add_argument("--assignment", required=True, help="the package folder")
    gradescope.add_argument("--sandbox", default=None, choices=["process", "docker"])
    gradescope.add_argument("--hardware", default=None, help="hardware name for perf specs (default: detected)")
    gradescope.set_defaults(run=cmd_gradescope)

    gradescope_zip = commands.add_parser("gradescope-zip", help="build the autograder zip for Gradescope")
    gradescope_zip.add_argument("slug", help="slug under assignments/, or a package folder")
    gradescope_zip.add_argument("--out", required=True, help="where to write the .zip")
    gradescope_zip.set_defaults(run=cmd_gradescope_zip)
    return parser


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    if getattr(options, "sandbox", "unset") is None:
        from autograder import config

        options.sandbox = config.get("sandbox")
    try:
        return options.run(options)
    except PackageError as error:
        print(f"dlgrade: assignment package problem: {error}", file=sys.stderr)
        return 2
    except GradingError as error:
        print(f"dlgrade: grading failed: {error}", file=sys.stderr)
        return 2
    except SubmissionRejected as error:  # only commands that read many uploads let it out
        print(f"dlgrade: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
