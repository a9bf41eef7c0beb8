"""The whole engine on a GPU host: grade GPU assignments' references (and chosen mutants)
through `autograder.grading.grade` with the process sandbox, the way a GPU worker does, and
print a table of scores and perf figures. Run on the GPU machine from the repository root:

    python3 bench/gpu_engine_check.py --out OUT_DIR triton_kernels qlora ...

`assignment:mutant` grades that mutant (importing the reference as reference_solution, as the
gate does); `assignment:notebook` grades the filled instructor notebook (`source.ipynb`) the way
a student upload is graded, cell by cell from real files (Triton's @jit reads them). Results JSON
go to OUT_DIR.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder.grading import grade  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gpu", type=int, default=0)
    parser.add_argument("targets", nargs="+", help="slug, or slug:mutant_name")
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for target in options.targets:
        slug, _, mutant = target.partition(":")
        package = REPO / "assignments" / slug
        if mutant == "notebook":
            submission = package / "source.ipynb"
        else:
            submission = package / "mutants" / f"{mutant}.py" if mutant else REPO / "reference" / slug
        started = time.monotonic()
        result = grade(package, submission, seed=options.seed, gpus=(options.gpu,),
                       with_reference_solution=bool(mutant) and mutant != "notebook").to_dict()
        elapsed = time.monotonic() - started
        name = target.replace(":", "__")
        (options.out / f"{name}.json").write_text(json.dumps(result, indent=1))
        rows.append((target, result, elapsed))
        print(f"== {target}: {result['status']} {result['score']:.2f}/{result['max_score']:.2f} "
              f"(unmeasured {result['unmeasured_points']}) in {elapsed:.0f} s on {result['run'].get('hardware')}",
              flush=True)
        durations = result["run"].get("durations", {})
        print(f"   trusted {durations.get('trusted_s')} s, student {durations.get('student_s')} s, "
              f"cached trusted run: {result['run'].get('trusted_cached')}; notes: {result.get('warnings')}", flush=True)
        for test in result["tests"]:
            if test["status"] != "pass" or test.get("perf"):
                perf = test.get("perf") or {}
                figures = ", ".join(f"{key}={value:.3g}" for key, value in perf.items() if isinstance(value, float))
                print(f"   {test['status']:<12} {test['score']:.2f}/{test['max_score']:.2f} {test['name']}: "
                      f"{test['message'][:160]} {figures}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
