"""What a Docker sandbox run costs against a process-backend run of the same job.

Runs the same job through both backends, interleaved (process, docker, process, ...) so that
drift in the machine's load hits both alike, and prints the median wall time of each, the
spread, the ratio docker / process and the difference.

Jobs:
- `harness` (default): the example assignment's public tests against its reference, through
  the in-sandbox harness, as the engine runs a student submission (torch import included);
- `trivial`: `python -c pass`, the bare cost of starting a sandbox.

    .venv/bin/python bench/bench_sandbox_overhead.py [--job harness|trivial] [--runs 20]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from autograder import images  # noqa: E402
from autograder.sandbox import Limits, Mount, SandboxJob, make_sandbox  # noqa: E402
from autograder.sandbox_runs import HARNESS_DIR, HARNESS_TARGET  # noqa: E402

EXAMPLE = REPO_ROOT / "tests" / "example_assignment"


def make_job(kind: str, python: str, work: Path, run_name: str) -> SandboxJob:
    limits = Limits(wall_s=120, memory_mb=4096, cpus=2, pids=512)
    out = work / f"out-{run_name}"
    if kind == "trivial":
        return SandboxJob(argv=[python, "-c", "pass"], mounts=[], output_dir=out, output_target="/grader/out",
                          limits=limits)
    submission = work / "submission"
    if not submission.exists():
        submission.mkdir()
        shutil.copy(EXAMPLE / "reference" / "__init__.py", submission / "submission.py")
    argv = [python, "-m", "autograder.harness.run", "--tests", "/grader/tests",
            "--module", "/grader/submission/submission.py", "--mode", "student", "--out", "/grader/out",
            "--seed", "1", "--target", "/grader/tests/public"]
    mounts = [Mount(HARNESS_DIR, HARNESS_TARGET), Mount(EXAMPLE / "tests", "/grader/tests"),
              Mount(submission, "/grader/submission")]
    return SandboxJob(argv=argv, mounts=mounts, output_dir=out, output_target="/grader/out", limits=limits,
                      env={"PYTHONPATH": "/grader/lib"})


def quartiles(times: list[float]) -> tuple[float, float, float]:
    q1, median, q3 = statistics.quantiles(times, n=4)
    return q1, statistics.median(times), q3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--job", choices=["harness", "trivial"], default="harness")
    parser.add_argument("--runs", type=int, default=20, help="runs of each backend (default 20)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    options = parser.parse_args(argv)

    process = make_sandbox("process")
    docker = make_sandbox("docker", image=images.build_image("cpu"))
    backends = {"process": (process, getattr(process, "python", sys.executable)),
                "docker": (docker, "python3")}
    times: dict[str, list[float]] = {name: [] for name in backends}
    with tempfile.TemporaryDirectory(prefix="dlgrade-bench-") as work_dir:
        work = Path(work_dir)
        # One warm-up run each: page cache, image layers, the first import of torch.
        for name, (sandbox, python) in backends.items():
            sandbox.run(make_job(options.job, python, work, f"{name}-warm-up"))
        for index in range(1, options.runs + 1):
            for name, (sandbox, python) in backends.items():
                started = time.perf_counter()
                outcome = sandbox.run(make_job(options.job, python, work, f"{name}-{index}"))
                elapsed = time.perf_counter() - started
                if outcome.exit_code != 0:
                    raise SystemExit(f"{name} run {index} failed (exit {outcome.exit_code}): {outcome.stderr[-1000:]}")
                times[name].append(elapsed)
            print(f"run {index:2d}: process {times['process'][-1]:.3f} s, docker {times['docker'][-1]:.3f} s",
                  file=sys.stderr)

    figures = {name: dict(zip(("q1_s", "median_s", "q3_s"), quartiles(values))) for name, values in times.items()}
    ratio = figures["docker"]["median_s"] / figures["process"]["median_s"]
    difference = figures["docker"]["median_s"] - figures["process"]["median_s"]
    print(f"job: {options.job}, {options.runs} runs of each backend, interleaved")
    for name, figure in figures.items():
        print(f"  {name:8s} median {figure['median_s']:.3f} s  (quartiles {figure['q1_s']:.3f} – {figure['q3_s']:.3f})")
    print(f"  docker / process: {ratio:.2f}x  (docker costs {difference:+.3f} s per run)")
    if options.json:
        options.json.write_text(json.dumps({"job": options.job, "runs": options.runs, "figures": figures,
                                            "ratio": ratio, "difference_s": difference}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
