"""Where the time of one harness run goes: per test, per part, process start-up, and how many
Triton kernels it compiled. Runs the in-sandbox harness directly (no sandbox), the way
bench/gpu_triton_kernels.py does, with Triton's compile cache in a folder of our choosing so that
a cold and a warm run can be compared. Run from the repository root on the GPU host:

    python3 bench/gpu_grading_time.py --out OUT --label cold --cache /tmp/tc triton_kernels
    python3 bench/gpu_grading_time.py --out OUT --label warm --cache /tmp/tc triton_kernels
    python3 bench/gpu_grading_time.py --out OUT --label fixed --cache /tmp/tc2 --mode student \\
        --fixed-matmul triton_kernels

`--fixed-matmul` grades a copy of the reference whose matmul launches the jitted kernel with
one fixed configuration (the first of the autotuner's): a non-autotuned solution. Prints a
table; writes the run's records and a summary JSON to OUT.

`--lanes 1,8` grades through the engine instead (`autograder.grading.grade`, process sandbox,
GPU 0 where nvidia-smi finds one), once per lane count, side by side: the student run's time
with its correctness tests in that many concurrent sandbox runs, perf tests after them alone
(autograder/lanes.py). The first grading pays the trusted run (cached under OUT for the
others, or in --engine-cache, shared by several labels); every grading's student runs start
with a cold compile cache, which their lanes, perf run and re-measure share. `--split tests`
balances the lanes test by test instead of keeping a part's tests together:

    python3 bench/gpu_grading_time.py --out OUT --label lanes --cache /tmp/tc3 --fixed-matmul \
        --lanes 1,8 triton_kernels
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder.package import load_assignment

# The reference's first autotuner configuration for every size, no tuning: a non-autotuned solution.
FIXED_MATMUL = {"AUTOTUNE_FROM_VOLUME = 2048**3": 'AUTOTUNE_FROM_VOLUME = float("inf")',
                "SMALL_PROBLEM_CONFIG = dict(BLOCK_M=64, BLOCK_N=64, BLOCK_K=32, GROUP_M=8, num_warps=4, num_stages=3)":
                "SMALL_PROBLEM_CONFIG = dict(BLOCK_M=128, BLOCK_N=256, BLOCK_K=64, GROUP_M=8, num_warps=8, "
                "num_stages=3)"}


def fixed_matmul_copy(reference: Path, into: Path) -> Path:
    """The reference with its matmul autotuner bypassed: one fixed launch configuration."""
    target = into / reference.name
    shutil.copytree(reference, target)
    source_file = target / "tiled_matmul.py"
    source = source_file.read_text()
    for old, new in FIXED_MATMUL.items():
        if source.count(old) != 1:
            raise SystemExit(f"could not patch the reference's matmul: {old!r} not found once")
        source = source.replace(old, new)
    source_file.write_text(source)
    return target


def compiled_kernels(cache: Path) -> collections.Counter:
    """Kernel name -> how many compiled variants (cubins) the cache holds."""
    return collections.Counter(path.stem for path in cache.rglob("*.cubin"))


def grade_in_lanes(options, assignment, lane_counts: list[int], out: Path) -> int:
    """One engine grading per lane count of the reference (or its fixed-matmul copy), the
    trusted run cached after the first; prints and writes the student run's time split."""
    os.environ["DLGRADE_CACHE_DIR"] = str(options.engine_cache or out / "engine-cache")
    from autograder import lanes as lanes_module, student_run
    from autograder.grading import grade

    if options.split == "tests":  # every test a group of its own, the comparison's other side
        student_run.split = lambda *args, **kwargs: lanes_module.split(*args, **kwargs, keep_parts=False)

    gpus = (0,) if shutil.which("nvidia-smi") else ()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        scratch_dir.chmod(0o755)  # runs that drop to nobody read the submission here
        module = fixed_matmul_copy(assignment.reference_dir, scratch_dir) if options.fixed_matmul \
            else assignment.reference_dir
        for lanes in lane_counts:
            result = grade(assignment.root, module, sandbox="process", seed=options.seed, gpus=gpus,
                           run_lanes=lanes).to_dict()
            runs = [{key: run.get(key) for key in ("lane", "tests", "start_s", "end_s", "wall_s", "ended")}
                    for run in result["run"]["student_runs"]]
            row = {"lanes": lanes, "score": result["score"], "max_score": result["max_score"],
                   "unmeasured_points": result.get("unmeasured_points"), "hardware": result["run"]["hardware"],
                   "durations": result["run"]["durations"], "restarts": result["run"]["restarts"], "runs": runs,
                   "split": options.split}
            rows.append(row)
            durations = row["durations"]
            print(f"== lanes {lanes}: student run {durations['student_s']:.1f} s "
                  f"(trusted {durations['trusted_s']:.1f} s, total {durations['total_s']:.1f} s), score {row['score']:.2f}/{row['max_score']:.2f}, "
                  f"{row['restarts']} restarts, on {row['hardware']}, split by {options.split}")
            for run in runs:
                print(f"   lane {run['lane']}: {run['tests']} tests, {run['start_s']:.1f} -> {run['end_s']:.1f} s, "
                      f"{run['ended']}")
    (out / "lanes.json").write_text(json.dumps({"label": options.label, "fixed_matmul": options.fixed_matmul,
                                                "seed": options.seed, "gradings": rows}, indent=1))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--label", required=True)
    parser.add_argument("--cache", type=Path, required=True, help="TRITON_CACHE_DIR for the run")
    parser.add_argument("--mode", default="trusted", choices=["trusted", "student"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fixed-matmul", action="store_true")
    parser.add_argument("--lanes", help="comma-separated lane counts: grade through the engine once per count")
    parser.add_argument("--engine-cache", type=Path, help="with --lanes: the engine's cache folder (trusted runs "
                        "and their compile cache), to share one across labels (default: under OUT/LABEL)")
    parser.add_argument("--split", default="parts", choices=["parts", "tests"],
                        help="with --lanes: keep a part's tests in one lane where that balances (the engine's "
                             "way), or balance test by test")
    parser.add_argument("slug")
    options = parser.parse_args()
    assignment = load_assignment(REPO / "assignments" / options.slug)
    out = options.out / options.label
    out.mkdir(parents=True, exist_ok=True)
    options.cache.mkdir(parents=True, exist_ok=True)
    if options.lanes:
        return grade_in_lanes(options, assignment, [int(count) for count in options.lanes.split(",")], out)
    before = compiled_kernels(options.cache)
    with tempfile.TemporaryDirectory() as scratch:
        module = assignment.reference_dir
        if options.fixed_matmul:
            module = fixed_matmul_copy(module, Path(scratch))
        config = Path(scratch) / "run.json"
        config.write_text(json.dumps(assignment.run_config()))
        records = Path(scratch) / "records"
        argv = [sys.executable, "-m", "autograder.harness.run", "--tests", str(assignment.tests_dir),
                "--module", str(module), "--mode", options.mode, "--out", str(records),
                "--seed", str(options.seed), "--config", str(config)]
        env = {**os.environ, "TRITON_CACHE_DIR": str(options.cache), "PYTHONPATH": str(REPO),
               "TRITON_PRINT_AUTOTUNING": "1"}
        started = time.monotonic()
        proc = subprocess.run(argv, env=env, cwd=scratch, capture_output=True, text=True, check=False)
        wall = time.monotonic() - started
        if proc.returncode not in (0, 1):
            (out / "harness.log").write_text(proc.stdout[-200000:] + "\n--- stderr\n" + proc.stderr[-200000:])
        # TRITON_PRINT_AUTOTUNING=1: "Triton autotuning for function X, with key as (...), finished after S s"
        autotunings = [float(m) for m in re.findall(r"autotuning for function .*?finished after ([0-9.]+)s",
                                                     proc.stdout + proc.stderr, re.DOTALL)]
        lines = [json.loads(line) for line in (records / "records.jsonl").read_text().splitlines() if line.strip()]
        shutil.copy(records / "records.jsonl", out / "records.jsonl")
    tests = [line for line in lines if "nodeid" in line and "duration_s" in line]
    after = compiled_kernels(options.cache)
    new = after - before
    by_part = collections.defaultdict(float)
    by_file = collections.defaultdict(float)
    for test in tests:
        by_part[test.get("part") or "?"] += test["duration_s"]
        by_file[test["nodeid"].split("::")[0]] += test["duration_s"]
    in_tests = sum(test["duration_s"] for test in tests)
    outcomes = collections.Counter(test["outcome"] for test in tests)
    summary = {"label": options.label, "mode": options.mode, "fixed_matmul": options.fixed_matmul,
               "exit_code": proc.returncode, "wall_s": round(wall, 2), "in_tests_s": round(in_tests, 2),
               "outside_tests_s": round(wall - in_tests, 2), "tests": len(tests), "outcomes": dict(outcomes),
               "autotunings": len(autotunings), "autotuning_s": round(sum(autotunings), 2),
               "compiled_now": sum(new.values()), "compiled_by_kernel": dict(new),
               "by_part_s": {k: round(v, 2) for k, v in sorted(by_part.items(), key=lambda kv: -kv[1])},
               "by_file_s": {k: round(v, 2) for k, v in sorted(by_file.items(), key=lambda kv: -kv[1])},
               "slowest": [(t["nodeid"], round(t["duration_s"], 2)) for t in
                           sorted(tests, key=lambda t: -t["duration_s"])[:25]]}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"== {options.label}: {options.mode} run{' (fixed matmul)' if options.fixed_matmul else ''}, exit "
          f"{proc.returncode}, wall {wall:.1f} s = tests {in_tests:.1f} s + outside tests {wall - in_tests:.1f} s; "
          f"{len(tests)} tests {dict(outcomes)}; {sum(new.values())} kernels compiled now {dict(new)}")
    print("   by part: " + ", ".join(f"{k} {v:.1f}" for k, v in summary["by_part_s"].items()))
    for nodeid, seconds in summary["slowest"][:15]:
        print(f"   {seconds:7.2f} s  {re.sub(r'^tests/', '', nodeid)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
